"""Test results shared by every tier, and their reports: console lines, TAP and JUnit XML."""

from __future__ import annotations

import dataclasses
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO


@dataclasses.dataclass
class TestResult:
    """The outcome of one test, named `<tier>/<suite>/<test>` (e.g. qemu/kernel/frame_allocator)."""

    name: str
    ok: bool
    seconds: float = 0.0
    reason: str = ""  # one line: why it failed
    details: list[str] = dataclasses.field(default_factory=list)  # diagnostics / log tail
    log_path: str | None = None

    @property
    def group(self) -> str:
        """`<tier>/<suite>`: everything before the last '/'."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else self.name

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def explanation(self) -> list[str]:
        """The lines shown under a failure: reason, details, where the full log is."""
        lines = [self.reason] if self.reason else []
        lines += self.details
        if self.log_path:
            lines.append(f"full log: {self.log_path}")
        return lines


class Reporter:
    """Numbers results continuously across tiers and prints them as TAP lines as they arrive.

    A failure is followed by its explanation as `# ` comment lines, so the console output is
    itself valid TAP.
    """

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.results: list[TestResult] = []

    def add(self, result: TestResult) -> None:
        self.results.append(result)
        for line in tap_lines(len(self.results), result):
            print(line, file=self.out)
        self.out.flush()

    def note(self, text: str) -> None:
        """Prints a progress comment (a TAP comment, ignored by TAP consumers)."""
        print(f"# {text}", file=self.out, flush=True)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    def summary(self) -> str:
        """The last line of every test run: exactly `N passed, N failed`."""
        return f"{self.passed} passed, {self.failed} failed"


def tap_lines(number: int, result: TestResult) -> list[str]:
    """`ok N - name`, or `not ok N - name` followed by its explanation as `#   ` comments."""
    if result.ok:
        return [f"ok {number} - {result.name}"]
    return [f"not ok {number} - {result.name}"] + [f"#   {line}" for line in result.explanation()]


def write_tap(results: list[TestResult], path: Path) -> None:
    """Writes a TAP version 13 document with the plan first."""
    lines = ["TAP version 13", f"1..{len(results)}"]
    for number, result in enumerate(results, start=1):
        lines += tap_lines(number, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _xml_safe(text: str) -> str:
    """Drops characters XML 1.0 cannot carry (serial logs may hold control bytes)."""
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
                   or ord(c) >= 0x10000)


def write_junit(results: list[TestResult], path: Path) -> None:
    """Writes JUnit XML: one <testsuite> per `<tier>/<suite>` group, in order of first result."""
    groups: dict[str, list[TestResult]] = {}
    for result in results:
        groups.setdefault(result.group, []).append(result)
    root = ET.Element("testsuites", tests=str(len(results)),
                      failures=str(sum(1 for r in results if not r.ok)),
                      time=f"{sum(r.seconds for r in results):.3f}")
    for group, members in groups.items():
        suite = ET.SubElement(root, "testsuite", name=group, tests=str(len(members)),
                              failures=str(sum(1 for r in members if not r.ok)), errors="0",
                              time=f"{sum(r.seconds for r in members):.3f}")
        for result in members:
            case = ET.SubElement(suite, "testcase", classname=group.replace("/", "."),
                                 name=result.short_name, time=f"{result.seconds:.3f}")
            if not result.ok:
                failure = ET.SubElement(case, "failure", message=_xml_safe(result.reason or "failed"))
                failure.text = _xml_safe("\n".join(result.explanation()))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
