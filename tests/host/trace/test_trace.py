#!/usr/bin/env python3
"""Tests of scripts/trace (docs/tracing.md) on synthetic streams written here from
abi/include/tessera/trace.h: a kv session (kvclient Calls Store.put/get with Payload records
holding libcapnp's own encodings, kv Receives and Replies), switches, an interrupt, dropped
events; damaged streams; the --top table; the PNG; the QEMU command line of `record` and a
recording against a fake QEMU.

Run: python3 tests/host/trace/test_trace.py (registered with meson as host/trace/trace-tool).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "scripts" / "trace"
TRACE_H = ROOT / "abi" / "include" / "tessera" / "trace.h"


def header_constants() -> tuple[dict[str, int], dict[str, int]]:
    """Kind and Category values, read from trace.h (the writer below uses these, not the tool's)."""
    text = TRACE_H.read_text()
    body = re.search(r"enum class Kind : uint8_t \{(.*?)\};", text, re.S).group(1)
    kinds = {n: int(v, 0) for n, v in re.findall(r"^\s*(\w+) = (0x[0-9A-Fa-f]+|\d+),", body, re.M)}
    body = re.search(r"enum Category : uint32_t \{(.*?)\};", text, re.S).group(1)
    cats = {n: eval(v.replace("u", "")) for n, v in re.findall(r"^\s*(kCategory\w+) = ([^,]+),", body, re.M)}
    consts = {n: int(v.rstrip("ul"), 0) for n, v in re.findall(r"constexpr \w+ (k\w+) = (0x[0-9A-Fa-f]+ull|\d+);", text)}
    kinds.update({"__" + n: v for n, v in consts.items()})
    return kinds, cats


KIND, CATEGORY = header_constants()
MAGIC = KIND["__kStreamMagic"]
VERSION = KIND["__kStreamVersion"]
TSC_HZ = 1_000_000  # 1 tick = 1 us: the expected numbers below are in ticks = microseconds
STORE_CODE = 0x99DB401A0856390E & 0xFFFFFFFF  # abi/kv.capnp: interface Store's id, low 32 bits
PUT, GET = STORE_CODE << 16 | 0, STORE_CODE << 16 | 1
RANGE_ERROR = 4  # abi/base.capnp


# --- a writer of the format ------------------------------------------------------------------

def rec(kind: str, ts: int = 0, thread: int = 0, obj: int = 0, a0: int = 0, a1: int = 0) -> bytes:
    return struct.pack("<4Q", KIND[kind] | ts << 8, thread | obj << 32, a0, a1)


def info(label: int, length: int, caps: int = 0) -> int:
    return label << 12 | caps << 7 | length


def payload(words: list[int]) -> bytes:
    recorded = words[:12]
    out = b""
    for chunk in range((len(recorded) + 2) // 3):
        part = recorded[3 * chunk:3 * chunk + 3] + [0, 0, 0]
        out += struct.pack("<4Q", KIND["Payload"] | chunk << 8 | len(recorded) << 16, *part[:3])
    return out


def name24(name: str) -> bytes:
    return name.encode().ljust(24, b"\0")


def stream_header(cpus: int = 2, magic: int = MAGIC) -> bytes:
    return struct.pack("<4Q", KIND["StreamHeader"] | VERSION << 8, magic, TSC_HZ, cpus)


def batch(cpu: int, seq: int, dropped: int, records: bytes, count: int | None = None) -> bytes:
    n = len(records) // 32 if count is None else count
    return struct.pack("<4Q", KIND["Batch"] | cpu << 8 | n << 32, seq, dropped, CATEGORY["kCategoryAll"]) + records


def program_name(space: int, name: str) -> bytes:
    return struct.pack("<Q", KIND["ProgramName"] | space << 8) + name24(name)


def thread_name(space: int, thread: int, name: str) -> bytes:
    return struct.pack("<Q", KIND["ThreadName"] | space << 8 | thread << 32) + name24(name)


def end(records: int, dropped: int) -> bytes:
    return struct.pack("<4Q", KIND["End"], records, dropped, 0)


ENCODE_SCHEMA = """@0xd070167453c604fc;
struct PutParams { key @0 :Text; value @1 :Data; }
struct PutResults { replaced @0 :Bool; }
struct GetParams { key @0 :Text; }
struct GetResults { found @0 :Bool; value @1 :Data; }
"""  # the layouts of abi/kv.capnp's implicit $Params/$Results structs, which capnp cannot name


def encode(type_name: str, text: str) -> list[int]:
    """libcapnp's encoding (one segment, no stream header) of `text` as the struct `type_name`."""
    with tempfile.TemporaryDirectory() as tmp:
        schema = Path(tmp) / "kv_shapes.capnp"
        schema.write_text(ENCODE_SCHEMA)
        data = subprocess.run(["capnp", "encode", "--flat", str(schema), type_name], input=text.encode(),
                              capture_output=True, check=True).stdout
    return list(struct.unpack(f"<{len(data) // 8}Q", data))


CLIENT, SERVER, TIMER = 10, 11, 12  # thread ids
LONG_VALUE = "x" * 100


class Session:
    """The synthetic kv session and what a correct tool must report about it."""

    def __init__(self):
        put = encode("PutParams", '(key = "greeting", value = "hello")')
        get = encode("GetParams", '(key = "greeting")')
        put_long = encode("PutParams", f'(key = "long", value = "{LONG_VALUE}")')
        assert len(put_long) > 12
        put_res = encode("PutResults", "(replaced = false)")
        get_res = encode("GetResults", '(found = true, value = "hello")')
        self.cpu0_a = b"".join([
            thread_name(3, CLIENT, "main"), thread_name(2, SERVER, "main"),
            rec("Switch", 1000, CLIENT, 0, 0),
            rec("Syscall", 1100, CLIENT, 1, 0x20, info(PUT, len(put))),
            rec("Call", 1200, CLIENT, 5, info(PUT, len(put)), 7), payload(put),
            rec("Receive", 1300, SERVER, CLIENT, info(PUT, len(put)), 5),
            rec("Switch", 1400, SERVER, CLIENT, 2),
            rec("Reply", 2000, SERVER, CLIENT, info(0, len(put_res))), payload(put_res),
            rec("Switch", 2100, CLIENT, SERVER, 2),
        ])
        self.cpu0_b = b"".join([
            rec("Call", 2500, CLIENT, 5, info(GET, len(get)), 7), payload(get),
            rec("Receive", 2600, SERVER, CLIENT, info(GET, len(get)), 5),
            rec("Switch", 2700, SERVER, CLIENT, 2),
            rec("Reply", 3000, SERVER, CLIENT, info(0, len(get_res))), payload(get_res),
            rec("Switch", 3100, CLIENT, SERVER, 2),
            rec("Fault", 3200, CLIENT, 14, 0x401000, 0xdead000),
            rec("Call", 3300, CLIENT, 5, info(PUT, len(put_long)), 7), payload(put_long),
            rec("Receive", 3400, SERVER, CLIENT, info(PUT, len(put_long)), 5),
            rec("Switch", 3500, SERVER, CLIENT, 2),
            rec("Reply", 3600, SERVER, CLIENT, info(RANGE_ERROR, 0)),
            rec("Switch", 3700, CLIENT, SERVER, 2),
            rec("Switch", 4000, 0, CLIENT, 2),
        ])
        self.cpu1_a = b"".join([
            rec("Switch", 1500, TIMER, 0, 0),
            rec("Interrupt", 1600, TIMER, 32, 9),
        ])
        self.cpu1_b = b"".join([
            rec("Syscall", 1700, TIMER, 5, 0x30, 0),
            rec("Switch", 1800, 0, TIMER, 2),
        ])
        self.dropped = 5  # cpu 1's final, cumulative count
        n = lambda b: len(b) // 32  # noqa: E731
        self.prefix = stream_header() + program_name(2, "kv") + program_name(3, "kvclient") \
            + thread_name(4, TIMER, "timer") + batch(0, 0, 0, self.cpu0_a)
        self.middle = batch(1, 0, 3, self.cpu1_a)
        self.rest = batch(0, n(self.cpu0_a), 0, self.cpu0_b) + batch(1, n(self.cpu1_a), self.dropped, self.cpu1_b)
        total = n(self.cpu0_a) + n(self.cpu0_b) + n(self.cpu1_a) + n(self.cpu1_b)
        self.data = self.prefix + self.middle + self.rest + end(total, self.dropped)

    # Expected --top numbers (ticks = us): cpu, scheduled, wake-ups, sent, received, faults, syscalls.
    EXPECTED_TOP = {
        "kvclient/main": (1700, 4, 3, 3, 0, 1, 1),
        "kv/main": (1300, 3, 2, 0, 3, 0, 0),
        "timer/timer": (300, 1, 0, 0, 0, 0, 1),
    }
    SPAN = 3000  # first record at 1000, last at 4000


def fake_disk(build: Path) -> bytes:
    """A 4 MiB BUILD/boot/disk.img, mostly holes, for record's default disk; returns its bytes."""
    image = bytearray(4 << 20)
    image[1080:1082] = b"\x53\xef"
    image[3 << 20:(3 << 20) + 5] = b"tail!"
    (build / "boot" / "disk.img").write_bytes(bytes(image))
    return bytes(image)


# tests/host/trace/kv-session.bin: a real recording (scripts/trace record --categories
# ipc,payload,sched --ms 30, the default disk; its serial log showed `kvclient: done, 0 failed`
# before `trace: stopped`). servers/kvclient/main.cc's exercise(), in order: each Call with its
# $Params, and the Reply (error, $Results when ok).
FIXTURE = Path(__file__).resolve().parent / "kv-session.bin"
KV_SESSION = [
    ("Store.put", '(key = "greeting", value = "hello")', "ok", "(replaced = false)"),
    ("Store.get", '(key = "greeting")', "ok", '(found = true, value = "hello")'),
    ("Store.put", '(key = "greeting", value = "hello again")', "ok", "(replaced = true)"),
    ("Store.watch", '(key = "greeting", notify = cap #0)', "ok", "()"),
    ("Store.put", '(key = "greeting", value = "changed")', "ok", "(replaced = true)"),
    ("Store.delete", '(key = "greeting")', "ok", "(existed = true)"),
    ("Store.get", '(key = "greeting")', "ok", "(found = false)"),
    ("Store.put", '(key = "", value = "x")', "rangeError", None),
]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120)


def load_tool():
    loader = importlib.machinery.SourceFileLoader("tessera_trace_tool", str(TOOL))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class TraceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.session = Session()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def convert(self, data: bytes, name: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict | None]:
        stream = self.dir / f"{name}.bin"
        out = self.dir / f"{name}.json"
        stream.write_bytes(data)
        out.unlink(missing_ok=True)
        result = run_tool("convert", str(stream), "-o", str(out), *extra)
        self.assertNotIn("Traceback", result.stderr + result.stdout)
        return result, (json.loads(out.read_text()) if out.exists() else None)

    def good(self) -> tuple[subprocess.CompletedProcess, dict]:
        if not hasattr(self, "_good"):
            type(self)._good = self.convert(self.session.data, "good", "--top", "--png", str(self.dir / "good.png"))
        return self._good

    def events(self, trace: dict, ph: str | None = None, name: str | None = None) -> list[dict]:
        return [e for e in trace["traceEvents"] if (ph is None or e["ph"] == ph) and (name is None or e.get("name") == name)]

    def fixture(self, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
        key = "_fixture" + "".join(extra)
        if not hasattr(self, key):
            setattr(type(self), key, self.convert(FIXTURE.read_bytes(), f"fixture{len(key)}", *extra))
        return getattr(self, key)

    def fixture_tids(self, trace: dict) -> dict[str, int]:
        return {e["args"]["name"]: e["tid"] for e in self.events(trace, "M", "thread_name")}

    def test_TRACEHOST0001_tool_constants_match_trace_h(self):
        """The tool's record kinds, magic, version and categories are trace.h's."""
        tool = load_tool()
        for name, value in KIND.items():
            if not name.startswith("__"):
                self.assertEqual(tool.K[name], value, name)
        self.assertEqual(tool.STREAM_MAGIC, MAGIC)
        self.assertEqual(tool.STREAM_VERSION, VERSION)
        self.assertEqual(tool.RECORD_BYTES, KIND["__kRecordBytes"])
        self.assertEqual(tool.MAX_PAYLOAD_RECORDS, KIND["__kMaxPayloadRecords"])
        self.assertEqual(tool.CATEGORY_ALL, CATEGORY["kCategoryAll"])
        words = ["kCategoryScheduling", "kCategoryIpc", "kCategoryNotifications", "kCategoryInterrupts",
                 "kCategoryFaults", "kCategorySyscalls", "kCategoryInvocations", "kCategoryPayload"]
        self.assertEqual(list(tool.CATEGORIES.values()), [CATEGORY[w] for w in words])

    def test_TRACEHOST0002_good_stream_converts(self):
        """A complete stream converts with status 0, no warning, processes and tracks named."""
        result, trace = self.good()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("warning", result.stderr)
        self.assertNotIn("damaged", result.stderr)
        self.assertTrue(trace["otherData"]["complete"])
        processes = {e["pid"]: e["args"]["name"] for e in self.events(trace, "M", "process_name")}
        self.assertEqual(processes.get(2), "kv")
        self.assertEqual(processes.get(3), "kvclient")
        self.assertEqual(processes.get(4), "timer")  # no ProgramName: its first thread's name
        threads = {e["tid"]: e["args"]["name"] for e in self.events(trace, "M", "thread_name") if e["pid"] < 1 << 24}
        self.assertEqual(threads, {CLIENT: "kvclient/main", SERVER: "kv/main", TIMER: "timer/timer"})

    def test_TRACEHOST0003_run_slices_from_switches(self):
        """Run slices follow the Switch records, in microseconds from the first record."""
        _, trace = self.good()
        runs = sorted((e["tid"], e["ts"], e["dur"]) for e in self.events(trace, "X", "run"))
        self.assertEqual(runs, [(CLIENT, 0, 400), (CLIENT, 1100, 600), (CLIENT, 2100, 400), (CLIENT, 2700, 300),
                                (SERVER, 400, 700), (SERVER, 1700, 400), (SERVER, 2500, 200), (TIMER, 500, 300)])

    def assert_monotonic_tracks(self, trace: dict) -> None:
        last: dict = {}
        for e in trace["traceEvents"]:
            if "ts" not in e:
                continue
            key = (e["pid"], e.get("tid"))
            self.assertGreaterEqual(e["ts"], last.get(key, float("-inf")), e)
            last[key] = e["ts"]

    def assert_flows_end(self, trace: dict) -> dict[int, tuple[dict, dict]]:
        """Every started flow ends once, not before it starts, both ends inside an IPC slice of their
        track; returns id -> (start, end)."""
        starts = {e["id"]: e for e in self.events(trace, "s")}
        ends = {e["id"]: e for e in self.events(trace, "f")}
        self.assertEqual(len(starts), len(self.events(trace, "s")), "flow ids are unique")
        self.assertEqual(len(ends), len(self.events(trace, "f")), "a flow ends once")
        self.assertEqual(set(starts), set(ends))
        slices: dict = {}
        for x in self.events(trace, "X"):
            if x["cat"] == "ipc":
                slices.setdefault((x["pid"], x["tid"]), []).append(x)
        for fid, s in starts.items():
            self.assertLessEqual(s["ts"], ends[fid]["ts"])
            for point in (s, ends[fid]):
                inside = [x for x in slices.get((point["pid"], point["tid"]), [])
                          if x["ts"] <= point["ts"] <= x["ts"] + x["dur"]]
                self.assertTrue(inside, point)
        return {fid: (s, ends[fid]) for fid, s in starts.items()}

    def test_TRACEHOST0004_timestamps_monotonic_per_track(self):
        """Within every track (pid, tid) the events' timestamps never go back."""
        self.assert_monotonic_tracks(self.good()[1])

    def test_TRACEHOST0005_every_flow_that_starts_ends(self):
        """Each Call has two flows (to its Receive and to its Reply); every started flow ends once,
        inside a slice of the other thread."""
        flows = self.assert_flows_end(self.good()[1])
        self.assertEqual(len(flows), 6)  # 3 calls x (receive, reply)
        for s, f in flows.values():
            self.assertEqual((s["tid"], f["tid"]), (CLIENT, SERVER))

    def test_TRACEHOST0006_calls_named_and_decoded(self):
        """Calls are `Store.put`/`Store.get` with their decoded keys; replies decode the results."""
        _, trace = self.good()
        calls = [e for e in self.events(trace, "X") if e["args"].get("kind") == "Call"]
        self.assertEqual([c["name"] for c in calls], ["Store.put", "Store.get", "Store.put"])
        self.assertEqual(calls[0]["args"]["message"], '(key = "greeting", value = "hello")')
        self.assertEqual(calls[1]["args"]["message"], '(key = "greeting")')
        receives = [e for e in self.events(trace, "X") if e["args"].get("kind") == "Receive"]
        self.assertEqual(receives[1]["name"], "recv Store.get")
        self.assertIn('key = "greeting"', receives[1]["args"]["message"])
        replies = [e for e in self.events(trace, "X") if e["args"].get("kind") == "Reply"]
        self.assertEqual([r["name"] for r in replies],
                         ["reply Store.put: ok", "reply Store.get: ok", "reply Store.put: rangeError"])
        self.assertEqual(replies[0]["args"]["message"], "(replaced = false)")
        self.assertEqual(replies[1]["args"]["message"], '(found = true, value = "hello")')

    def test_TRACEHOST0021_capability_fields_and_malformed_payloads(self):
        """A capability pointer decodes as its cap-table index (as scripts/capnp-decode counts it);
        a pointer out of the message is malformed, never a crash."""
        tool = load_tool()
        schemas = tool.Schemas.load(ROOT / "abi")
        _, watch = schemas.method(STORE_CODE << 16 | 3)
        key = struct.unpack("<Q", b"k\0\0\0\0\0\0\0")[0]
        words = [2 << 48, 1 | 1 << 2 | 2 << 32 | 2 << 35, 3 | 1 << 32, key]  # (key = "k", notify = cap 1)
        text = tool.MessageDecoder(schemas, words, 4).root(watch["paramStructType"])
        self.assertEqual(text, '(key = "k", notify = cap #1)')
        words[1] = 1 | 40 << 2 | 2 << 32 | 2 << 35
        text = tool.MessageDecoder(schemas, words, 4).root(watch["paramStructType"])
        self.assertIn("key = <malformed: word 42 is outside the 4-word message>", text)

    def test_TRACEHOST0007_truncated_payload_shown(self):
        """A message longer than the 12 recorded words says so, decodes what was recorded and shows
        `?` for what was not."""
        _, trace = self.good()
        call = [e for e in self.events(trace, "X") if e["args"].get("kind") == "Call"][2]
        self.assertIn("the first 12 recorded", call["args"]["truncated"])
        self.assertEqual(call["args"]["message"], '(key = "long", value = ?)')
        self.assertEqual(len(call["args"]["raw"]), 12)

    def test_TRACEHOST0008_dropped_counter_exact(self):
        """The dropped-events counter per CPU follows the Batches' cumulative counts exactly."""
        _, trace = self.good()
        cpu1 = [e["args"]["dropped"] for e in self.events(trace, "C", "dropped events cpu1")]
        cpu0 = [e["args"]["dropped"] for e in self.events(trace, "C", "dropped events cpu0")]
        self.assertEqual(cpu1, [3, self.session.dropped])
        self.assertEqual(cpu0, [0, 0])

    def test_TRACEHOST0009_interrupt_fault_and_cpu_share(self):
        """Interrupts and faults are instants on the thread's track; CPU share counters exist per program."""
        _, trace = self.good()
        irq = self.events(trace, "i", "irq vector 32")
        self.assertEqual([(e["tid"], e["ts"]) for e in irq], [(TIMER, 600)])
        fault = self.events(trace, "i", "fault vector 14")
        self.assertEqual([(e["tid"], e["ts"]) for e in fault], [(CLIENT, 2200)])
        share = self.events(trace, "C", "cpu share %")
        self.assertEqual({e["pid"] for e in share}, {2, 3, 4})
        for e in share:
            self.assertTrue(0 <= e["args"]["cpu %"] <= 100, e)

    def test_TRACEHOST0010_top_matches_the_input(self):
        """--top's rows carry the CPU time, %, schedulings, wake-ups, messages, faults, syscalls of the input."""
        result, _ = self.good()
        self.assert_top_rows(result.stdout, Session.EXPECTED_TOP, Session.SPAN)
        program = next(line.split() for line in result.stdout.splitlines() if line.startswith("kvclient "))
        self.assertAlmostEqual(float(program[1]), 1.7, places=3)

    @staticmethod
    def top_rows(stdout: str) -> dict[str, list[str]]:
        """--top's thread rows (`program/thread` and 8 numbers), by name."""
        return {parts[0]: parts[1:] for parts in map(str.split, stdout.splitlines())
                if len(parts) == 9 and "/" in parts[0]}

    def assert_top_rows(self, stdout: str, expected: dict[str, tuple], span: int) -> None:
        """Rows of (CPU ticks = us, scheduled, wake-ups, sent, received, faults, syscalls); CPU% of `span`."""
        rows = self.top_rows(stdout)
        for thread, (cpu, sched, wake, sent, recv, faults, sys_) in expected.items():
            self.assertIn(thread, rows, stdout)
            r = rows[thread]
            self.assertAlmostEqual(float(r[0]), cpu / 1000, places=3, msg=thread)
            self.assertAlmostEqual(float(r[1]), round(100 * cpu / span, 1), places=1, msg=thread)
            self.assertEqual([int(x) for x in r[2:]], [sched, wake, sent, recv, faults, sys_], thread)

    def test_TRACEHOST0011_png_written(self):
        """--png writes a PNG picture."""
        result, _ = self.good()
        png = self.dir / "good.png"
        self.assertTrue(png.exists(), result.stderr)
        self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(png.stat().st_size, 10_000)

    def assert_damaged(self, data: bytes, name: str, offset: int, why: str, kept_calls: int) -> dict:
        result, trace = self.convert(data, name)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"damaged at byte {offset}:", result.stderr)
        self.assertRegex(result.stderr, why)
        self.assertIsNotNone(trace, "the good prefix must be written out")
        self.assertIn(f"byte {offset}", trace["otherData"]["damage"])
        calls = [e for e in self.events(trace, "X") if e["args"].get("kind") == "Call"]
        self.assertEqual(len(calls), kept_calls)
        if kept_calls:
            self.assertEqual(calls[0]["name"], "Store.put")
        return trace

    def test_TRACEHOST0012_truncated_mid_record(self):
        """A stream cut inside a record: the offset of that record, the prefix kept."""
        s = self.session
        cut = len(s.prefix) + len(s.middle) + 32 + 5 * 32 + 17  # inside cpu0's second batch
        self.assert_damaged(s.data[:cut], "cut", cut - 17, r"truncated record: 17 bytes", 2)

    def test_TRACEHOST0013_garbage_after_good_prefix(self):
        """Garbage after whole records: its offset and 'unknown record kind'; the prefix kept."""
        s = self.session
        garbage = bytes(random.Random(7).randrange(256) | 0x80 for _ in range(200))
        self.assert_damaged(s.prefix + garbage, "garbage", len(s.prefix), r"unknown record kind 0x[89a-f]", 1)

    def test_TRACEHOST0014_zeroed_record_inside_a_batch(self):
        """A zeroed record inside a batch is damage at its offset."""
        s = self.session
        at = len(s.prefix) + len(s.middle) + 32 + 32 * 3
        data = s.data[:at] + bytes(32) + s.data[at + 32:]
        self.assert_damaged(data, "zeroed", at, r"zeroed record", 2)

    def test_TRACEHOST0015_batch_count_overrun(self):
        """A Batch announcing more records than follow: the records that are there are kept."""
        s = self.session
        data = s.prefix + batch(1, 0, 3, s.cpu1_a, count=50)
        trace = self.assert_damaged(data, "overrun", len(data), r"announces 50 records, only 2 complete", 1)
        self.assertEqual(len(self.events(trace, "i", "irq vector 32")), 1)

    def test_TRACEHOST0016_bad_header_reads_nothing(self):
        """A bad magic, an empty file, a short header: status 3, the offset and the reason."""
        s = self.session
        bad = stream_header(magic=0x1234) + s.data[32:]
        for name, data, offset, why in (("magic", bad, 8, "bad magic"), ("empty", b"", 0, "empty"),
                                        ("short", s.data[:20], 0, "shorter than its 32-byte StreamHeader"),
                                        ("kind", s.data[32:], 0, "not a StreamHeader")):
            result, _ = self.convert(data, "bad-" + name)
            self.assertEqual(result.returncode, 3, name)
            self.assertIn(f"damaged at byte {offset}: ", result.stderr)
            self.assertIn(why, result.stderr)
            self.assertIn("nothing could be read", result.stderr)

    def test_TRACEHOST0017_cut_short_and_mutations_never_crash(self):
        """A stream without End is reported as cut short; random damage never makes a traceback."""
        result, _ = self.convert(self.session.data[:-32], "no-end")
        self.assertEqual(result.returncode, 0)
        self.assertIn("no End record", result.stderr)
        tool = load_tool()
        rng = random.Random(17)
        for i in range(300):
            data = bytearray(self.session.data)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[:rng.randrange(len(data) + 1)]) if i % 3 == 0 else bytes(data)
            s = tool.parse_stream(data)
            if s.readable:
                trace = tool.Trace(s, tool.Schemas())
                tool.to_json(trace)
                tool.top_table(trace)
        for data in (self.session.data[:200] + b"\xff" * 64, self.session.data[:64] + bytes(64)):
            result, _ = self.convert(data, "mutated")
            self.assertIn(result.returncode, (0, 3))

    def test_TRACEHOST0020_time_going_back_is_clamped(self):
        """A CPU record earlier than the one before it is reported and shown at the previous time:
        no negative duration, tracks stay monotonic."""
        back = b"".join([rec("Switch", 1000, CLIENT, 0, 0), rec("Syscall", 1500, CLIENT, 1, 0, 0),
                         rec("Switch", 1200, SERVER, CLIENT, 2), rec("Switch", 1300, CLIENT, SERVER, 2)])
        data = stream_header(cpus=1) + thread_name(3, CLIENT, "main") + batch(0, 0, 0, back) + end(4, 0)
        result, trace = self.convert(data, "back")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("goes back in time by 300 ticks", result.stderr)
        runs = sorted((e["tid"], e["ts"], e["dur"]) for e in self.events(trace, "X", "run"))
        self.assertEqual(runs, [(CLIENT, 0, 500), (CLIENT, 500, 0), (SERVER, 500, 0)])

    def test_TRACEHOST0018_record_qemu_command(self):
        """record boots as scripts/run does, with -icount, the debug console into the stream and the
        trace words (commas doubled for fw_cfg), and the disk it is given (record's default: TRACEHOST0022)."""
        tool = load_tool()
        argv = tool.qemu_argv(Path("/b/boot/tessera.iso"), Path("/s/t.bin"), ["ipc", "sched"], 50, ["log=debug"],
                              128, None)
        joined = " ".join(argv)
        self.assertIn("-icount shift=0,sleep=off", joined)
        self.assertIn("-debugcon file:/s/t.bin", joined)
        self.assertIn("-cdrom /b/boot/tessera.iso", joined)
        self.assertIn("name=opt/tessera/cmdline,string=mem_mib=128 trace=ipc,,sched trace_ms=50 log=debug", joined)
        self.assertNotIn("-drive", argv)
        self.assertIn("-drive", tool.qemu_argv(Path("i"), Path("s"), ["all"], 1, [], 128, "d.img"))

    def test_TRACEHOST0019_record_stops_at_end(self):
        """record against a fake QEMU that writes the stream slowly and never exits: it stops once
        the End record is in, and the default command converts the recording."""
        build = self.dir / "build"
        (build / "boot").mkdir(parents=True, exist_ok=True)
        (build / "boot" / "tessera.iso").write_bytes(b"")
        disk = fake_disk(build)
        fake = self.dir / "fake_qemu.py"
        fake.write_text(textwrap.dedent("""\
            import sys, time
            argv = sys.argv[1:]
            target = argv[argv.index("-debugcon") + 1][len("file:"):].replace(",,", ",")
            cmdline = next(a for a in argv if a.startswith("name=opt/tessera/cmdline"))
            assert "trace=ipc,,payload trace_ms=30" in cmdline, cmdline
            drive = argv[argv.index("-drive") + 1]
            disk = drive[len("file="):drive.index(",if=")].replace(",,", ",")
            assert disk.endswith("rec.disk.img"), disk
            assert open(disk, "rb").read() == open(sys.argv[0] + ".disk", "rb").read(), "not a copy"
            data = open(sys.argv[0] + ".stream", "rb").read()
            with open(target, "wb") as out:
                for i in range(0, len(data), 96):
                    out.write(data[i:i + 96]); out.flush(); time.sleep(0.02)
            time.sleep(60)
        """))
        Path(str(fake) + ".stream").write_bytes(self.session.data)
        Path(str(fake) + ".disk").write_bytes(disk)
        env = dict(os.environ, TESSERA_QEMU=f"{sys.executable} {fake}", TESSERA_BUILD_DIR=str(build))
        stream, out = self.dir / "rec.bin", self.dir / "rec.json"
        result = subprocess.run([sys.executable, str(TOOL), "--no-build", "--categories", "ipc,payload", "--ms", "30",
                                 "--stream", str(stream), "-o", str(out), "--timeout", "30"],
                                capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(stream.read_bytes(), self.session.data)
        calls = [e for e in json.loads(out.read_text())["traceEvents"] if e.get("args", {}).get("kind") == "Call"]
        self.assertEqual(len(calls), 3)
        bad = run_tool("record", "--categories", "ipc,bogus")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown categories bogus", bad.stderr)
        self.assertFalse((build / "disk.img").exists())

    def test_TRACEHOST0022_record_attaches_a_fresh_disk_copy(self):
        """record attaches, as scripts/run does, the build's disk: a fresh copy of BUILD/boot/disk.img
        next to the stream (holes kept), made again at every recording; --disk IMAGE and --disk none
        override it."""
        build = self.dir / "build-disk"
        (build / "boot").mkdir(parents=True, exist_ok=True)
        (build / "boot" / "tessera.iso").write_bytes(b"")
        image = fake_disk(build)
        env = dict(os.environ, TESSERA_BUILD_DIR=str(build))
        stream = self.dir / "disk-rec.bin"
        copy = self.dir / "disk-rec.disk.img"

        def command(*extra: str) -> str:
            result = subprocess.run([sys.executable, str(TOOL), "record", "--no-build", "--print-command", "-o",
                                     str(stream), *extra], capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            return result.stdout

        copy.write_bytes(b"written by an earlier recording")
        self.assertIn(f"-drive file={copy},if=none", command())
        self.assertEqual(copy.read_bytes(), image)
        self.assertLess(os.stat(copy).st_blocks * 512, len(image) // 2, "the copy keeps the holes")
        self.assertIn("-drive file=/some/other.img,if=none", command("--disk", "/some/other.img"))
        self.assertNotIn("-drive", command("--disk", "none"))
        self.assertFalse((build / "disk.img").exists())

    def test_TRACEHOST0023_recorded_session_converts(self):
        """The recorded kv session (kv-session.bin) converts completely, without a warning; kv's and
        kvclient's threads are named; no event was dropped."""
        result, trace = self.fixture()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("warning", result.stderr)
        self.assertTrue(trace["otherData"]["complete"])
        self.assertNotIn("damage", trace["otherData"])
        processes = {e["args"]["name"] for e in self.events(trace, "M", "process_name")}
        self.assertTrue({"kv", "kvclient", "memory", "init", "kernel"} <= processes, processes)
        tids = self.fixture_tids(trace)
        self.assertIn("kv/kv", tids)
        self.assertIn("kvclient/kvclient", tids)
        dropped = [e for e in trace["traceEvents"] if e["ph"] == "C" and e["name"].startswith("dropped events")]
        self.assertTrue(dropped)
        self.assertEqual({e["args"]["dropped"] for e in dropped}, {0})

    def test_TRACEHOST0024_recorded_session_tracks_and_flows(self):
        """In the recording every track's timestamps are monotonic and every flow that starts ends,
        inside IPC slices; there are hundreds of them."""
        _, trace = self.fixture()
        self.assert_monotonic_tracks(trace)
        flows = self.assert_flows_end(trace)
        self.assertGreater(len(flows), 500)

    def test_TRACEHOST0025_recorded_kv_calls_decoded(self):
        """Each Call of kvclient's session is Store.put/get/watch/delete with its decoded key, kv/kv
        receives exactly that message, replies with the error and the decoded $Results, and two
        flows lead from the Call to kv's Receive and Reply."""
        _, trace = self.fixture()
        tids = self.fixture_tids(trace)
        client, server = tids["kvclient/kvclient"], tids["kv/kv"]
        ipc = [e for e in self.events(trace, "X") if e["cat"] == "ipc"]
        calls = [e for e in ipc if e["name"].startswith("Store.")]
        self.assertEqual({e["tid"] for e in calls}, {client}, "only kvclient calls kv")
        self.assertEqual([(c["name"], c["args"]["message"]) for c in calls], [(n, m) for n, m, _, _ in KV_SESSION])
        receives = [e for e in ipc if e["tid"] == server and e["args"]["kind"] == "Receive"
                    and e["name"].startswith("recv Store.")]
        self.assertEqual([(r["name"], r["args"]["message"]) for r in receives],
                         [("recv " + n, m) for n, m, _, _ in KV_SESSION])
        replies = [e for e in ipc if e["tid"] == server and e["args"]["kind"] == "Reply"]
        self.assertEqual([(r["name"], r["args"].get("message")) for r in replies],
                         [(f"reply {n}: {err}", res) for n, _, err, res in KV_SESSION])
        flows = self.assert_flows_end(trace)
        for call, receive, reply in zip(calls, receives, replies):
            ends = sorted((f["cat"], f["ts"]) for s, f in flows.values() if s["tid"] == client and f["tid"] == server
                          and call["ts"] <= s["ts"] <= call["ts"] + call["dur"])
            self.assertEqual([cat for cat, _ in ends], ["message", "reply"], call)
            for (_, ts), target in zip(ends, (receive, reply)):
                self.assertTrue(target["ts"] <= ts <= target["ts"] + target["dur"], (call, target))

    def test_TRACEHOST0026_programs_and_window_on_the_recording(self):
        """--programs kv,kvclient --window auto: --top has only their rows, over the span of their
        messages to each other (5% margins); the PNG has the asked width; the JSON keeps every
        event. Unknown programs and bad windows are usage errors."""
        png = self.dir / "kv.png"
        result, trace = self.fixture("--programs", "kv,kvclient", "--window", "auto", "--top",
                                     "--png", str(png), "--png-width", "900")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(trace["traceEvents"]), len(self.fixture()[1]["traceEvents"]))
        self.assertEqual(set(self.top_rows(result.stdout)), {"kv/kv", "kvclient/kvclient"}, result.stdout)
        window = re.search(r"shown: programs kv, kvclient; ([\d.]+)-([\d.]+) ms", result.stdout)
        self.assertIsNotNone(window, result.stdout)
        lo, hi = (float(x) * 1000 for x in window.groups())
        calls = [e for e in self.events(trace, "X") if e["name"].startswith(("Store.", "reply Store."))]
        first, last = calls[0]["ts"], calls[-1]["ts"]
        margin = (last - first) * 0.05
        self.assertAlmostEqual(lo, first - margin, delta=2)
        self.assertAlmostEqual(hi, last + margin, delta=2)
        sent = [e for e in self.events(trace, "X") if e["tid"] == self.fixture_tids(trace)["kvclient/kvclient"]
                and e["args"].get("kind") in ("Call", "Send") and lo <= e["ts"] <= hi]
        self.assertEqual(int(self.top_rows(result.stdout)["kvclient/kvclient"][4]), len(sent))  # SENT
        self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">I", png.read_bytes()[16:20])[0], 900)
        for bad, why in ((("--programs", "kv,nosuch"), "no program nosuch in the trace"),
                         (("--window", "5:1"), "START_MS must be at least 0 and below END_MS"),
                         (("--window", "soon"), "use auto or START_MS:END_MS")):
            result = run_tool("convert", str(FIXTURE), "-o", str(self.dir / "bad.json"), "--top", *bad)
            self.assertEqual(result.returncode, 2, bad)
            self.assertIn(why, result.stderr)

    def test_TRACEHOST0027_window_counts_only_inside(self):
        """--window START_MS:END_MS counts --top's numbers inside the window: run slices clipped to it,
        CPU% of its length; --programs leaves the other programs out."""
        result, _ = self.convert(self.session.data, "window", "--top", "--programs", "kvclient,timer",
                                 "--window", "0.5:1.4")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("shown: programs kvclient, timer; 0.500-1.400 ms", result.stdout)
        self.assertNotIn("kv/main", result.stdout)
        # ticks 1500..2400: kvclient runs from 2100 (woken), the timer 1500-1800 with one syscall
        self.assert_top_rows(result.stdout, {"kvclient/main": (300, 1, 1, 0, 0, 0, 0),
                                             "timer/timer": (300, 1, 0, 0, 0, 0, 1)}, 900)
        result, _ = self.convert(self.session.data, "window-auto", "--top", "--programs", "kv,kvclient",
                                 "--window", "auto")
        self.assertIn("shown: programs kv, kvclient; 0.080-2.720 ms", result.stdout)  # 1200..3600, 5% margins


if __name__ == "__main__":
    unittest.main(verbosity=2)
