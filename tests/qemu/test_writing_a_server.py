#!/usr/bin/env python3
"""docs/writing-a-server.md works verbatim: on a copy of the source tree, runs the commands of its
"From nothing to a running server" block exactly as written — scripts/configure, scripts/new-server
greeter, the goldens, the image build, the new server's generated test (it spawns the server and
calls it through the generated client) and scripts/run — and checks that the new server builds
without edits, its test passes, and the booted system starts it and it serves.

Usage: test_writing_a_server.py SOURCE_DIR   (takes a few minutes: it configures and builds the copy)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOC = Path("docs") / "writing-a-server.md"
SECTION = "## From nothing to a running server"
BOOT_SECONDS = 120  # scripts/run is interactive: the check ends it once the lines are there


def doc_commands(doc: str) -> list[str]:
    """The shell commands of the first ```sh block after SECTION, comments removed."""
    section = doc.split(SECTION, 1)
    if len(section) != 2:
        raise ValueError(f"{DOC} has no section {SECTION!r}")
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    if not block:
        raise ValueError(f"{DOC}: no ```sh block in {SECTION!r}")
    commands = []
    for line in block.group(1).splitlines():
        command = line.split("#", 1)[0].strip()
        if command:
            commands.append(command)
    return commands


def run(command: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    print("$", command, flush=True)
    result = subprocess.run(shlex.split(command), cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    print("\n".join(result.stdout.splitlines()[-15:]), flush=True)
    return result


def boot_until(command: str, cwd: Path, env: dict[str, str], wanted: list[str]) -> list[str]:
    """Runs the interactive boot command until every `wanted` text has appeared on its output
    (or BOOT_SECONDS pass), then ends it; returns the texts that never appeared."""
    print("$", command, flush=True)
    process = subprocess.Popen(shlex.split(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    missing = list(wanted)
    deadline = time.monotonic() + BOOT_SECONDS
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    output = ""
    while missing and time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = None
        if chunk == b"":
            break  # it ended
        if chunk:
            output += chunk.decode(errors="replace")
            missing = [text for text in missing if text not in output]
        else:
            time.sleep(0.2)
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
    print("\n".join(output.splitlines()[-20:]), flush=True)
    return missing


def main() -> int:
    source = Path(sys.argv[1]).resolve()
    commands = doc_commands((source / DOC).read_text())
    new_server = [shlex.split(c) for c in commands if c.startswith("scripts/new-server ")]
    if len(new_server) != 1 or len(new_server[0]) != 2:
        print(f"writing-a-server check: {DOC} must run scripts/new-server NAME exactly once")
        return 1
    name = new_server[0][1]
    # The user's shell, not this test run's: no build-directory or job overrides.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    with tempfile.TemporaryDirectory(prefix="tessera-new-server-") as tmp:
        tree = Path(tmp) / "tree"
        ignore = shutil.ignore_patterns("build", "build-*", ".git", "__pycache__")
        shutil.copytree(source, tree, ignore=ignore, symlinks=True)
        for command in commands:
            if command.startswith("scripts/run"):
                missing = boot_until(command, tree, env, [f"init: started {name}", f"{name}: serving"])
                if missing:
                    print(f"writing-a-server check: the booted system never printed {missing}")
                    return 1
                continue
            result = run(command, tree, env, 1500)
            if result.returncode != 0:
                print(f"writing-a-server check: `{command}` failed (exit {result.returncode})")
                return 1
            if "harness.py" in command and f"ok 1 - qemu/user/{name.upper()}0001" not in result.stdout:
                print("writing-a-server check: the generated test did not pass")
                return 1
        conf = (tree / "boot" / "system.conf").read_text()
        if f"program {name}" not in conf:
            print("writing-a-server check: boot/system.conf has no program line for the new server")
            return 1
        if not any("harness.py" in c for c in commands) or not any(c.startswith("scripts/run") for c in commands):
            print(f"writing-a-server check: {DOC} no longer runs the server's test and boots the system")
            return 1
    print(f"writing-a-server check: following {DOC} verbatim, {name} builds, its test passes and it serves at boot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
