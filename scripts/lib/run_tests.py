#!/usr/bin/env python3
"""Runs every test tier of an already built tree and reports them as one numbered TAP stream.

Tiers: host tests (`meson test`, every suite) as host/<suite>/<test>, then every QEMU suite in
tests/qemu/suites.py as qemu/<suite>/<test>. Writes results.tap, junit.xml and the logs to the
results directory; the last line printed is exactly `N passed, N failed`. Called by scripts/test,
which configures and builds first.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "qemu"))

import harness  # noqa: E402
import shell_suite  # noqa: E402
import suites  # noqa: E402
from results import Reporter, TestResult, write_junit, write_tap  # noqa: E402

PASSING_MESON_RESULTS = {"OK", "EXPECTEDFAIL", "SKIP"}
LOG_TAIL_LINES = 60


def host_test_name(test: dict) -> str:
    """host/<first suite>/<name> for one entry of `meson introspect --tests`."""
    suite = (test.get("suite") or ["default"])[0].split(":")[-1]
    return f"host/{suite}/{test['name']}"


def results_from_meson_log(selected: list[dict], records: list[dict], log_path: Path) -> list[TestResult]:
    """Pairs `meson test` JSON log records with the selected tests, in selection order.

    meson names a record `name` or `project:suite / name`; a selected test without a record
    (meson crashed or skipped it) is a failure, so nothing goes missing silently.
    """
    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record.get("name", "").split(" / ")[-1], []).append(record)
    results = []
    for test in selected:
        name = host_test_name(test)
        candidates = by_name.get(test["name"], [])
        if not candidates:
            results.append(TestResult(name, False, 0.0, "meson test produced no result for this test",
                                      [], str(log_path)))
            continue
        record = candidates.pop(0)
        verdict = str(record.get("result", "ERROR"))
        ok = verdict in PASSING_MESON_RESULTS
        output = (record.get("stdout") or "") + (record.get("stderr") or "")
        details = [] if ok else ["--- test output (tail) ---"] + output.rstrip().splitlines()[-LOG_TAIL_LINES:]
        reason = "" if ok else f"meson test: {verdict} (exit status {record.get('returncode')})"
        results.append(TestResult(name, ok, float(record.get("duration") or 0.0), reason, details,
                                  str(log_path)))
    return results


def run_host_tests(build: Path, out_dir: Path, name_filter: re.Pattern | None, report: Reporter) -> None:
    """Runs the selected meson tests (all suites) and reports one result per test."""
    listing = subprocess.run(["meson", "introspect", str(build), "--tests"], capture_output=True, text=True)
    if listing.returncode != 0:
        report.add(TestResult("host/(list)", False, 0.0, "meson introspect --tests failed",
                              listing.stderr.strip().splitlines()[-LOG_TAIL_LINES:]))
        return
    tests = json.loads(listing.stdout)
    selected = [t for t in tests if not name_filter or name_filter.search(host_test_name(t))]
    report.note(f"host: {len(selected)} of {len(tests)} tests selected")
    if not selected:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    console_log = out_dir / "meson-test.log"
    json_log = build / "meson-logs" / "tessera-test.json"
    json_log.unlink(missing_ok=True)
    names = [] if len(selected) == len(tests) else sorted({t["name"] for t in selected})
    with open(console_log, "w", encoding="utf-8") as console:
        subprocess.run(["meson", "test", "-C", str(build), "--no-rebuild", "--print-errorlogs",
                        "--logbase", "tessera-test", *names],
                       stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    records = []
    if json_log.exists():
        shutil.copy(json_log, out_dir / "meson-test.json")
        for line in json_log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    for result in results_from_meson_log(selected, records, console_log):
        report.add(result)


def report_setup_failure(step: str, log: Path | None, report: Reporter) -> None:
    """Reports that configuring or building failed, with the relevant part of its log."""
    tail = []
    if log and log.exists():
        lines = log.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
        # ninja's first "FAILED:" is the root cause; later lines are often consequences.
        first_failure = next((i for i, line in enumerate(lines) if line.startswith("FAILED:")), None)
        tail = lines[first_failure:first_failure + LOG_TAIL_LINES] if first_failure is not None \
            else lines[-LOG_TAIL_LINES:]
    report.add(TestResult(f"setup/{step}", False, 0.0, f"{step} failed: no tests were run", tail,
                          str(log) if log else None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run Tessera's host and QEMU tests")
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--results-dir", help="default: <build>/test-results")
    parser.add_argument("--filter", help="regex searched in each full test name (host/..., qemu/...)")
    parser.add_argument("--timeout", type=float, default=harness.DEFAULT_TIMEOUT,
                        help="seconds per QEMU boot before the guest counts as hung")
    parser.add_argument("--no-host", action="store_true", help="skip the meson (host) tests")
    parser.add_argument("--no-qemu", action="store_true", help="skip the QEMU suites")
    parser.add_argument("--no-shell", action="store_true",
                        help="skip the shell suite (qemu/shell: it needs the real system image and QEMU)")
    parser.add_argument("--setup-failed", metavar="STEP", help="only report that STEP failed (used by scripts/test)")
    parser.add_argument("--setup-log", help="log of the failed setup step")
    args = parser.parse_args(argv)

    build = Path(args.build_dir).resolve()
    results_dir = Path(args.results_dir).resolve() if args.results_dir else build / "test-results"
    for stale in ("host", "qemu", "results.tap", "junit.xml"):
        path = results_dir / stale
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    try:
        name_filter = re.compile(args.filter) if args.filter else None
    except re.error as error:
        print(f"--filter: invalid regular expression: {error}", file=sys.stderr)
        return 2

    report = Reporter()
    if args.setup_failed:
        report_setup_failure(args.setup_failed, Path(args.setup_log) if args.setup_log else None, report)
    else:
        if not args.no_host:
            run_host_tests(build, results_dir / "host", name_filter, report)
        if not args.no_qemu:
            for suite in suites.registered(build, timeout=args.timeout):
                harness.SuiteRun(suite, results_dir / "qemu" / suite.name, report, args.filter).run()
            # The SHELL tests: the real system image, typed into like a user (tests/qemu/shell_suite.py).
            if not args.no_shell:
                shell_suite.run(build, results_dir / "qemu" / "shell", report, name_filter)

    write_tap(report.results, results_dir / "results.tap")
    write_junit(report.results, results_dir / "junit.xml")
    report.note(f"results: {results_dir}/results.tap, junit.xml; logs in {results_dir}")
    print(report.summary(), flush=True)
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
