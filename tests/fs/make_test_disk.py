#!/usr/bin/env python3
"""Makes the FS suite's disk (docs/fs.md, tests/devices/fs_tests.cc): 64 MiB holding

  sector 0       the main ext2 file system (1 KiB blocks, 48 MiB, 2048 inodes) made by mke2fs -d
                 from a generated tree: files of known contents (fsdata.content), a 100-entry
                 directory, fast and slow symlinks, a symlink loop, hard links, a sparse file with
                 data past the double-indirect limit, and an empty /written for the guest's writes;
  48 MiB + 2k MiB (k = 0..4)  small ext2 file systems (2 MiB each) damaged on purpose, which the
                 fs server mounts with arg=at=SECTOR in the corruption tests:
                   0 bad-super    s_log_block_size 20 (a 1 GiB block)
                   1 bad-dirent   /d's first directory block: an entry's rec_len runs past the block
                   2 dotdot-loop  /a/b's '..' names /a/b/c: walking up never reaches the root
                   3 bad-indirect /f's indirect block number past the end of the volume; /g's
                                  double-indirect block points at itself
                   4 bad-groups   group 0's inode table starts past the end of the volume
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fsdata  # noqa: E402

MIB = 1 << 20
MAIN_MIB = 48
DAMAGED_MIB = 2
DAMAGED = ("bad-super", "bad-dirent", "dotdot-loop", "bad-indirect", "bad-groups")
ENV = dict(os.environ, E2FSPROGS_FAKE_TIME="1764374400")
TOOLS = {"mke2fs": "mke2fs", "debugfs": "debugfs"}


def run(*command: str) -> str:
    command = (TOOLS.get(command[0], command[0]),) + command[1:]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def make_tree(root: Path) -> None:
    (root / "README").write_text("Tessera FS test disk: made by tests/fs/make_test_disk.py\n")
    sizes = root / "sizes"
    sizes.mkdir()
    for n in fsdata.DISK_SIZES:
        (sizes / f"s{n}").write_bytes(fsdata.content(n + 1, n))
    hundred = root / "dir100"
    hundred.mkdir()
    for i in range(100):
        (hundred / f"entry-{i:03d}").write_text(f"{i}\n")
    deep = root / "deep" / ("a" * 30) / ("b" * 30) / ("c" * 30)
    deep.mkdir(parents=True)
    (deep / "target").write_text("reached through a slow symlink\n")
    links = root / "links"
    links.mkdir()
    os.symlink("../README", links / "fast")
    slow_target = "/deep/" + "a" * 30 + "/" + "b" * 30 + "/" + "c" * 30 + "/target"
    assert len(slow_target) > 60
    os.symlink(slow_target, links / "slow")
    os.symlink("loop-b", links / "loop-a")
    os.symlink("loop-a", links / "loop-b")
    (links / "hard1").write_text("one file, two names\n")
    os.link(links / "hard1", links / "hard2")
    with open(root / "sparse", "wb") as f:
        f.write(fsdata.content(7, fsdata.SPARSE_PIECE))
        f.seek(fsdata.SPARSE_FAR)
        f.write(fsdata.content(8, fsdata.SPARSE_PIECE))
    (root / "written").mkdir()
    (root / "scratch").mkdir()


def mke2fs(image: Path, folder: Path, mib: int, inodes: int, block: int = 1024) -> None:
    with open(image, "wb") as f:
        f.truncate(mib * MIB)
    run("mke2fs", "-q", "-F", "-t", "ext2", "-b", str(block), "-N", str(inodes),
        "-U", "7e55e7a0-0000-4000-8000-000000000003", "-E", "hash_seed=7e55e7a0-0000-4000-8000-000000000004,root_owner=0:0",
        "-d", str(folder), str(image))


def debugfs_write(image: Path, *requests: str) -> None:
    for request in requests:
        run("debugfs", "-w", "-R", request, str(image))


def block_of(image: Path, path: str, logical: int = 0) -> int:
    return int(run("debugfs", "-R", f"bmap {path} {logical}", str(image)).split()[-1])


def inode_of(image: Path, path: str) -> int:
    return int(run("debugfs", "-R", f"stat {path}", str(image)).split("Inode:")[1].split()[0])


def patch(image: Path, offset: int, data: bytes) -> None:
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)


def make_damaged(kind: str, image: Path, work: Path) -> None:
    tree = work / f"tree-{kind}"
    tree.mkdir()
    (tree / "hello").write_text("hello\n")
    if kind == "bad-dirent":
        (tree / "d").mkdir()
        for i in range(5):
            (tree / "d" / f"f{i}").write_text(f"{i}\n")
    if kind == "dotdot-loop":
        (tree / "a" / "b" / "c").mkdir(parents=True)
        (tree / "z").mkdir()
    if kind == "bad-indirect":
        (tree / "f").write_bytes(fsdata.content(1, 20 * 1024))     # 12 direct blocks + indirect
        (tree / "g").write_bytes(fsdata.content(2, 300 * 1024))    # reaches the double-indirect block
    mke2fs(image, tree, DAMAGED_MIB, 64)
    if kind == "bad-super":
        patch(image, 1024 + 24, struct.pack("<I", 20))             # s_log_block_size
    elif kind == "bad-dirent":
        block = block_of(image, "/d")
        # The entry after "." and "..": ".": 12 bytes, "..": 12 bytes; the third's rec_len at 24+4.
        patch(image, block * 1024 + 24 + 4, struct.pack("<H", 2000))
    elif kind == "dotdot-loop":
        c = inode_of(image, "/a/b/c")
        block = block_of(image, "/a/b")
        # '..' is the second entry of /a/b's first block: inode at byte 12.
        patch(image, block * 1024 + 12, struct.pack("<I", c))
    elif kind == "bad-indirect":
        debugfs_write(image, "set_inode_field /f block[IND] 999999")
        g_dind = block_of(image, "/g", 12 + 256)  # a data block under the double-indirect one
        dind = int(run("debugfs", "-R", "stat /g", str(image)).split("(DIND):")[1].split()[0].rstrip(","))
        patch(image, dind * 1024, struct.pack("<I", dind))          # its first entry: itself
        del g_dind
    elif kind == "bad-groups":
        # Group descriptor 0 (block 2 with 1 KiB blocks): bg_inode_table at byte 8.
        patch(image, 2 * 1024 + 8, struct.pack("<I", 5_000_000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--mke2fs", default=shutil.which("mke2fs") or "/usr/sbin/mke2fs")
    parser.add_argument("--debugfs", default=shutil.which("debugfs") or "/usr/sbin/debugfs")
    args = parser.parse_args()
    TOOLS["mke2fs"] = args.mke2fs
    TOOLS["debugfs"] = args.debugfs
    with tempfile.TemporaryDirectory(prefix="tessera-fsdisk-") as temp:
        work = Path(temp)
        tree = work / "tree"
        tree.mkdir()
        make_tree(tree)
        main_image = work / "main.img"
        mke2fs(main_image, tree, MAIN_MIB, 2048)
        out = work / "disk.img"
        with open(out, "wb") as disk:
            disk.truncate(args.size_mib * MIB)
        with open(out, "r+b") as disk, open(main_image, "rb") as src:
            shutil.copyfileobj(src, disk)
            for k, kind in enumerate(DAMAGED):
                damaged = work / f"{kind}.img"
                make_damaged(kind, damaged, work)
                disk.seek((MAIN_MIB + k * DAMAGED_MIB) * MIB)
                disk.write(damaged.read_bytes())
        shutil.move(str(out), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
