#!/usr/bin/env python3
"""A stand-in for qemu-system-x86_64 that plays a Tessera kernel, for testing the harness.

It parses the options the harness passes (undoing QEMU's ',,' escaping), checks mem_mib against
-m, and follows the serial protocol for the tests described in the JSON file named by
FAKE_KERNEL: {"boots": true, "tests": [{"name", "expect", "does"}], "banner_tsc": N} where
`does` is one of pass, fail, panic (crash as expected, report contains the text),
panic-wrong-text, return (an expect=panic test that returns), crash (unexpected panic),
hang, reset.
"""

import json
import os
import sys
import time


def option_values(argv, name):
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]


def parse_fw_cfg(value):
    """Splits name=...,string=... honouring ',,' as a literal comma, as QEMU does."""
    fields, current, i = [], "", 0
    while i < len(value):
        if value[i] == ",":
            if value[i + 1:i + 2] == ",":
                current += ","
                i += 2
                continue
            fields.append(current)
            current = ""
        else:
            current += value[i]
        i += 1
    fields.append(current)
    return dict(f.split("=", 1) for f in fields)


def main():
    argv = sys.argv[1:]
    spec = json.load(open(os.environ["FAKE_KERNEL"]))
    assert option_values(argv, "-serial") == ["stdio"], "serial must be stdio"
    assert "isa-debug-exit,iobase=0xf4,iosize=0x04" in option_values(argv, "-device")
    words = {}
    for value in option_values(argv, "-fw_cfg"):
        cfg = parse_fw_cfg(value)
        if cfg.get("name") == "opt/tessera/cmdline":
            for word in cfg["string"].split():
                key, _, val = word.partition("=")
                words[key] = val
    mem = option_values(argv, "-m")[0]
    out = sys.stdout

    def say(line):
        out.write(line + "\r\n")
        out.flush()

    def exit_code(code):
        out.flush()
        os._exit((code << 1) | 1)

    def panic(text):
        say(f"panic: {text} at fake_function+0x10")
        say("KERNEL-PANIC")
        exit_code(2)

    if not spec.get("boots", True):
        say("garbage \xff before any banner")
        os._exit(0)
    say("Tessera 0.1.0 (fake)")
    say(f"boot: banner-tsc={spec.get('banner_tsc', 123456)}")
    if words.get("mem_mib") + "M" != mem:
        say(f"mem_mib={words.get('mem_mib')} does not match -m {mem}")
        exit_code(1)
    tests = {t["name"]: t for t in spec["tests"]}
    request = words.get("test")
    if request is None:
        if words.get("exit") == "idle":
            exit_code(0)
        time.sleep(3600)
    if request == "list":
        for t in spec["tests"]:
            say(f"TEST {t['name']} {t['expect']} what {t['name']} checks")
        say("TESTS-END")
        exit_code(0)
    passed = failed = 0
    for number, name in enumerate(request.split(","), start=1):
        test = tests.get(name)
        does = test["does"] if test else "fail"
        say(f"# running {name}")
        if does in ("pass", "return"):
            passed += 1
            say(f"ok {number} - {name}")
        elif does == "fail":
            failed += 1
            say(f"# expected 1, got 2 in {name}")
            say(f"not ok {number} - {name}")
        elif does == "panic":
            say(f"EXPECT-PANIC {name}_target")
            panic(f"page fault in {name}_target")
        elif does == "panic-wrong-text":
            say(f"EXPECT-PANIC {name}_target")
            panic("page fault in somewhere_else")
        elif does == "crash":
            panic(f"unexpected fault in {name}")
        elif does == "hang":
            time.sleep(3600)
        elif does == "reset":
            os._exit(0)
    say(f"TESTS-DONE passed={passed} failed={failed}")
    exit_code(0 if failed == 0 else 1)


main()
