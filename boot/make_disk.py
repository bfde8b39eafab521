#!/usr/bin/env python3
"""Makes an ext2 image from a folder with e2fsprogs' mke2fs -d (docs/fs.md).

The image is reproducible: fixed UUID and hash seed, and E2FSPROGS_FAKE_TIME for the time
stamps mke2fs writes itself (the files keep their own modification times).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mke2fs", required=True)
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=4096, choices=(1024, 2048, 4096))
    parser.add_argument("--label", default="tessera")
    args = parser.parse_args()
    out = args.output
    partial = out.with_suffix(out.suffix + ".partial")
    partial.unlink(missing_ok=True)
    with open(partial, "wb") as image:
        image.truncate(args.size_mib << 20)
    env = dict(os.environ, E2FSPROGS_FAKE_TIME="1764374400")  # 2025-11-29
    command = [args.mke2fs, "-q", "-F", "-t", "ext2", "-b", str(args.block_size), "-L", args.label,
               "-U", "7e55e7a0-0000-4000-8000-000000000001", "-E", "hash_seed=7e55e7a0-0000-4000-8000-000000000002,root_owner=0:0",
               "-d", str(args.folder), str(partial)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(f"make_disk: {' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        partial.unlink(missing_ok=True)
        return 1
    partial.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
