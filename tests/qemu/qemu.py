"""Boots Tessera in QEMU: the one place that knows the QEMU command line and exit codes.

Used by scripts/run (interactive), the test harness and the benchmarks. TESSERA_QEMU overrides
the QEMU command (split like a shell would), e.g. to substitute a fake in the harness's tests.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

DEFAULT_MEM_MIB = 128
# The virtio-blk disk every test boot has (docs/drivers.md): a raw image of this size, zero-filled.
DISK_MIB = 64
# virtio-blk on the pc machine is a transitional device (PCI 1af4:1001, legacy and modern
# interfaces), in slot 00:04.0 so its address never depends on the order of other devices.
DISK_PCI_ADDR = "4"
DEBUG_EXIT_PORT = 0xF4
# -icount for reproducible guest instruction counts: 1 instruction = 1 ns of virtual time.
ICOUNT_EXACT = "shift=0,sleep=off"


class Outcome(enum.Enum):
    """How a boot ended, decoded from QEMU's exit status (isa-debug-exit: (code << 1) | 1)."""

    PASSED = "passed"  # guest wrote 0: everything it ran passed
    FAILED = "failed"  # guest wrote 1: some test failed
    PANICKED = "panicked"  # guest wrote 2: the kernel's panic handler ran
    RESET = "reset"  # status 0: reset or triple fault (-no-reboot)
    TIMED_OUT = "timed out"  # the harness killed a guest that ran past its deadline
    ERROR = "error"  # anything else: QEMU itself failed


_STATUS_OUTCOMES = {1: Outcome.PASSED, 3: Outcome.FAILED, 5: Outcome.PANICKED, 0: Outcome.RESET}


def outcome_of(status: int | None, timed_out: bool) -> Outcome:
    """Maps a QEMU exit status to an Outcome; never raises."""
    if timed_out:
        return Outcome.TIMED_OUT
    return _STATUS_OUTCOMES.get(status if status is not None else -1, Outcome.ERROR)


def qemu_program() -> list[str]:
    """The QEMU command to run, honouring TESSERA_QEMU."""
    return shlex.split(os.environ.get("TESSERA_QEMU", "qemu-system-x86_64"))


def fw_cfg_string(text: str) -> str:
    """Escapes text for a QEMU option value: a literal comma is written as two."""
    return text.replace(",", ",,")


def command(
    iso: Path | str,
    *,
    mem_mib: int = DEFAULT_MEM_MIB,
    cmdline: list[str] | None = None,
    serial: str = "stdio",
    icount: str | None = None,
    gdb_port: int | None = None,
    disk: Path | str | None = None,
    monitor: Path | str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """Builds the QEMU argv for booting `iso`.

    The kernel command line always carries mem_mib=<the -m size> first, then `cmdline` words;
    the kernel lets the last occurrence of a key win. With serial='mon:stdio' the QEMU monitor
    shares the terminal (Ctrl-A X quits); with `monitor`, the monitor listens on that Unix socket
    (boot() sends the guest's HARNESS-SENDKEY requests there); otherwise it is disabled. With `disk`, the raw
    image at that path is the machine's virtio-blk disk (PCI 00:04.0; see make_disk_image).
    """
    words = [f"mem_mib={mem_mib}", *(cmdline or [])]
    argv = qemu_program() + [
        "-M", "pc", "-cpu", "max", "-m", f"{mem_mib}M", "-smp", "1",
        "-display", "none", "-no-reboot",
        "-serial", serial,
        "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04",
        "-cdrom", str(iso),
        "-fw_cfg", "name=opt/tessera/cmdline,string=" + fw_cfg_string(" ".join(words)),
    ]
    if serial != "mon:stdio":
        argv += ["-monitor", f"unix:{fw_cfg_string(str(monitor))},server=on,wait=off" if monitor else "none"]
    if disk is not None:
        argv += ["-drive", f"file={fw_cfg_string(str(disk))},if=none,id=disk0,format=raw,cache=unsafe",
                 "-device", f"virtio-blk-pci,drive=disk0,addr={DISK_PCI_ADDR}"]
    if icount:
        argv += ["-icount", icount]
    if gdb_port is not None:
        argv += ["-gdb", f"tcp::{gdb_port}", "-S"]
    return argv + list(extra or [])


def make_disk_image(path: Path | str, mib: int = DISK_MIB) -> Path:
    """Creates (or empties) the raw disk image at `path`: `mib` MiB of zeroes, sparse on the host."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as image:
        image.truncate(mib << 20)
    return path


@dataclasses.dataclass
class Boot:
    """What one boot produced: its serial lines (also saved in log_path) and how it ended."""

    argv: list[str]
    log_path: Path
    lines: list[str]
    line_seconds: list[float]  # wall time from QEMU start to each line
    status: int | None
    timed_out: bool
    stopped: bool  # the caller's stop_when matched and QEMU was killed on purpose
    seconds: float
    banner_seconds: float | None  # wall time from QEMU start to the first 'Tessera' line
    stderr: str

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status, self.timed_out)

    def describe_end(self) -> str:
        """One human-readable line saying how the boot ended."""
        if self.stopped:
            return "stopped by the harness once the awaited line arrived"
        if self.timed_out:
            return f"guest still running after {self.seconds:.0f}s: QEMU killed (hang?)"
        text = {
            Outcome.PASSED: "guest exited: passed (status 1)",
            Outcome.FAILED: "guest exited: tests failed (status 3)",
            Outcome.PANICKED: "guest exited: kernel panic (status 5)",
            Outcome.RESET: "guest reset or triple-faulted (status 0)",
        }.get(self.outcome)
        if text:
            return text
        first_error = self.stderr.strip().splitlines()[:1]
        return f"QEMU failed with status {self.status}" + (f": {first_error[0]}" if first_error else "")

    def tail(self, count: int = 40) -> list[str]:
        """The last `count` serial lines, then QEMU's stderr lines if it wrote any."""
        out = self.lines[-count:]
        if self.stderr.strip():
            out = out + ["--- qemu stderr ---"] + self.stderr.strip().splitlines()[-10:]
        return out


def host_tsc_ghz() -> float | None:
    """The host's TSC rate in GHz (from /proc/cpuinfo), for the benchmarks' wall times: without
    -icount a guest's rdtsc reads the host TSC. None when it cannot be found."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    return None


# Requests a guest may make on its serial output (docs/testing.md, "Asking the harness for input").
_HARNESS_REQUEST = re.compile(rb"HARNESS-(INPUT|AWAIT|SENDKEY)((?: [0-9A-Za-z_-]+)+)")
SENDKEY_PAUSE = 0.3  # seconds between keys: QEMU holds each for 100 ms, then releases it
# Serial input waits in QEMU's character device until the guest's UART takes it, while a key goes
# to the i8042 at once: a key asked for right after serial input waits this long after it, so the
# two arrive in the order the guest asked for them (KBD0004 on a loaded host).
INPUT_SETTLE = 0.5


class GuestRequests:
    """Answers the HARNESS-* lines of a guest: serial input now (INPUT), serial input once a line
    containing a text appears (AWAIT), key presses through the QEMU monitor (SENDKEY)."""

    def __init__(self, proc: subprocess.Popen, monitor: Path | str | None):
        self.proc = proc
        self.monitor_path = monitor
        self.monitor: socket.socket | None = None
        self.awaiting: list[tuple[bytes, bytes]] = []
        self.last_input = 0.0

    def line(self, raw: bytes) -> None:
        for pattern, reply in list(self.awaiting):
            if pattern in raw:
                self.awaiting.remove((pattern, reply))
                self._input(reply)
        match = _HARNESS_REQUEST.search(raw)
        if not match:
            return
        kind, words = match.group(1), match.group(2).split()
        try:
            if kind == b"INPUT":
                self._input(bytes.fromhex(words[0].decode()))
            elif kind == b"AWAIT" and len(words) == 2:
                self.awaiting.append((bytes.fromhex(words[0].decode()), bytes.fromhex(words[1].decode())))
            elif kind == b"SENDKEY":
                settle = INPUT_SETTLE - (time.monotonic() - self.last_input)
                if settle > 0:
                    time.sleep(settle)
                for key in words:
                    self._sendkey(key.decode())
        except (ValueError, OSError):
            pass  # a malformed request or a guest that is gone: the test fails by itself

    def _input(self, data: bytes) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            self.last_input = time.monotonic()

    def _sendkey(self, key: str) -> None:
        if self.monitor_path is None:
            return
        if self.monitor is None:
            for _ in range(50):
                try:
                    self.monitor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.monitor.connect(str(self.monitor_path))
                    self.monitor.setblocking(False)
                    break
                except OSError:
                    self.monitor = None
                    time.sleep(0.1)
            if self.monitor is None:
                return
        self.monitor.sendall(f"sendkey {key}\n".encode())
        time.sleep(SENDKEY_PAUSE)
        try:
            while self.monitor.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()


def boot(argv: list[str], log_path: Path, timeout: float,
         stop_when: Callable[[str], bool] | None = None, monitor: Path | str | None = None) -> Boot:
    """Runs QEMU until it exits or `timeout` seconds pass (then kills it), saving the serial log.

    If `stop_when` is given, QEMU is also killed right after the first serial line it accepts.
    The guest's HARNESS-* requests are answered (GuestRequests); SENDKEY needs `monitor`, the
    socket the argv's -monitor listens on (command(monitor=...)).

    Guarantees: QEMU never outlives this call (also on KeyboardInterrupt), serial bytes that are
    not UTF-8 are replaced rather than raising, and the log file holds every line read.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    line_seconds: list[float] = []
    banner_at: list[float] = []
    stopped = threading.Event()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    requests = GuestRequests(proc, monitor)

    def read_serial() -> None:
        assert proc.stdout is not None
        with open(log_path, "w", encoding="utf-8") as log:
            for raw in proc.stdout:
                now = time.monotonic() - start
                try:
                    requests.line(raw.rstrip(b"\r\n"))
                except (BrokenPipeError, ValueError):
                    pass
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not banner_at and line.startswith("Tessera"):
                    banner_at.append(now)
                line_seconds.append(now)
                lines.append(line)
                log.write(line + "\n")
                log.flush()
                if stop_when is not None and not stopped.is_set() and stop_when(line):
                    stopped.set()
                    proc.kill()

    stderr_chunks: list[bytes] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        stderr_chunks.append(proc.stderr.read())

    readers = [threading.Thread(target=read_serial, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    requests.close()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace")
    if stderr.strip():
        with open(log_path, "a", encoding="utf-8") as log:
            log.write("--- qemu stderr ---\n" + stderr)
    return Boot(argv=argv, log_path=log_path, lines=list(lines), line_seconds=list(line_seconds),
                status=None if timed_out else proc.returncode, timed_out=timed_out,
                stopped=stopped.is_set(),
                seconds=time.monotonic() - start,
                banner_seconds=banner_at[0] if banner_at else None, stderr=stderr)


def main() -> int:
    """CLI for shell scripts: prints the argv of `command(...)` NUL-separated on stdout."""
    import argparse

    parser = argparse.ArgumentParser(description="print the QEMU command line for Tessera")
    parser.add_argument("--iso", required=True)
    parser.add_argument("--mem", type=int, default=DEFAULT_MEM_MIB)
    parser.add_argument("--cmdline", default="")
    parser.add_argument("--serial", default="stdio")
    parser.add_argument("--icount", default=None)
    parser.add_argument("--gdb-port", type=int, default=None)
    parser.add_argument("--disk", default=None, help="raw image attached as the virtio-blk disk")
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    argv = command(args.iso, mem_mib=args.mem, cmdline=args.cmdline.split(), serial=args.serial,
                   icount=args.icount, gdb_port=args.gdb_port, disk=args.disk, extra=args.extra)
    os.write(1, b"".join(a.encode() + b"\0" for a in argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
