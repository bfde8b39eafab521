"""The QEMU test suites scripts/test runs, in order.

To add a suite (e.g. the IPC conformance suite): append a Suite naming its image and the
command-line words that select it. Its tests must speak the protocol in protocol.py; results
are reported as qemu/<suite name>/<test>.
"""

from __future__ import annotations

from pathlib import Path

import blk_image
import fs_image
from harness import DEFAULT_TIMEOUT, Suite


def registered(build_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> list[Suite]:
    """Every QEMU suite, with image paths inside `build_dir`."""
    iso = build_dir / "boot" / "tessera-test.iso"

    def disk(suite: str) -> Path:
        # Every boot has a 64 MiB virtio-blk disk (PCI 00:04.0), one image per suite so suites run
        # at once never share one: build/tests/disks/<suite>.img, emptied when the suite starts.
        return build_dir / "tests" / "disks" / f"{suite}.img"

    return [
        # In-kernel self-tests (TESSERA_SELFTEST in microkernel/selftest/).
        Suite("kernel", iso, cmdline=[], timeout=timeout, exclude=r"^TIMER", disk=disk("kernel")),
        # The timer tests compare interrupt counts with the PIT: under plain TCG a host that
        # deschedules QEMU loses LAPIC ticks, so they run on deterministic virtual time.
        Suite("kernel-icount", iso, cmdline=[], timeout=max(timeout, 120.0), only=r"^TIMER",
              icount="shift=0,sleep=off", disk=disk("kernel-icount")),
        # init's own tests (TESSERA_USER_TEST in servers/init/ and the servers' tests): run in the
        # root task; an unhandled fault of it ends the run with a report (fault=exit). 160 MiB:
        # PROC0013's memory server needs 88 MiB beside the runner's image, which embeds every
        # test program.
        Suite("user", iso, cmdline=["suite=user", "fault=exit"], timeout=timeout, disk=disk("user"), mem_mib=160),
        # The conformance suite (tests/conformance/): init runs each test in a fresh process.
        # 192 MiB: the MEMORY tests' memory server manages what the runner's 32 MiB of test memory,
        # its image and heap leave, and MEMORY0013 grows a heap past 64 MiB in it.
        Suite("conformance", iso, cmdline=["suite=conformance", "fault=exit"], timeout=timeout, exclude=r"^(SCHED|FUZZ|BLK|FS)",
              disk=disk("conformance"), mem_mib=192),
        # The virtio-blk driver's tests (BLK: tests/devices/blk_tests.cc): a boot of their own with a
        # longer deadline (the whole disk is written and read back, the driver crashed and
        # restarted), and a disk of their own that tests/qemu checks from the host afterwards.
        Suite("blk", iso, cmdline=["suite=conformance", "fault=exit"], timeout=max(timeout, 300.0), only=r"^BLK\d",
              disk=disk("blk"), host_checks=(("BLK0010", blk_image.check_crash_image),)),
        # The filesystem server's tests (FS: tests/devices/fs_tests.cc): blk, fs and fscheck on a
        # disk that starts as the build's FS test disk (tests/fs/make_test_disk.py); e2fsck and
        # debugfs judge it afterwards.
        Suite("fs", iso, cmdline=["suite=conformance", "fault=exit"], timeout=max(timeout, 300.0), only=r"^FS\d",
              disk=disk("fs"), disk_template=build_dir / "tests" / "fs" / "fs-disk.img",
              host_checks=(("FS0007", fs_image.check_written), ("FS0030", fs_image.check_clean))),
        # Scheduling tests measure shares of CPU time: deterministic virtual time again.
        Suite("sched-icount", iso, cmdline=["suite=conformance", "fault=exit"], timeout=max(timeout, 180.0),
              only=r"^SCHED", icount="shift=0,sleep=off", disk=disk("sched-icount")),
        # The same IPC programs through the general path only: the fastpath must not change results.
        Suite("ipc-slowpath", iso, cmdline=["suite=conformance", "fault=exit", "fastpath=off"], timeout=timeout,
              only=r"^(IPC|NOTIFICATION|FAULT|BIND|TRACE)", disk=disk("ipc-slowpath")),
        # The kernel fuzzer (FUZZ: tests/conformance/fuzz_tests.cc), each seed in a fresh process like
        # any conformance test; a boot of its own so its run time does not eat the others' deadline.
        Suite("fuzz", iso, cmdline=["suite=conformance", "fault=exit"], timeout=max(timeout, 180.0), only=r"^FUZZ",
              disk=disk("fuzz")),
]
