#!/usr/bin/env python3
"""Copies the generated freestanding ABI headers from the build tree to abi/golden/.

Usage (via Meson): ninja -C build abi-update-goldens
"""
import shutil
import sys
from pathlib import Path


def main() -> int:
    generated, golden, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    golden.mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(generated / f"{name}.capnp.h", golden / f"{name}.capnp.h")
        print(f"abi/golden/{name}.capnp.h updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
