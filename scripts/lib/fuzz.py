#!/usr/bin/env python3
"""Soaks the kernel with the in-guest fuzzer (FUZZ0001, tests/conformance/fuzz_env.cc).

One boot per seed: `suite=conformance fault=exit test=FUZZ0001 fuzz_seed=N fuzz_iterations=M`.
Prints per seed the operations and invocations done and invocations per second (guest time
from the test's start to its result line, host wall clock). A kernel panic, a hang (no result
before the deadline), a failed test (a fault of the fuzzer, an accounting difference, a leak)
fails the seed: the report shows the seed, the panic text or the failure, and the last
operations. For a panic or a hang the seed is run again with `fuzz_verbose=1` (every operation
printed before it is done) up to the same point, and the operations before the crash are shown.
Called by scripts/fuzz, which builds first.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "qemu"))

import protocol  # noqa: E402
import qemu  # noqa: E402

TEST = "FUZZ0001"
SUMMARY = re.compile(r"fuzz: seed=(\d+) operations=(\d+) invocations=(\d+)")
PROGRESS = re.compile(r"fuzz: seed=(\d+) op=(\d+) invocations=(\d+)")
OPERATION = re.compile(r"^F (\d+) ")


def boot_seed(iso: Path, log: Path, seed: int, iterations: int, timeout: float, verbose: bool) -> qemu.Boot:
    words = ["suite=conformance", "fault=exit", f"test={TEST}", f"fuzz_seed={seed}",
             f"fuzz_iterations={iterations}"] + (["fuzz_verbose=1"] if verbose else [])
    return qemu.boot(qemu.command(iso, cmdline=words), log, timeout)


def panic_text(lines: list[str]) -> list[str]:
    """The kernel's panic report: from the `KERNEL PANIC` line to `KERNEL-PANIC`."""
    for i, line in enumerate(lines):
        if line.startswith("KERNEL PANIC"):
            end = next((j for j in range(i, len(lines)) if lines[j].startswith("KERNEL-PANIC")), len(lines) - 1)
            return lines[i:end + 1]
    return []


def run_seed(iso: Path, logs: Path, seed: int, iterations: int, timeout: float, verbose: bool) -> bool:
    boot = boot_seed(iso, logs / f"seed-{seed}.log", seed, iterations, timeout, verbose)
    run = protocol.parse_run(boot.lines)
    result = next((r for r in run.results if r.name == TEST), None)
    start = next((i for i, line in enumerate(boot.lines) if line.startswith(f"# running {TEST}")), None)
    summary = next((SUMMARY.search(line) for line in boot.lines if SUMMARY.search(line)), None)
    progress = [PROGRESS.search(line) for line in boot.lines if PROGRESS.search(line)]
    if result is not None and result.ok and summary:
        seconds = boot.line_seconds[result.line] - (boot.line_seconds[start] if start is not None else 0.0)
        invocations = int(summary.group(3))
        print(f"seed {seed}: ok: {summary.group(2)} operations, {invocations} invocations in {seconds:.2f} s "
              f"({invocations / max(seconds, 1e-6):,.0f} invocations/s); log {boot.log_path}", flush=True)
        return True

    if run.kernel_panic or boot.outcome is qemu.Outcome.PANICKED:
        what = "kernel panic"
    elif boot.timed_out:
        what = f"hang: no result after {timeout:.0f} s"
    elif result is not None:
        what = "the fuzzer reported a failure"
    else:
        what = f"the boot ended without a result: {boot.describe_end()}"
    print(f"seed {seed}: FAILED ({what}); log {boot.log_path}")
    last = progress[-1] if progress else None
    if last:
        print(f"  last progress line: operation {last.group(2)}, {last.group(3)} invocations")
    report = panic_text(boot.lines)
    faults = [line for line in boot.lines if line.startswith("thread-fault")]
    if faults:
        print(f"  ({len(faults)} 'thread-fault' lines: threads the fuzzer broke on purpose, stopped by the kernel)")
    if report:
        print("  panic report:")
        for line in report:
            print(f"    {line}")
    diagnostics = (result.diagnostics if result is not None else run.pending_diagnostics)
    ring = [d for d in diagnostics if ("fuzz:" in d and not PROGRESS.search(d)) or "check failed" in d
            or "faulted" in d]
    if ring:
        print("  the fuzzer's report:")
        for line in ring:
            print(f"    {line}")
    ops = [line for line in boot.lines if OPERATION.match(line)]
    if not ops and result is None and not verbose:
        # Panics and hangs leave no report from the fuzzer: run the seed again printing every
        # operation, stopping a little after the last progress point, to show what led there.
        upto = iterations if last is None else min(iterations, int(last.group(2)) + 4096)
        print(f"  running seed {seed} again with fuzz_verbose=1 (up to operation {upto}) to show the last operations")
        again = boot_seed(iso, logs / f"seed-{seed}-verbose.log", seed, upto, timeout * 4, True)
        ops = [line for line in again.lines if OPERATION.match(line)]
        again_run = protocol.parse_run(again.lines)
        crashed = again_run.kernel_panic or again.outcome is qemu.Outcome.PANICKED or again.timed_out
        print(f"  the verbose run {'also ended in a ' + ('panic' if again_run.kernel_panic else 'hang/crash') if crashed else 'did not crash (timing differs: threads and interrupts are not deterministic)'}; log {again.log_path}")
        again_report = panic_text(again.lines)
        if again_report and not report:
            for line in again_report:
                print(f"    {line}")
        if not crashed:
            ops = []  # not what led to this crash
    if ops:
        print("  last operations (F <index> <operation> <a> <b> <c>):")
        for line in ops[-32:]:
            print(f"    {line}")
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=str(ROOT / "build"))
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds: seed .. seed+K-1 (default 1)")
    parser.add_argument("--iterations", type=int, default=35000, help="operations per seed (default 35000)")
    parser.add_argument("--timeout", type=float, help="seconds per boot (default 60 + 1 s per 2,000 operations)")
    parser.add_argument("--verbose", action="store_true", help="print every operation into the serial log")
    args = parser.parse_args()
    build = Path(args.build_dir)
    iso = build / "boot" / "tessera-test.iso"
    logs = build / "test-results" / "fuzz"
    timeout = args.timeout or 60.0 + args.iterations / 2000.0
    failed = []
    started = time.monotonic()
    for seed in range(args.seed, args.seed + args.seeds):
        if not run_seed(iso, logs, seed, args.iterations, timeout, args.verbose):
            failed.append(seed)
    total = time.monotonic() - started
    print(f"{args.seeds - len(failed)} seeds passed, {len(failed)} failed ({total:.0f} s)"
          + (f"; failing seeds: {' '.join(map(str, failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
