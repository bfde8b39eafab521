#!/usr/bin/env python3
"""Runs a QEMU test suite that speaks the serial test protocol (see protocol.py).

One suite = one bootable image plus command-line words; its tests are listed by booting with
test=list. All `pass` (and `fault`) tests run in one boot; every `panic` test gets a boot of its own. A boot
that ends before reporting every test (panic, hang, reset) blames the test that was running and
the rest run again in a fresh boot. Every boot has a deadline, so a hung guest fails a test
instead of hanging CI.

Standalone: tests/qemu/harness.py [--suite kernel] [--filter REGEX] [--timeout S]
(build first; the usual entry point is scripts/test).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol  # noqa: E402
import qemu  # noqa: E402
from results import Reporter, TestResult  # noqa: E402

DEFAULT_TIMEOUT = float(os.environ.get("TESSERA_QEMU_TIMEOUT", "60"))


# The longest `test=` list one boot gets: the guest's command line holds 1 KiB, of which the
# harness's other words take a little.
MAX_TEST_LIST_CHARS = 700


@dataclasses.dataclass
class Suite:
    """A QEMU test suite: results are named qemu/<name>/<test>."""

    name: str
    iso: Path
    cmdline: list[str] = dataclasses.field(default_factory=list)  # words before test=...
    mem_mib: int = qemu.DEFAULT_MEM_MIB
    timeout: float = DEFAULT_TIMEOUT  # seconds per boot
    only: str | None = None     # regex: the suite runs only the guest's tests whose names match
    exclude: str | None = None  # regex: ... and none whose names match this
    icount: str | None = None   # e.g. "shift=0,sleep=off": deterministic virtual time (slower boots)
    # The raw image attached as the virtio-blk disk (qemu.make_disk_image): emptied when the suite
    # starts, kept afterwards so a test's writes can be checked from the host. None: no disk.
    disk: Path | None = None
    # Where the disk starts from instead of zeroes: a copy of this image (e.g. the FS suite's ext2
    # disk, made by the build), taken when the suite starts.
    disk_template: Path | None = None
    # Checks of the disk image after the boot: (guest test, check(image) -> (ok, reason)), reported
    # as qemu/<suite>/<test>.image when the guest test ran.
    host_checks: tuple = ()

    def wants(self, test: str) -> bool:
        if self.only and not re.search(self.only, test):
            return False
        return not (self.exclude and re.search(self.exclude, test))

    def full_name(self, test: str) -> str:
        return f"qemu/{self.name}/{test}"


class SuiteRun:
    """Runs one suite, writing its serial logs to `log_dir` and results to `report`."""

    def __init__(self, suite: Suite, log_dir: Path, report: Reporter, name_filter: str | None = None):
        self.suite = suite
        self.log_dir = log_dir
        self.report = report
        self.filter = re.compile(name_filter) if name_filter else None

    def run(self) -> None:
        """Lists the suite's tests and runs those matching the filter; never raises on guest
        misbehaviour (every problem becomes a failed result)."""
        if not self.suite.iso.exists():
            self._fail_setup("list", f"image {self.suite.iso} does not exist (was it built?)")
            return
        if self.suite.disk_template is not None and not self.suite.disk_template.exists():
            self._fail_setup("disk", f"disk image {self.suite.disk_template} does not exist (was it built?)")
            return
        if self.suite.disk is not None:
            self._fresh_disk()
        tests = self._list()
        if tests is None:
            return
        tests = [(n, e) for n, e in tests if self.suite.wants(n)]
        selected = [(n, e) for n, e in tests if not self.filter or self.filter.search(self.suite.full_name(n))]
        self.report.note(f"qemu/{self.suite.name}: {len(selected)} of {len(tests)} tests selected")
        # `fault` tests end their own process (the conformance runner checks the fault), not the run.
        self._run_pass_tests([n for n, e in selected if e != "panic"])
        for name in (n for n, e in selected if e == "panic"):
            self._run_panic_test(name)
        for name, check in self.suite.host_checks:
            if any(n == name for n, _ in selected):
                ok, reason = check(self.suite.disk)
                self.report.add(TestResult(self.suite.full_name(f"{name}.image"), ok, 0.0, reason, [], None))

    def list_tests(self) -> None:
        """Prints `qemu/<suite>/<test>  <expect>  <description>` for each selected test."""
        if not self.suite.iso.exists():
            self._fail_setup("list", f"image {self.suite.iso} does not exist (was it built?)")
            return
        if self.suite.disk is not None and not self.suite.disk.exists():
            self._fresh_disk()
        boot = self._boot("list", ["test=list"])
        for line in boot.lines:
            match = re.match(r"^TEST (\S+) (\S+)(?:\s+(.*))?$", line)
            if not match or not self.suite.wants(match.group(1)):
                continue
            full = self.suite.full_name(match.group(1))
            if self.filter and not self.filter.search(full):
                continue
            print(f"{full:<40} {match.group(2):<6} {match.group(3) or ''}")

    def _fresh_disk(self) -> None:
        if self.suite.disk_template is None:
            qemu.make_disk_image(self.suite.disk)
            return
        self.suite.disk.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.suite.disk_template, self.suite.disk)

    # -- boots -----------------------------------------------------------------------------

    def _boot(self, log_name: str, words: list[str]) -> qemu.Boot:
        # The monitor's socket (for the guest's HARNESS-SENDKEY requests) in a short private path.
        with tempfile.TemporaryDirectory(prefix="tessera-") as private:
            monitor = Path(private) / "monitor"
            argv = qemu.command(self.suite.iso, mem_mib=self.suite.mem_mib, cmdline=self.suite.cmdline + words,
                                icount=self.suite.icount, disk=self.suite.disk, monitor=monitor)
            return qemu.boot(argv, self.log_dir / f"{log_name}.log", self.suite.timeout, monitor=monitor)

    def _list(self) -> list[tuple[str, str]] | None:
        boot = self._boot("list", ["test=list"])
        listing = protocol.parse_listing(boot.lines)
        problem = listing.error
        if problem is None and boot.outcome is not qemu.Outcome.PASSED:
            problem = f"listing ended but {boot.describe_end()}"
        if problem is not None:
            self._fail_setup("list", f"cannot list tests: {problem}; {boot.describe_end()}", boot)
            return None
        return listing.tests

    def _run_pass_tests(self, names: list[str]) -> None:
        """Runs the pass tests in as few boots as the kernel command line allows: the guest keeps
        1 KiB of command line, so the `test=` lists are cut into batches that fit."""
        self._attempt = 0
        batch: list[str] = []
        for name in names:
            if batch and len(",".join(batch + [name])) > MAX_TEST_LIST_CHARS:
                self._run_pass_batch(batch)
                batch = []
            batch.append(name)
        if batch:
            self._run_pass_batch(batch)

    def _run_pass_batch(self, names: list[str]) -> None:
        remaining = list(names)
        while remaining:
            self._attempt += 1
            attempt = self._attempt
            boot = self._boot(f"pass-{attempt}", ["test=" + ",".join(remaining)])
            run = protocol.parse_run(boot.lines)
            started = boot.banner_seconds or 0.0
            for result in run.results:
                finished = boot.line_seconds[result.line]
                seconds, started = max(0.0, finished - started), finished
                if result.name not in remaining:
                    continue  # unknown or repeated: the per-test accounting below catches gaps
                remaining.remove(result.name)
                self._add(result.name, result.ok, seconds,
                          "" if result.ok else "the test reported failure", result.diagnostics, boot)
            if not remaining:
                self._check_clean_end(boot, run, attempt)
                return
            if run.done is not None and boot.outcome in (qemu.Outcome.PASSED, qemu.Outcome.FAILED):
                for name in remaining:
                    self._add(name, False, 0.0, "the kernel finished the run without reporting this test",
                              [], boot)
                return
            blamed = remaining.pop(0)
            why = ("the kernel panicked while this test was running" if run.kernel_panic
                   or boot.outcome is qemu.Outcome.PANICKED else f"the boot ended: {boot.describe_end()}")
            self._add(blamed, False, max(0.0, boot.seconds - started), why,
                      run.pending_diagnostics + ["--- serial log tail ---"] + boot.tail(), boot)
            if not run.banner:
                for name in remaining:
                    self._add(name, False, 0.0, "not run: the kernel did not boot (no banner)", [], boot)
                return

    def _check_clean_end(self, boot: qemu.Boot, run: protocol.Run, attempt: int) -> None:
        """After all results are in, the boot must end as the protocol says, or it is a failure."""
        expected = qemu.Outcome.PASSED if run.done and run.done[1] == 0 else qemu.Outcome.FAILED
        problem = None
        if run.done is None:
            problem = "no TESTS-DONE line after the results"
        elif boot.outcome is not expected:
            problem = f"expected the guest to exit '{expected.value}' but {boot.describe_end()}"
        if problem:
            self._fail_setup(f"pass-{attempt}", problem, boot)

    def _run_panic_test(self, name: str) -> None:
        boot = self._boot(f"panic-{name}", [f"test={name}"])
        run = protocol.parse_run(boot.lines)
        expected_text = run.expect_panic
        report = "\n".join(run.panic_report)
        if any(r.name == name for r in run.results):
            why = "the test returned instead of panicking"
        elif expected_text is None:
            why = f"no EXPECT-PANIC line before the boot ended; {boot.describe_end()}"
        elif not run.kernel_panic:
            why = f"no KERNEL-PANIC report after EXPECT-PANIC; {boot.describe_end()}"
        elif boot.outcome is not qemu.Outcome.PANICKED:
            why = f"expected the panic exit status (5) but {boot.describe_end()}"
        elif expected_text not in report:
            why = f"the panic report does not contain {expected_text!r}"
        else:
            self._add(name, True, boot.seconds, "", [], boot)
            return
        self._add(name, False, boot.seconds, why, run.pending_diagnostics + ["--- serial log tail ---"]
                  + boot.tail(), boot)

    # -- reporting ---------------------------------------------------------------------------

    def _add(self, test: str, ok: bool, seconds: float, reason: str, details: list[str],
             boot: qemu.Boot) -> None:
        self.report.add(TestResult(self.suite.full_name(test), ok, seconds, reason, details,
                                   str(boot.log_path)))

    def _fail_setup(self, step: str, reason: str, boot: qemu.Boot | None = None) -> None:
        """A failure that belongs to no single test, reported as qemu/<suite>/(<step>)."""
        details = ["--- serial log tail ---"] + boot.tail() if boot else []
        self.report.add(TestResult(self.suite.full_name(f"({step})"), False, boot.seconds if boot else 0.0,
                                   reason, details, str(boot.log_path) if boot else None))


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import suites

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=str(Path(__file__).resolve().parents[2] / "build"))
    parser.add_argument("--suite", action="append", help="suite to run (default: all)")
    parser.add_argument("--filter", help="regex searched in qemu/<suite>/<test>")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per boot")
    parser.add_argument("--log-dir", help="serial logs (default: <build>/test-results/qemu)")
    parser.add_argument("--list", action="store_true", help="list the selected tests instead of running them")
    args = parser.parse_args()
    build = Path(args.build_dir)
    log_root = Path(args.log_dir) if args.log_dir else build / "test-results" / "qemu"
    report = Reporter()
    for suite in suites.registered(build, timeout=args.timeout):
        if args.suite and suite.name not in args.suite:
            continue
        run = SuiteRun(suite, log_root / suite.name, report, args.filter)
        if args.list:
            run.list_tests()
            continue
        run.run()
    if args.list:
        return 0 if report.failed == 0 else 1
    print(report.summary())
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
