"""The FS tests' deterministic file contents, shared with the guest (tests/programs/fscheck:
content()): bytes of xorshift64 from a seed, little-endian 8 at a time. The host makes the test
disk with it and checks what the guest wrote with it (debugfs cat)."""


def content(seed: int, size: int) -> bytes:
    x = (seed * 0x9E3779B97F4A7C15 + 0x7E55E7A) & 0xFFFFFFFFFFFFFFFF
    if x == 0:
        x = 1
    out = bytearray()
    while len(out) < size:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        out += x.to_bytes(8, "little")
    return bytes(out[:size])


# Sizes of /sizes/sN on the test disk (seed N + 1) and of the files FS0007 writes to /written/wN
# (seed N + 1000).
DISK_SIZES = (0, 1, 4095, 4096, 4097, 65536, 1048576)
WRITTEN_SIZES = (0, 1, 1023, 1024, 4095, 4096, 4097, 300000, 1048576)
# /sparse and /written/sparse: a 4 KiB piece at 0 and another past the double-indirect limit of
# 1 KiB blocks ((12 + 256 + 65536) KiB), seeds 7 and 8 (disk), 17 and 18 (written).
SPARSE_FAR = 70 << 20
SPARSE_PIECE = 4096
