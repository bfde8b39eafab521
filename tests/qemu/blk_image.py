"""Host-side checks of the virtio-blk disk image a BLK test leaves (build/tests/disks/blk.img).

BLK0010 (tests/programs/blkcheck, mode crash) ends with sectors 0..16383 (the first 8 MiB) holding
the pattern of write round 4242, every write of which was acknowledged by the driver before or
between its crashes. The pattern is blkcheck's fill_sector: a xorshift64 stream seeded by the
sector and the round, 64 words per 512-byte sector, little-endian.
"""

from __future__ import annotations

import struct
from pathlib import Path

MASK = (1 << 64) - 1
SECTOR = 512
CRASH_ROUND = 4242
CRASH_SECTORS = 16384


def sector_bytes(sector: int, round_: int) -> bytes:
    x = (((sector + 1) * 0x9E3779B97F4A7C15) & MASK) ^ (((round_ + 1) * 0xD1B54A32D192ED03) & MASK)
    words = []
    for _ in range(SECTOR // 8):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        words.append(x)
    return struct.pack("<64Q", *words)


def check_crash_image(image: Path | None) -> tuple[bool, str]:
    """Every sector of the first 8 MiB holds round 4242: (ok, reason)."""
    if image is None or not image.exists():
        return False, f"no disk image at {image}"
    data = image.read_bytes()
    if len(data) < CRASH_SECTORS * SECTOR:
        return False, f"{image} holds {len(data)} bytes, fewer than 8 MiB"
    bad = [s for s in range(CRASH_SECTORS) if data[s * SECTOR:(s + 1) * SECTOR] != sector_bytes(s, CRASH_ROUND)]
    if bad:
        return False, f"{len(bad)} of {CRASH_SECTORS} sectors differ from what was acknowledged (first: {bad[0]})"
    return True, ""
