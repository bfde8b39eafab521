"""Parses the serial test protocol shared by the in-kernel tests and the user-space suites.

  Tessera ...                         banner (first line starting with 'Tessera')
  TEST <name> <pass|panic> [text]     test=list: one per test (optional description), then TESTS-END
  # <text>                            diagnostics of the test that is running
  ok N - <name> / not ok N - <name>   one result per test run
  TESTS-DONE passed=P failed=F        end of a test=... run
  EXPECT-PANIC <text>                 a panic test is about to crash; the report must contain text
  KERNEL-PANIC                        last line of the kernel's panic report

Pure functions over lists of lines: nothing here raises on malformed input.
"""

from __future__ import annotations

import dataclasses
import re

EXPECTATIONS = ("pass", "panic", "fault")

_TEST_LINE = re.compile(r"^TEST (\S+) (\S+)(?:\s+(.*))?$")
_RESULT_LINE = re.compile(r"^(ok|not ok) (\d+) - (\S+)")
_DONE_LINE = re.compile(r"^TESTS-DONE passed=(\d+) failed=(\d+)\s*$")


@dataclasses.dataclass
class Listing:
    """The answer to test=list: (name, expect) in kernel order, or an error saying what is wrong."""

    tests: list[tuple[str, str]]
    error: str | None = None
    descriptions: dict[str, str] = dataclasses.field(default_factory=dict)


def parse_listing(lines: list[str]) -> Listing:
    """Reads TEST lines up to TESTS-END; reports malformed TEST lines, unknown expectations,
    duplicates and a missing TESTS-END as an error instead of skipping them."""
    listing = Listing([])
    for line in lines:
        if line.strip() == "TESTS-END":
            return listing
        if not line.startswith("TEST "):
            continue
        match = _TEST_LINE.match(line)
        if not match:
            listing.error = f"malformed line {line!r}"
            return listing
        name, expect, description = match.groups()
        if expect not in EXPECTATIONS:
            listing.error = f"test {name!r} has unknown expectation {expect!r}"
            return listing
        if name in listing.descriptions:
            listing.error = f"test {name!r} is listed twice"
            return listing
        listing.descriptions[name] = description or ""
        listing.tests.append((name, expect))
    listing.error = "the listing did not end with TESTS-END"
    return listing


@dataclasses.dataclass
class Result:
    """One `ok`/`not ok` line with the `# ` diagnostics printed since the previous result."""

    name: str
    ok: bool
    diagnostics: list[str]
    line: int  # index of the result line in the log


@dataclasses.dataclass
class Run:
    """Everything a test=... boot said, in protocol terms."""

    banner: bool = False
    results: list[Result] = dataclasses.field(default_factory=list)
    done: tuple[int, int] | None = None  # (passed, failed) from TESTS-DONE
    pending_diagnostics: list[str] = dataclasses.field(default_factory=list)  # after last result
    expect_panic: str | None = None  # text of the first EXPECT-PANIC line
    panic_report: list[str] = dataclasses.field(default_factory=list)  # lines after EXPECT-PANIC
    kernel_panic: bool = False  # a KERNEL-PANIC line was seen


def parse_run(lines: list[str]) -> Run:
    """Splits a test=... serial log into results, diagnostics and panic information."""
    run = Run()
    diagnostics: list[str] = []
    for index, line in enumerate(lines):
        if run.expect_panic is not None:
            run.panic_report.append(line)
        if line.startswith("Tessera"):
            run.banner = True
        elif line.startswith("# ") or line == "#":
            diagnostics.append(line[2:])
        elif line.startswith("EXPECT-PANIC") and run.expect_panic is None:
            run.expect_panic = line[len("EXPECT-PANIC"):].strip()
        elif line.strip() == "KERNEL-PANIC":
            run.kernel_panic = True
        elif (match := _RESULT_LINE.match(line)) is not None:
            run.results.append(Result(match.group(3), match.group(1) == "ok", diagnostics, index))
            diagnostics = []
        elif (match := _DONE_LINE.match(line)) is not None:
            run.done = (int(match.group(1)), int(match.group(2)))
    run.pending_diagnostics = diagnostics
    return run

