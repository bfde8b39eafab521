#!/usr/bin/env python3
"""TRACEHOST0100: tracing compiled in costs the plain IPC fastpath nothing.

The plain fastpath entries (fastpath_call, fastpath_reply_recv, fastpath_send) must not read the
trace categories nor call into the tracer: syscall_entry.S reaches them only while no category the
fastpath records is on, and the traced twins (fastpath_*_traced) do the recording (docs/tracing.md).
This disassembles the kernel and checks both halves: the plain entries never mention the tracing
namespace, and the traced ones do (so the check is looking at the right code).

Usage: test_untraced_fastpath.py KERNEL_ELF"""

import re
import subprocess
import sys

PLAIN = ["fastpath_call", "fastpath_reply_recv", "fastpath_send"]
TRACED = [name + "_traced" for name in PLAIN]
TRACING = re.compile(r"7tracing|resume_threadILb1E")  # the tracer (mangled ...6kernel7tracing...), or the resume that records switches


def functions(elf: str) -> dict[str, list[str]]:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", elf], check=True, capture_output=True,
                         text=True).stdout
    result: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            current = m.group(1)
            result[current] = []
        elif current is not None and line.strip():
            result[current].append(line)
        elif not line.strip():
            current = None
    return result


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    code = functions(sys.argv[1])
    failures = 0
    for name in PLAIN:
        body = code.get(name)
        if body is None:
            print(f"not found: {name}")
            failures += 1
            continue
        hits = [line for line in body if TRACING.search(line)]
        if hits:
            print(f"{name} touches tracing ({len(hits)} instructions), e.g.: {hits[0].strip()}")
            failures += 1
        else:
            print(f"ok: {name}: {len(body)} instructions, none of them tracing's")
    for name in TRACED:
        body = code.get(name)
        if body is None or not any(TRACING.search(line) for line in body):
            print(f"{name} does not record anything: is the check still looking at the right code?")
            failures += 1
        else:
            print(f"ok: {name} records")
    print("TRACEHOST0100", "failed" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
