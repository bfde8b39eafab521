#!/usr/bin/env python3
"""The conformance suite's negative self-test, on the real image: booted with selftest=negative,
META0001 fails a check and META0002's process crashes, on purpose; each must be reported by name
with its diagnostics and log, and the tests after them must run (each in a fresh process) and pass
in the same boot.

Usage: test_negative.py BUILD_DIR   (exit status 0 when the harness behaved)
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
from results import Reporter  # noqa: E402


def main() -> int:
    build = Path(sys.argv[1])
    iso = build / "boot" / "tessera-test.iso"
    suite = harness.Suite("negative", iso, cmdline=["suite=conformance", "fault=exit", "selftest=negative"],
                          only=r"^(META0001|META0002|SYSCALL0001|SYSCALL0002|ISOLATION0001)$")
    out = io.StringIO()
    report = Reporter(out)
    with tempfile.TemporaryDirectory(prefix="tessera-negative-") as logs:
        harness.SuiteRun(suite, Path(logs), report, None).run()
        results = {r.name: r for r in report.results}
        problems = []
        meta = results.get("qemu/negative/META0001")
        if meta is None or meta.ok:
            problems.append("META0001 was not reported as failed")
        elif not any("deliberate failure" in line for line in meta.details) or not meta.log_path:
            problems.append("META0001's failure carries no diagnostics or log")
        crash = results.get("qemu/negative/META0002")
        if crash is None or crash.ok:
            problems.append("META0002 (its process faults) was not reported as failed")
        elif not any("page fault at 0x8 " in line for line in crash.details):
            problems.append("META0002's failure does not describe the fault")
        for name in ("SYSCALL0001", "SYSCALL0002", "ISOLATION0001"):
            r = results.get(f"qemu/negative/{name}")
            if r is None or not r.ok:
                problems.append(f"{name} did not run and pass after the failure")
    sys.stdout.write(out.getvalue())
    for p in problems:
        print(f"negative self-test: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
