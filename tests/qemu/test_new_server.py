#!/usr/bin/env python3
"""scripts/new-server works as documented: on a copy of the source tree it creates a server that
builds without edits, starts at boot from the system description, and whose generated test passes
in QEMU. (docs/writing-a-server.md walks a user through the same steps.)

Usage: test_new_server.py SOURCE_DIR   (takes a few minutes: it configures and builds the copy)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NAME = "probe"


def run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    print("$", " ".join(argv), flush=True)
    result = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=timeout)
    tail = result.stdout.splitlines()[-15:]
    print("\n".join(tail), flush=True)
    return result


def main() -> int:
    source = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="tessera-new-server-") as tmp:
        tree = Path(tmp) / "tree"
        ignore = shutil.ignore_patterns("build", "build-*", ".git", "__pycache__")
        shutil.copytree(source, tree, ignore=ignore, symlinks=True)
        steps = [
            ([sys.executable, "scripts/new-server", NAME], 60),
            (["meson", "setup", "build", "-Dhost_tests=false", "--cross-file", "scripts/cross/x86_64-tessera.ini",
              "--native-file", "scripts/cross/native.ini"], 300),
            (["ninja", "-C", "build", "boot/tessera.iso"], 1200),
            ([sys.executable, "tests/qemu/harness.py", "--build-dir", "build", "--suite", "user", "--filter",
              f"{NAME.upper()}0001"], 300),
        ]
        for argv, timeout in steps:
            result = run(argv, tree, timeout)
            if result.returncode != 0:
                print(f"new-server check: `{' '.join(argv)}` failed (exit {result.returncode})")
                return 1
        # The generated server is in the image and in the system description.
        conf = (tree / "boot" / "system.conf").read_text()
        if f"program {NAME}" not in conf:
            print("new-server check: boot/system.conf has no program line for the new server")
            return 1
        if f"ok 1 - qemu/user/{NAME.upper()}0001" not in result.stdout:
            print("new-server check: the generated test did not pass")
            return 1
    print("new-server check: the generated server builds and its test passes without edits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
