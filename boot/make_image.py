#!/usr/bin/env python3
"""Assembles the ISO tree in a temporary directory and runs grub-mkrescue on it.

Usage: make_image.py --grub-mkrescue PATH --output ISO --file DEST=SRC [--file DEST=SRC ...]
Boot modules are added with more --file arguments and a module2 line in grub.cfg.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grub-mkrescue", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--file", action="append", default=[], help="DEST=SRC")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-iso-") as tmp:
        root = Path(tmp)
        for spec in args.file:
            dest, _, src = spec.partition("=")
            target = root / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        # Only the BIOS platform: a smaller, faster image; QEMU boots it with SeaBIOS.
        cmd = [args.grub_mkrescue, "-o", args.output, "--compress=no",
               "--install-modules=multiboot2 normal part_msdos iso9660 biosdisk",
               "--locales=", "--fonts=", "--themes=", str(root)]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
