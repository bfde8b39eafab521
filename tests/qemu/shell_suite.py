#!/usr/bin/env python3
"""The SHELL tests: one boot of the real system image (build/boot/tessera.iso, boot/system.conf) in
which the harness types into the serial console like a user and reads the screen.

Every test is a function that types through a ShellSession and checks what came back; they run in
order in the same boot (each starts at a fresh prompt: a failed test cancels its line with Ctrl-C).
A boot that never reaches the prompt fails every selected test. Results are qemu/shell/SHELL####.

Standalone: tests/qemu/shell_suite.py [--build-dir build] [--filter REGEX] (scripts/test runs it
after the other QEMU suites).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import qemu  # noqa: E402
from results import Reporter, TestResult  # noqa: E402

PROMPT = b"tessera:/$ "
# Any working directory's prompt.
ANY_PROMPT = rb"tessera:/[^\r\n$]*\$ "
SOURCE = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 90.0
STEP_TIMEOUT = 15.0


class ShellSession:
    """QEMU with the serial console on pipes: type(), then expect() what should appear."""

    def __init__(self, argv: list[str], log_path: Path):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output = bytearray()
        self.mark = 0
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                break
            self.log.write(chunk)
            self.log.flush()
            with self.cond:
                self.output += chunk
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def type(self, data: bytes) -> None:
        """Types `data`; what appears from now on is what expect() looks at."""
        with self.cond:
            self.mark = len(self.output)
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def expect(self, pattern: bytes, timeout: float = STEP_TIMEOUT) -> re.Match | None:
        """The first match of regex `pattern` in the output since the last type() (None on timeout);
        the next expect() looks after it."""
        regex = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                match = regex.search(bytes(self.output), self.mark)
                if match:
                    self.mark = match.end()
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))

    def since(self, start: int) -> str:
        with self.cond:
            return bytes(self.output[start:]).decode("utf-8", errors="replace")

    def position(self) -> int:
        with self.cond:
            return len(self.output)

    def command(self, line: str, timeout: float = STEP_TIMEOUT) -> str | None:
        """Types `line` and Enter; the output between the echoed line and the next prompt."""
        self.type(line.encode() + b"\r")
        match = self.expect(re.escape(line.encode()) + rb"\r\n(.*?)" + ANY_PROMPT, timeout)
        if not match:
            return None
        text = match.group(1).decode("utf-8", errors="replace").replace("\r\n", "\n")
        # init's own log lines (its debug write: "init: kv killed") and a started server's log
        # ("kv: serving", "fs: ext2, ...") interleave with the output.
        return "".join(line for line in text.splitlines(keepends=True)
                       if not line.startswith(("init: ", "fs: ")) and line != "kv: serving\n")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        self.log.close()


class Failed(Exception):
    pass


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise Failed(reason)


def run_ok(s: ShellSession, line: str) -> str:
    out = s.command(line)
    check(out is not None, f"no prompt after `{line}`")
    return out


def await_log(s: ShellSession, start: int, text: str, timeout: float = STEP_TIMEOUT) -> None:
    """Waits until a server's own log line (its debug write, e.g. "fs: ext2, ...") has appeared since
    output position `start`: typing the next command before it could let the line land inside the
    echo of what is typed."""
    deadline = time.monotonic() + timeout
    while text not in s.since(start):
        check(time.monotonic() < deadline, f"no `{text}` line")
        time.sleep(0.1)


# ---- The tests --------------------------------------------------------------------------------------
def shell0001(s: ShellSession, boot_log: str) -> None:
    """the prompt appears after the boot log (kvclient's lines through the console driver above it)"""
    check("kvclient: ok put greeting=hello" in boot_log, "kvclient's lines are missing from the boot log")
    check("kvclient: done, 0 failed" in boot_log, "kvclient did not finish cleanly")
    check(boot_log.rstrip().endswith(PROMPT.decode().rstrip()), "the boot log does not end at the prompt")


def shell0002(s: ShellSession, _: str) -> None:
    """echo prints its words; help lists every command"""
    check(run_ok(s, "echo hello   world") == "hello world\n", "echo hello world")
    out = run_ok(s, "help")
    for name in ("help", "echo", "ps", "top", "mem", "run", "kill", "restart", "ls", "cat", "mkdir", "rm", "rmdir", "mv",
                 "ln", "stat", "df", "sync", "cd", "pwd"):
        check(re.search(rf"^  {name}\b", out, re.M) is not None, f"help does not list {name}")


def shell0003(s: ShellSession, _: str) -> None:
    """an unknown command is one clear line; wrong usage too"""
    check(run_ok(s, "frobnicate now") == "frobnicate: unknown command (try help)\n", "unknown command")
    check(run_ok(s, "kill") == "kill: usage: kill PROGRAM\n", "kill without a program")
    check(run_ok(s, "ps > x") == "ps: output cannot be redirected (only echo's can)\n", "redirecting ps")


def shell0004(s: ShellSession, _: str) -> None:
    """backspace (DEL and BS) erases the last character, echoed as \\b \\b; nothing to erase is ignored"""
    s.type(b"\x7f\x08echoo\x7f x\x08y\r")
    check(s.expect(rb"echoo\x08 \x08 x\x08 \x08y\r\ny\r\n" + re.escape(PROMPT)) is not None, "the edited line runs `echo y`")


def shell0005(s: ShellSession, _: str) -> None:
    """Ctrl-U erases the whole line"""
    s.type(b"garbage\x15echo clean\r")
    check(s.expect(rb"garbage(\x08 \x08){7}echo clean\r\nclean\r\n" + re.escape(PROMPT)) is not None,
          "Ctrl-U then `echo clean`")


def shell0006(s: ShellSession, _: str) -> None:
    """Ctrl-C cancels the line: ^C, a new prompt, nothing runs"""
    s.type(b"echo cancelled\x03")
    check(s.expect(rb"echo cancelled\^C\r\n" + re.escape(PROMPT)) is not None, "^C and a new prompt")
    check("cancelled\r\n" not in s.since(s.mark), "the cancelled line ran")
    check(run_ok(s, "echo after") == "after\n", "the next line runs")


def shell0007(s: ShellSession, _: str) -> None:
    """ps lists init's programs with pid, state and priority, and each running one's thread with CPU time"""
    out = run_ok(s, "ps")
    for name in ("console", "kbd", "kv", "timer", "blk", "shell"):
        check(re.search(rf"^\s+\d+ {name}\s+running\s+\d+", out, re.M) is not None, f"ps: {name} running")
    check(re.search(r"^\s+\d+ kvclient\s+exited", out, re.M) is not None, "ps: kvclient exited")
    threads = re.findall(r"thread 0: cpu \d+\.\d{3} ms, scheduled \d+ times, priority \d+, (blocked|runnable)", out)
    check(len(threads) >= 6, f"ps: {len(threads)} thread lines")
    # console's worker thread is one it made itself (its memory session): init lists it too.
    check(re.search(r"\d+ console .*\n\s+thread 0: .*\n\s+thread 1: cpu .* priority 100, (blocked|runnable)", out)
          is not None, "ps: console's worker thread (made through its memory session)")
    # The shell's thread waits for init's answer while init reads its state.
    check(re.search(r"\d+ shell .*\n\s+thread 0: .* priority 90, blocked", out) is not None,
          "ps: the shell's own thread is blocked (calling init) at priority 90")
    check(re.search(r"\d+ timer .*\n\s+thread 0: .* priority 200, blocked", out) is not None,
          "ps: the timer's thread waits at priority 200")


def shell0008(s: ShellSession, _: str) -> None:
    """mem shows every running program's quota and use from its memory session"""
    out = run_ok(s, "mem")
    check(re.search(r"^kv\s+running\s+16384\s+[1-9]\d*$", out, re.M) is not None, "mem: kv 16 MiB quota, some used")
    check(re.search(r"^console\s+running\s+4096\s+[1-9]\d*$", out, re.M) is not None, "mem: console 4 MiB")
    check(re.search(r"^kvclient\s+exited\s+-\s+-$", out, re.M) is not None, "mem: kvclient not running")
    check(re.search(r"^total\s+\d+\s+\d+$", out, re.M) is not None, "mem: total")
    check(re.search(r"^memory server: [1-9]\d* KiB managed, [1-9]\d* KiB free, [1-9]\d* KiB promised as quotas$", out,
                    re.M) is not None, "mem: the machine's memory")


def shell0009(s: ShellSession, _: str) -> None:
    """kill, run and restart a program (kv) through init; refused: unknown names, running twice, the shell itself"""
    check(run_ok(s, "kill kv") == "kill: kv stopped\n", "kill kv")
    check(re.search(r"^\s+\d+ kv\s+exited", run_ok(s, "ps"), re.M) is not None, "kv exited after kill")
    check(run_ok(s, "kill kv") == "kill: kv: not running\n", "kill kv twice")
    out = run_ok(s, "run kv")
    check(re.fullmatch(r"run: kv started \(pid \d+\)\n", out) is not None, f"run kv: {out!r}")
    check(run_ok(s, "run kv") == "run: kv: already running\n", "run kv twice")
    out = run_ok(s, "restart kv")
    check(re.fullmatch(r"restart: kv restarted \(pid \d+\)\n", out) is not None, f"restart kv: {out!r}")
    check(re.search(r"^\s+\d+ kv\s+running", run_ok(s, "ps"), re.M) is not None, "kv running again")
    check(run_ok(s, "kill nope") == "kill: nope: no such program\n", "kill nope")
    check(run_ok(s, "restart " + "x" * 40) == "restart: " + "x" * 40 + ": no such program\n", "a long name")
    check(run_ok(s, "kill shell") == "kill: shell: the shell cannot kill itself\n", "kill shell")
    check(run_ok(s, "restart shell") == "restart: shell: the shell cannot restart itself\n", "restart shell")


def shell0010(s: ShellSession, _: str) -> None:
    """kvclient run again prints through the console (its old session is closed and opened anew) and passes"""
    out = run_ok(s, "run kvclient")
    check(out.startswith("run: kvclient started"), "run kvclient")
    s.type(b"")
    check(s.expect(rb"kvclient: ok put greeting=hello.*kvclient: done, 0 failed") is not None,
          "kvclient's second run finished")
    check(s.expect(rb"init: kvclient exited with status 0\r\n") is not None, "kvclient exited with 0")
    check(run_ok(s, "echo still here") == "still here\n", "the shell goes on")


def shell0011(s: ShellSession, _: str) -> None:
    """a line longer than the line buffer (200) is refused with one message; the next line works"""
    s.type(b"echo " + b"a" * 400 + b"\r")
    check(s.expect(rb"\r\nshell: line too long \(at most 200 characters\); ignored\r\n" + re.escape(PROMPT)) is not None,
          "line too long")
    check(run_ok(s, "echo short") == "short\n", "the next line")


def shell0012(s: ShellSession, _: str) -> None:
    """hostile bytes (NUL, control characters, 0x80-0xff, escape sequences) are ignored, not echoed"""
    s.type(b"\x00\x01\x02\x04\x07\x0b\x1b[A\x1b[1;5C\x1bOP\xff\xfe\x80\x9becho \xffsane\x00\r")
    check(s.expect(rb"echo sane\r\nsane\r\n" + re.escape(PROMPT)) is not None, "only `echo sane` was typed")
    check(run_ok(s, 'echo "two  spaces"') == "two  spaces\n", "quotes group words")
    check(run_ok(s, 'echo "open') == "shell: unterminated quote\n", "an open quote")
    check(run_ok(s, " ".join(["w"] * 20)) == "shell: too many words (at most 16)\n", "too many words")


def shell0013(s: ShellSession, _: str) -> None:
    """the file commands read the system's disk (boot/disk/ as ext2): ls, ls -l with types, sizes and a
    symlink's target, cat (also through a relative symlink), stat, df; errors are one line"""
    out = run_ok(s, "ls")
    check(out.split() == ["lost+found", "README", "bin", "docs", "tesserae"] or
          sorted(out.split()) == sorted(["lost+found", "README", "bin", "docs", "tesserae"]), f"ls /: {out!r}")
    readme = (SOURCE / "boot" / "disk" / "README").stat().st_size
    out = run_ok(s, "ls -l /")
    check(re.search(rf"^-rw-r--r--\s+1\s+{readme} README$", out, re.M) is not None, f"ls -l: README ({readme} bytes)")
    check(re.search(r"^drwxr-xr-x\s+2\s+\d+ docs$", out, re.M) is not None, "ls -l: docs is a directory")
    check(re.search(r"^l\S+\s+1\s+17 tesserae -> docs/tesserae.txt$", out, re.M) is not None, "ls -l: the symlink")
    text = (SOURCE / "boot" / "disk" / "docs" / "tesserae.txt").read_text()
    check(run_ok(s, "cat /docs/tesserae.txt") == text, "cat shows the file exactly")
    check(run_ok(s, "cat tesserae") == text, "cat through the relative symlink")
    random_size = (SOURCE / "boot" / "disk" / "bin" / "random.bin").stat().st_size
    out = run_ok(s, "stat /bin/random.bin")
    check(f"Type: regular file\n  Size: {random_size}\n" in out, f"stat: {out!r}")
    check(re.search(r"^\s+65536\s+\d+\s+\d+\s+16384\s+\d+$", run_ok(s, "df"), re.M) is not None, "df: 64 MiB, 16384 inodes")
    check(run_ok(s, "ls /nope") == "ls: /nope: not found\n", "ls /nope")
    check(run_ok(s, "cat /docs") == "cat: /docs: is a directory\n", "cat of a directory")
    check(run_ok(s, "cat /README/x") == "cat: /README/x: not a directory\n", "a file as a directory")
    check(run_ok(s, "cd /README") == "cd: /README: not a directory\n", "cd to a file")
    check(run_ok(s, "mkdir /docs") == "mkdir: /docs: already exists\n", "mkdir of what exists")


def shell0015(s: ShellSession, _: str) -> None:
    """the file commands write: mkdir, echo > and >>, ln, ln -s, mv, rm, rmdir (refused while not empty),
    cd and relative paths, pwd and the prompt; sync"""
    check(run_ok(s, "mkdir /t") == "", "mkdir /t")
    check(run_ok(s, "cd /t") == "", "cd /t")
    s.type(b"pwd\r")
    check(s.expect(rb"pwd\r\n/t\r\ntessera:/t\$ ") is not None, "pwd and the prompt show /t")
    check(run_ok(s, "echo hello shell > f") == "", "echo > f (relative)")
    check(run_ok(s, "echo second line >> /t/f") == "", "echo >> /t/f")
    check(run_ok(s, "cat f") == "hello shell\nsecond line\n", "cat f")
    check(run_ok(s, "ln f hard") == "" and run_ok(s, "ln -s f soft") == "", "ln and ln -s")
    out = run_ok(s, "ls -l")
    check(re.search(r"^-rw-r--r--\s+2\s+24 f$", out, re.M) is not None, f"f has two links: {out!r}")
    check(re.search(r"^l\S+\s+1\s+1 soft -> f$", out, re.M) is not None, "soft -> f")
    check(run_ok(s, "cat soft") == "hello shell\nsecond line\n", "cat through the symlink")
    check(run_ok(s, "mv hard ../moved") == "" and run_ok(s, "cat /moved") == "hello shell\nsecond line\n", "mv")
    check(run_ok(s, "rmdir /t") == "rmdir: /t: directory not empty\n", "rmdir of a full directory")
    check(run_ok(s, "rm f soft /nope") == "rm: /nope: not found\n", "rm of several, one missing")
    check(run_ok(s, "cd ..") == "" and run_ok(s, "rmdir /t") == "", "cd .., rmdir /t")
    check(run_ok(s, "ls /t") == "ls: /t: not found\n", "/t is gone")
    check(run_ok(s, "sync") == "", "sync")
    # No sync after it: the shell syncs after every command that changes the disk (SHELL0016 looks).
    check(run_ok(s, "echo kept > /kept") == "", "a file kept for the host check")


def shell0017(s: ShellSession, _: str) -> None:
    """kill fs: the file commands say the server is not running (instead of waiting for it); run fs: the
    shell connects to the new server and reads what it wrote before"""
    check(run_ok(s, "kill fs") == "kill: fs stopped\n", "kill fs")
    check(run_ok(s, "ls /") == "ls: the filesystem server is not running (run fs)\n", "ls without fs")
    start = s.position()
    check(run_ok(s, "run fs").startswith("run: fs started"), "run fs")
    await_log(s, start, "fs: ext2")  # the new server mounted (its line would split the next echo)
    check(run_ok(s, "cat /kept") == "kept\n", "cat through the new server (the shell connected again)")
    start = s.position()
    check(run_ok(s, "restart fs").startswith("restart: fs restarted"), "restart fs")
    await_log(s, start, "fs: ext2")
    check(run_ok(s, "cat /moved") == "hello shell\nsecond line\n", "and again after restart")


def shell0016(s: ShellSession, _: str) -> None:
    """after the boot, e2fsck -fn finds the disk clean and debugfs reads what the shell wrote (it syncs after every
    command that changes the disk)"""
    disk = s.disk
    s.close()
    fsck = subprocess.run([shutil.which("e2fsck") or "/usr/sbin/e2fsck", "-fn", str(disk)], capture_output=True, text=True)
    check(fsck.returncode == 0, f"e2fsck -fn: {fsck.returncode}: {fsck.stdout[-300:]}")
    debugfs = shutil.which("debugfs") or "/usr/sbin/debugfs"
    kept = subprocess.run([debugfs, "-R", "cat /kept", str(disk)], capture_output=True)
    check(kept.stdout == b"kept\n", f"debugfs cat /kept: {kept.stdout!r}")
    moved = subprocess.run([debugfs, "-R", "cat /moved", str(disk)], capture_output=True)
    check(moved.stdout == b"hello shell\nsecond line\n", f"debugfs cat /moved: {moved.stdout!r}")


def shell0014(s: ShellSession, _: str) -> None:
    """restart console from the shell: the new console subscribes to kbd again; the shell's console client reopens its session and goes on"""
    s.type(b"restart console\r")
    check(s.expect(rb"console: serving COM1 \(irq 4\) and the keyboard") is not None,
          "the new console has the keyboard again (the old subscription of its badge is replaced)")
    check(s.expect(rb"restart: console restarted \(pid \d+\)\r\n") is not None, "restart console")
    check(run_ok(s, "echo alive") == "alive\n", "the shell still reads and writes")


# `top`'s rows: PID (empty on thread and total rows), the label (program, "  thread N" or "total"),
# CPU(ms), CPU% ("-" for top -n), WAKEUPS, SENT, RECV, FAULTS, SYSCALLS, MEM(KiB) (empty on thread rows).
TOP_ROW = re.compile(r"^(?P<pid>[ \d]{5}) (?P<label>.{14}) +(?P<cpu>\d+\.\d{3}) +(?P<share>-|\d+\.\d) +(?P<wakeups>\d+) +"
                     r"(?P<sent>\d+) +(?P<recv>\d+) +(?P<faults>\d+) +(?P<syscalls>\d+)(?: +(?P<mem>\d+))?$")
TOP_COUNTERS = ("wakeups", "sent", "recv", "faults", "syscalls")


def parse_top(out: str) -> tuple[dict[str, dict], dict, dict[str, str]]:
    """top's output: the running programs by name (each with its rows' figures and "threads", the
    thread rows), the total row, and the programs not running with their state."""
    programs: dict[str, dict] = {}
    stopped: dict[str, str] = {}
    total: dict = {}
    current: dict | None = None
    for line in out.splitlines():
        m = TOP_ROW.match(line)
        if not m:
            other = re.match(r"^\s*\d+ (\S+)\s+\(([a-z-]+)\)$", line)
            if other:
                stopped[other[1]] = other[2]
            continue
        row = {key: int(m[key]) for key in TOP_COUNTERS}
        row["cpu"] = float(m["cpu"])
        row["share"] = None if m["share"] == "-" else float(m["share"])
        row["mem"] = int(m["mem"]) if m["mem"] else None
        label = m["label"].strip()
        if m["pid"].strip():
            current = programs[label] = row | {"pid": int(m["pid"]), "threads": []}
        elif label == "total":
            total = row
        else:
            check(current is not None and re.fullmatch(r"thread \d+", label) is not None, f"top: stray row {line!r}")
            current["threads"].append(row)
    return programs, total, stopped


def check_top_sums(programs: dict[str, dict], total: dict) -> None:
    """every program row is the sum of its thread rows, the total row the sum of the program rows"""
    for name, p in programs.items():
        check(len(p["threads"]) >= 1, f"top: {name} has no thread rows")
        for key in TOP_COUNTERS:
            check(p[key] == sum(t[key] for t in p["threads"]), f"top: {name}'s {key} is not its threads' sum")
        cpu = sum(t["cpu"] for t in p["threads"])
        check(cpu - 0.0005 <= p["cpu"] <= cpu + 0.001 * len(p["threads"]) + 0.0005, f"top: {name}'s CPU(ms)")
        check(p["mem"] is not None and all(t["mem"] is None for t in p["threads"]), f"top: {name}'s memory column")
    check(bool(total), "top: no total row")
    for key in TOP_COUNTERS:
        check(total[key] == sum(p[key] for p in programs.values()), f"top: total {key} is not the programs' sum")
    mem = sum(p["mem"] for p in programs.values())  # each rounded down; the total sums the bytes, as mem does
    check(mem <= total["mem"] < mem + len(programs), "top: the total memory is not the programs' sum")


def top_once(s: ShellSession) -> tuple[dict[str, dict], dict, dict[str, str]]:
    out = run_ok(s, "top -n")
    check(out.startswith("top -n: totals since each thread started"), f"top -n header: {out[:80]!r}")
    return parse_top(out)


def shell0018(s: ShellSession, _: str) -> None:
    """top -n: every running program with its threads' totals (rows add up), kv's messages, every program's
    page faults (the memory server pages them in), memory as mem shows it; a bad argument is one line"""
    programs, total, stopped = top_once(s)
    for name in ("console", "kbd", "kv", "timer", "blk", "fs", "shell"):
        check(name in programs, f"top -n: {name} missing")
    check(stopped.get("kvclient") == "exited", f"top -n: kvclient not shown as exited: {stopped}")
    check_top_sums(programs, total)
    check(len(programs["console"]["threads"]) >= 2, "top -n: console's worker thread (made through its memory session)")
    check(programs["kv"]["recv"] > 0 and programs["kv"]["sent"] > 0, "top -n: kv served kvclient: messages")
    check(programs["shell"]["sent"] > 0 and programs["shell"]["syscalls"] > programs["shell"]["sent"],
          "top -n: the shell's calls")
    for name, p in programs.items():
        check(p["share"] is None, f"top -n: {name} has a CPU% without an interval")
        check(p["faults"] > 0, f"top -n: {name} took no page faults")
        check(p["cpu"] > 0 and p["syscalls"] > 0, f"top -n: {name} never ran")
    kv_used = re.search(r"^kv\s+running\s+\d+\s+(\d+)$", run_ok(s, "mem"), re.M)
    check(kv_used is not None and int(kv_used[1]) == programs["kv"]["mem"], "top -n: kv's memory differs from mem's")
    check(run_ok(s, "top -x") == "top: unexpected argument -x (usage: top [-n])\n", "top -x")
    check(run_ok(s, "top -n now") == "top: unexpected argument now (usage: top [-n])\n", "top -n now")


def shell0019(s: ShellSession, _: str) -> None:
    """top: two samples 200 ms apart; the figures are what happened in between (idle kv: nothing; the shell
    and the timer it slept on: messages), CPU% per row at most 100 and summing to at most 100"""
    out = run_ok(s, "top")
    header = re.match(r"top: the last (\d+) ms \(CPU% of that time\); MEM\(KiB\) in use now\n", out)
    check(header is not None, f"top header: {out[:80]!r}")
    interval = int(header[1])
    check(200 <= interval < 2000, f"top: an interval of {interval} ms")
    programs, total, _ = parse_top(out)
    for name in ("console", "kbd", "kv", "timer", "blk", "fs", "shell"):
        check(name in programs, f"top: {name} missing")
    check_top_sums(programs, total)
    shares = [p["share"] for p in programs.values()]
    check(all(x is not None and 0 <= x <= 100 for x in shares), f"top: CPU% {shares}")
    check(sum(shares) <= 100.0, f"top: CPU% sums to {sum(shares):.1f}")
    check(abs(total["share"] - sum(shares)) <= 0.1 * len(shares) + 0.05, "top: the total CPU% is not the programs' sum")
    for name, p in programs.items():
        check(p["cpu"] <= interval + 1, f"top: {name} used {p['cpu']} ms of {interval}")
        check(p["share"] == 0 or abs(p["cpu"] / interval * 100 - p["share"]) < 1.0, f"top: {name}'s CPU% vs CPU(ms)")
    check(programs["kv"]["recv"] == 0 and programs["kv"]["sent"] == 0 and programs["kv"]["faults"] == 0,
          "top: idle kv shows messages or faults in the interval (cumulative figures?)")
    check(programs["shell"]["sent"] > 0, "top: the shell's calls in the interval")
    check(programs["timer"]["recv"] > 0 and programs["timer"]["wakeups"] > 0, "top: the timer woke for the shell's sleep")


def shell0020(s: ShellSession, _: str) -> None:
    """top -n after restart kv: the new instance (new pid) with its own, smaller counters; kvclient run
    against it makes kv's message counters grow again"""
    before = top_once(s)[0]["kv"]
    check(before["recv"] > 0, "top -n: kv received nothing before the restart")
    check(re.fullmatch(r"restart: kv restarted \(pid \d+\)\n", run_ok(s, "restart kv")) is not None, "restart kv")
    fresh = top_once(s)[0]["kv"]
    check(fresh["pid"] != before["pid"], f"top -n: kv's pid {fresh['pid']} did not change")
    check(fresh["recv"] < before["recv"] and fresh["syscalls"] < before["syscalls"],
          f"top -n: the new kv's counters are the old one's ({fresh} vs {before})")
    check(run_ok(s, "run kvclient").startswith("run: kvclient started"), "run kvclient")
    s.type(b"")
    check(s.expect(rb"init: kvclient exited with status 0\r\n") is not None, "kvclient exited with 0")
    after = top_once(s)[0]["kv"]
    check(after["pid"] == fresh["pid"] and after["recv"] > fresh["recv"] and after["sent"] > fresh["sent"],
          f"top -n: kv's messages did not grow with kvclient's calls ({after} vs {fresh})")


# In the order they run (one boot): SHELL0016 checks the disk after the boot and comes last; it
# and SHELL0017 need SHELL0015's files.
TESTS: list[tuple[str, Callable[[ShellSession, str], None]]] = [
    (fn.__name__.upper(), fn) for fn in
    [shell0001, shell0002, shell0003, shell0004, shell0005, shell0006, shell0007, shell0008, shell0009,
     shell0010, shell0011, shell0012, shell0013, shell0015, shell0017, shell0018, shell0019, shell0020, shell0014,
     shell0016]
]


def run(build: Path, log_dir: Path, report: Reporter, name_filter: re.Pattern | None = None) -> None:
    selected = [(name, fn) for name, fn in TESTS if not name_filter or name_filter.search(f"qemu/shell/{name}")]
    if not selected:
        return
    report.note(f"qemu/shell: {len(selected)} of {len(TESTS)} tests selected")
    iso = build / "boot" / "tessera.iso"
    log_path = log_dir / "shell.log"
    if not iso.exists():
        for name, _ in selected:
            report.add(TestResult(f"qemu/shell/{name}", False, 0.0, f"image {iso} does not exist", [], None))
        return
    # The system's disk as the build makes it (boot/disk/ in an ext2 file system), fresh each run.
    template = build / "boot" / "disk.img"
    disk = build / "tests" / "disks" / "shell.img"
    disk.parent.mkdir(parents=True, exist_ok=True)
    if template.exists():
        shutil.copyfile(template, disk)
    else:
        qemu.make_disk_image(disk)
    session = ShellSession(qemu.command(iso, disk=disk), log_path)
    session.disk = disk
    try:
        start = time.monotonic()
        booted = session.expect(re.escape(PROMPT), BOOT_TIMEOUT)
        boot_log = session.since(0)
        for name, fn in selected:
            t0 = time.monotonic()
            reason = ""
            if booted is None:
                reason = f"no shell prompt within {BOOT_TIMEOUT:.0f} s of boot"
            else:
                try:
                    fn(session, boot_log)
                except Failed as failure:
                    reason = str(failure)
                    session.type(b"\x03")  # a fresh line for the next test
                    session.expect(re.escape(PROMPT), 5.0)
            details = [] if not reason else session.since(max(0, session.position() - 1500)).splitlines()[-20:]
            report.add(TestResult(f"qemu/shell/{name}", not reason, time.monotonic() - (t0 if booted else start),
                                  f"{fn.__doc__}: {reason}" if reason else "", details, str(log_path)))
    finally:
        session.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--filter")
    args = parser.parse_args()
    report = Reporter()
    build = Path(args.build_dir).resolve()
    run(build, build / "test-results" / "qemu" / "shell", report, re.compile(args.filter) if args.filter else None)
    print(report.summary())
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
