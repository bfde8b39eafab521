#!/usr/bin/env python3
"""Copies the generated freestanding ABI headers from the build tree to abi/golden/.

Usage (via Meson): ninja -C build abi-update-goldens

Refuses when a schema changed incompatibly with its golden (check_compat.py: a renumbered,
retyped or removed member, a changed id or layout) unless TESSERA_ABI_ALLOW_BREAKING=1.
"""
import os
import shutil
import sys
from pathlib import Path

import check_compat


def main() -> int:
    generated, golden, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    golden.mkdir(exist_ok=True)
    if check_compat.main(["--quiet", str(golden), str(generated)] + names) != 0:
        if os.environ.get("TESSERA_ABI_ALLOW_BREAKING") != "1":
            print("abi-update-goldens: goldens left unchanged (breaking changes above)", file=sys.stderr)
            return 1
        print("abi-update-goldens: TESSERA_ABI_ALLOW_BREAKING=1: recording the breaking changes", file=sys.stderr)
    for name in names:
        shutil.copyfile(generated / f"{name}.capnp.h", golden / f"{name}.capnp.h")
        print(f"abi/golden/{name}.capnp.h updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
