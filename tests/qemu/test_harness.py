#!/usr/bin/env python3
"""Tests of the QEMU harness, the serial protocol parser and the reports, against fake_qemu.py.

Run: python3 tests/qemu/test_harness.py (also registered with meson as host/tools/qemu-harness).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts" / "lib"))

import harness  # noqa: E402
import protocol  # noqa: E402
import qemu  # noqa: E402
import run_tests  # noqa: E402
import suites  # noqa: E402
from results import Reporter, TestResult, write_junit, write_tap  # noqa: E402

FAKE = f"{sys.executable} {HERE / 'fake_qemu.py'}"


class FakeKernel:
    """A temporary build tree whose 'QEMU' is fake_qemu.py playing the given tests."""

    def __init__(self, tests: list[dict], boots: bool = True):
        self.dir = tempfile.TemporaryDirectory()
        self.root = Path(self.dir.name)
        (self.root / "boot").mkdir()
        (self.root / "boot" / "tessera.iso").write_bytes(b"")
        (self.root / "boot" / "tessera-test.iso").write_bytes(b"")
        self.spec = self.root / "spec.json"
        self.spec.write_text(json.dumps({"boots": boots, "tests": tests, "banner_tsc": 4242}))
        self.saved = {k: os.environ.get(k) for k in ("TESSERA_QEMU", "FAKE_KERNEL")}
        os.environ["TESSERA_QEMU"] = FAKE
        os.environ["FAKE_KERNEL"] = str(self.spec)

    def run(self, name_filter: str | None = None, timeout: float = 20.0) -> list[TestResult]:
        report = Reporter(out=io.StringIO())
        suite = harness.Suite("kernel", self.root / "boot" / "tessera.iso", timeout=timeout)
        harness.SuiteRun(suite, self.root / "logs", report, name_filter).run()
        return report.results

    def close(self) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.dir.cleanup()


def test(name: str, does: str = "pass", expect: str = "pass") -> dict:
    return {"name": name, "expect": expect, "does": does}


def verdicts(results: list[TestResult]) -> dict[str, bool]:
    return {r.name: r.ok for r in results}


class HarnessTest(unittest.TestCase):
    def kernel(self, tests: list[dict], boots: bool = True) -> FakeKernel:
        fake = FakeKernel(tests, boots)
        self.addCleanup(fake.close)
        return fake

    def test_pass_tests_share_one_boot_and_failures_carry_diagnostics(self):
        fake = self.kernel([test("a"), test("b", "fail"), test("c")])
        results = fake.run()
        self.assertEqual(verdicts(results), {"qemu/kernel/a": True, "qemu/kernel/b": False, "qemu/kernel/c": True})
        self.assertIn("expected 1, got 2 in b", results[1].details)
        self.assertEqual(sorted(p.name for p in (fake.root / "logs").iterdir()), ["list.log", "pass-1.log"])

    def test_commas_in_the_test_list_survive_fw_cfg_escaping(self):
        fake = self.kernel([test("a"), test("b"), test("c")])
        self.assertTrue(all(r.ok for r in fake.run()))  # the fake fails names it does not know

    def test_unexpected_panic_blames_running_test_and_reruns_the_rest(self):
        fake = self.kernel([test("a"), test("boom", "crash"), test("c")])
        results = fake.run()
        self.assertEqual(verdicts(results), {"qemu/kernel/a": True, "qemu/kernel/boom": False, "qemu/kernel/c": True})
        self.assertIn("panicked", results[1].reason)
        self.assertIn("KERNEL-PANIC", results[1].details)

    def test_hung_guest_is_killed_and_fails_only_the_running_test(self):
        fake = self.kernel([test("stuck", "hang"), test("after")])
        results = fake.run(timeout=2.0)
        self.assertEqual(verdicts(results), {"qemu/kernel/stuck": False, "qemu/kernel/after": True})
        self.assertIn("killed", results[0].reason)

    def test_reset_fails_the_running_test(self):
        results = self.kernel([test("triple", "reset")]).run()
        self.assertEqual(verdicts(results), {"qemu/kernel/triple": False})
        self.assertIn("reset", results[0].reason)

    def test_expected_panic_passes_only_with_matching_report(self):
        fake = self.kernel([test("good", "panic", "panic"), test("wrong", "panic-wrong-text", "panic"),
                            test("returns", "return", "panic")])
        results = fake.run()
        self.assertEqual(verdicts(results), {"qemu/kernel/good": True, "qemu/kernel/wrong": False,
                                             "qemu/kernel/returns": False})
        self.assertIn("wrong_target", results[1].reason)
        self.assertIn("instead of panicking", results[2].reason)

    def test_filter_selects_by_full_name(self):
        results = self.kernel([test("alpha"), test("beta", "fail")]).run(name_filter="kernel/al")
        self.assertEqual(verdicts(results), {"qemu/kernel/alpha": True})

    def test_kernel_that_never_boots_is_one_failure(self):
        results = self.kernel([test("a")], boots=False).run()
        self.assertEqual(len(results), 1)
        self.assertFalse(results[0].ok)
        self.assertIn("cannot list tests", results[0].reason)

    def test_missing_image_is_a_failure_not_a_crash(self):
        fake = self.kernel([test("a")])
        (fake.root / "boot" / "tessera.iso").unlink()
        results = fake.run()
        self.assertEqual([r.ok for r in results], [False])
        self.assertIn("does not exist", results[0].reason)


class QemuCommandTest(unittest.TestCase):
    def test_command_line_matches_the_documented_invocation(self):
        saved = os.environ.pop("TESSERA_QEMU", None)
        try:
            argv = qemu.command("x.iso", mem_mib=64, cmdline=["test=a,b"])
        finally:
            if saved is not None:
                os.environ["TESSERA_QEMU"] = saved
        text = " ".join(argv)
        self.assertTrue(text.startswith("qemu-system-x86_64 -M pc -cpu max -m 64M -smp 1"))
        self.assertIn("-device isa-debug-exit,iobase=0xf4,iosize=0x04", text)
        self.assertIn("-no-reboot", argv)
        self.assertIn("name=opt/tessera/cmdline,string=mem_mib=64 test=a,,b", argv)

    def test_exit_statuses_decode(self):
        self.assertIs(qemu.outcome_of(1, False), qemu.Outcome.PASSED)
        self.assertIs(qemu.outcome_of(3, False), qemu.Outcome.FAILED)
        self.assertIs(qemu.outcome_of(5, False), qemu.Outcome.PANICKED)
        self.assertIs(qemu.outcome_of(0, False), qemu.Outcome.RESET)
        self.assertIs(qemu.outcome_of(None, True), qemu.Outcome.TIMED_OUT)
        self.assertIs(qemu.outcome_of(-9, False), qemu.Outcome.ERROR)


class ProtocolTest(unittest.TestCase):
    def test_listing_needs_end_marker_and_known_expectations(self):
        listing = protocol.parse_listing(["boot: TEST is a word", "TEST a pass", "TEST b panic page fault",
                                          "TESTS-END"])
        self.assertEqual(listing.tests, [("a", "pass"), ("b", "panic")])
        self.assertEqual(listing.descriptions["b"], "page fault")
        self.assertIsNotNone(protocol.parse_listing(["TEST a", "TESTS-END"]).error)
        self.assertIsNotNone(protocol.parse_listing(["TEST a pass"]).error)
        self.assertIsNotNone(protocol.parse_listing(["TEST a maybe", "TESTS-END"]).error)
        self.assertIsNotNone(protocol.parse_listing(["TEST a pass", "TEST a pass", "TESTS-END"]).error)

    def test_run_attributes_diagnostics_and_reads_the_summary(self):
        run = protocol.parse_run(["Tessera 0.1", "# hello", "ok 1 - a", "# bad", "not ok 2 - b",
                                  "TESTS-DONE passed=1 failed=1", "\ufffd garbage"])
        self.assertTrue(run.banner)
        self.assertEqual([(r.name, r.ok, r.diagnostics) for r in run.results],
                         [("a", True, ["hello"]), ("b", False, ["bad"])])
        self.assertEqual(run.done, (1, 1))


class ReportTest(unittest.TestCase):
    def test_tap_junit_and_summary(self):
        results = [TestResult("host/cap/cspace", True, 0.5),
                   TestResult("qemu/kernel/x", False, 1.0, "it broke", ["line \x01 one"], "/tmp/x.log")]
        out = io.StringIO()
        report = Reporter(out)
        for result in results:
            report.add(result)
        self.assertEqual(report.summary(), "1 passed, 1 failed")
        self.assertIn("not ok 2 - qemu/kernel/x\n#   it broke\n", out.getvalue())
        with tempfile.TemporaryDirectory() as tmp:
            write_tap(results, Path(tmp) / "r.tap")
            tap = (Path(tmp) / "r.tap").read_text().splitlines()
            self.assertEqual(tap[:3], ["TAP version 13", "1..2", "ok 1 - host/cap/cspace"])
            write_junit(results, Path(tmp) / "j.xml")
            root = ET.parse(Path(tmp) / "j.xml").getroot()
            self.assertEqual([s.get("name") for s in root], ["host/cap", "qemu/kernel"])
            self.assertEqual(root.get("failures"), "1")
            self.assertIsNotNone(root.find("./testsuite/testcase[@name='x']/failure"))

    def test_meson_records_pair_with_tests_and_missing_ones_fail(self):
        selected = [{"name": "cspace", "suite": ["cap"]}, {"name": "fuzz_msg", "suite": ["fuzz"]}]
        records = [{"name": "tessera:cap / cspace", "result": "FAIL", "returncode": 1, "duration": 0.2,
                    "stdout": "REQUIRE( x == 1 ) failed"}]
        results = run_tests.results_from_meson_log(selected, records, Path("/tmp/log"))
        self.assertEqual([(r.name, r.ok) for r in results], [("host/cap/cspace", False), ("host/fuzz/fuzz_msg", False)])
        self.assertIn("REQUIRE( x == 1 ) failed", results[0].details)
        self.assertIn("no result", results[1].reason)


class RunnerTest(unittest.TestCase):
    def test_runner_ends_with_summary_and_writes_reports(self):
        fake = FakeKernel([test("a"), test("b", "fail")])
        self.addCleanup(fake.close)
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "lib" / "run_tests.py"),
                               "--build-dir", str(fake.root), "--no-host", "--no-shell"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 1)
        # The fake kernel answers every registered QEMU suite alike: one pass and one failure each
        # (the shell suite types into the real system: not with a fake, --no-shell).
        # Suites that select tests by name (only/exclude) see only what they want of "a" and "b".
        # A suite whose disk template (made by the build) is missing fails its setup instead.
        registered = suites.registered(fake.root)
        runnable = [s for s in registered if s.disk_template is None or s.disk_template.exists()]
        passed = sum(1 for s in runnable if s.wants("a"))
        failed = sum(1 for s in runnable if s.wants("b")) + len(registered) - len(runnable)
        self.assertEqual(proc.stdout.splitlines()[-1], f"{passed} passed, {failed} failed")
        self.assertIn("ok 1 - qemu/kernel/a", proc.stdout)
        self.assertIn("not ok 2 - qemu/kernel/b", proc.stdout)
        for s in registered:
            if s.wants("b"):
                self.assertIn(f"qemu/{s.name}/b", proc.stdout)
        self.assertTrue((fake.root / "test-results" / "results.tap").exists())
        self.assertTrue((fake.root / "test-results" / "junit.xml").exists())
        self.assertTrue((fake.root / "test-results" / "qemu" / "kernel" / "pass-1.log").exists())

    def test_boot_bench_reads_wall_time_and_instruction_count(self):
        fake = FakeKernel([])
        self.addCleanup(fake.close)
        env = dict(os.environ, TESSERA_BUILD_DIR=str(fake.root))
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.d" / "boot"), "--runs", "2",
                               "--json"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        numbers = json.loads(proc.stdout)
        self.assertEqual(numbers["guest_instructions_to_banner"], 4242)
        self.assertEqual(len(numbers["wall_ms_to_banner_runs"]), 2)


def load_bench(name: str):
    """A scripts/bench.d script (no .py suffix) as a module."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader(f"bench_{name}", str(ROOT / "scripts" / "bench.d" / name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


class MemoryBenchTest(unittest.TestCase):
    def test_parses_medians_and_derives_the_clearing(self):
        bench = load_bench("memory")
        medians, errors = bench.parse([
            "BENCH retype_frame_4k median=6867 min=6871 max=7120 overhead=4 n=10000",
            "BENCH retype_untyped_4k median=2730 min=2734 max=2983 overhead=4 n=10000",
            "BENCH-ERROR membench: attach: error 3",
            "BENCH first_touch_fault_4k median=11312 min=11304 max=70027 overhead=4 n=10000",
            "BENCH-DONE",
        ])
        self.assertEqual(medians, {"retype_frame_4k": 6867, "retype_untyped_4k": 2730, "first_touch_fault_4k": 11312})
        self.assertEqual(errors, ["BENCH-ERROR membench: attach: error 3"])
        results = bench.combine(medians, {"retype_frame_4k": 2000, "retype_untyped_4k": 1000,
                                          "first_touch_fault_4k": 5000}, 2.0)
        self.assertEqual(list(results)[:2], ["first_touch_fault_4k", "first_touch_fault_4k_without_clearing"])
        self.assertEqual(results["kernel_clear_4k"], {"instructions": 4137, "ns": 500.0})
        self.assertEqual(results["first_touch_fault_4k_without_clearing"], {"instructions": 7175, "ns": 2000.0})
        self.assertIsNone(bench.combine(medians, {}, None)["first_touch_fault_4k"]["ns"])
        self.assertIn("Linux 6,378", bench.table(results)[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
