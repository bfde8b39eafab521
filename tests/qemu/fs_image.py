"""Host-side checks of the disk the FS suite leaves (build/tests/disks/fs.img, docs/fs.md): the
judges are e2fsprogs. e2fsck -fn must find nothing to fix in the main file system (at sector 0),
and debugfs must read back exactly what the guest wrote (contents from fsdata.content)."""
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fs"))
import fsdata  # noqa: E402


def tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def e2fsck_clean(image: Path) -> tuple[bool, str]:
    result = subprocess.run([tool("e2fsck"), "-fn", str(image)], capture_output=True, text=True)
    if result.returncode != 0:
        return False, f"e2fsck -fn exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    return True, ""


def debugfs_cat(image: Path, path: str) -> bytes | None:
    result = subprocess.run([tool("debugfs"), "-R", f"cat {path}", str(image)], capture_output=True)
    if result.returncode != 0:
        return None
    return result.stdout


def check_clean(image: Path | None) -> tuple[bool, str]:
    """e2fsck -fn reports no problem."""
    if image is None or not image.exists():
        return False, f"no disk image at {image}"
    return e2fsck_clean(image)


def check_written(image: Path | None) -> tuple[bool, str]:
    """e2fsck is clean and every /written/wN holds fsdata.content(N + 1000, N); /written/sparse
    holds its two pieces and zeros between."""
    ok, reason = check_clean(image)
    if not ok:
        return ok, reason
    for n in fsdata.WRITTEN_SIZES:
        got = debugfs_cat(image, f"/written/w{n}")
        if got is None:
            return False, f"debugfs cannot read /written/w{n}"
        if got != fsdata.content(n + 1000, n):
            return False, f"/written/w{n}: {len(got)} bytes that differ from what the guest wrote ({n})"
    got = debugfs_cat(image, "/written/sparse")
    want_size = fsdata.SPARSE_FAR + fsdata.SPARSE_PIECE
    if got is None or len(got) != want_size:
        return False, f"/written/sparse: {None if got is None else len(got)} bytes, expected {want_size}"
    if got[:fsdata.SPARSE_PIECE] != fsdata.content(17, fsdata.SPARSE_PIECE):
        return False, "/written/sparse: the first piece differs"
    if got[fsdata.SPARSE_FAR:] != fsdata.content(18, fsdata.SPARSE_PIECE):
        return False, "/written/sparse: the far piece differs"
    if got[fsdata.SPARSE_PIECE:fsdata.SPARSE_FAR].count(0) != fsdata.SPARSE_FAR - fsdata.SPARSE_PIECE:
        return False, "/written/sparse: the hole is not zeros"
    return True, ""
