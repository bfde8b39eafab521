# init's control protocol (servers/init/control.cc, docs/shell.md): what a shell needs from the
# supervisor — the programs of the system description with their state, restarts, memory and
# threads, and starting, stopping and restarting them by name.
#
# Served by init itself on its supervision endpoint: a `control NAME` declaration in
# boot/system.conf and a `control:NAME` grant give a program a badged copy (write + grant-reply:
# call only). Requests are handled one at a time between faults and exits; nothing in a request is
# trusted (the generated dispatch checks every message; names are looked up, never indexed).
#
# Indices: programs are numbered 0..count-1 in the order of the description; a program's threads
# 0..threads-1, thread 0 being the thread init created (the program's first). init sees only the
# threads it made: threads a program makes itself (libsys Thread over its memory session) belong
# to the memory server's session and are not listed (docs/shell.md says why).
# Errors: RangeError for an index out of range, EmptySlot for a name no program has, Busy for
# `run` of a program that is running, IllegalOperation for `kill` of one that is not.
@0xac59bc6203812eb4;

using Abi = import "base.capnp";
$Abi.namespace("tessera::initctl");

const maxNameBytes :UInt32 = 31;

enum ProgramState @0x8a38c7d45cc89758 {
  notStarted @0;
  running @1;
  exited @2;    # ended with status 0, or killed through this protocol
  failed @3;    # faulted or exited with a non-zero status (and not restarted)
  givenUp @4;   # failed too often in a row: init stopped restarting it
  restarting @5;  # failed; init restarts it when its back-off has run out
}

enum ThreadState @0xc2dea3ee5a85a775 {
  # The kernel's (Tcb.getStats).
  inactive @0;  # created or suspended
  runnable @1;  # queued or running
  blocked @2;   # waiting in IPC or on a notification
  faulted @3;   # stopped by a fault
}

interface Init @0xebf748abcb0b417f {
  programCount @0 () -> (count :UInt32);
  program @1 (index :UInt32) -> (name :Text, state :ProgramState, pid :UInt32, starts :UInt32,
                                 restarts :UInt32, faults :UInt32, exitStatus :Int64,
                                 restartPolicy :Bool, priority :UInt8, memQuota :UInt64,
                                 memUsed :UInt64, threads :UInt32, upMs :UInt64);
  # `pid`: the number of its current (or last) instance, unique for this boot (0: never started).
  # memQuota/memUsed: its memory session's quota and the bytes charged now (the memory server's
  # Session.status; 0 when it is not running). upMs: since its last start (0 when not running).
  thread @2 (program :UInt32, index :UInt32) -> (cpuTimeNs :UInt64, timesScheduled :UInt64,
                                                 priority :UInt8, state :ThreadState,
                                                 wakeups :UInt64, messagesSent :UInt64,
                                                 messagesReceived :UInt64, syscalls :UInt64,
                                                 faults :UInt64);
  # From the kernel's Tcb.getStats: CPU time, how often it was scheduled, its priority and state
  # now, and its counters since it was created (wake-ups, messages sent and received, system calls,
  # faults taken: what the shell's `top` shows). RangeError for an index past `threads`,
  # IllegalOperation when the program is not running.
  find @3 (name :Text) -> (index :UInt32);
  run @4 (name :Text) -> (index :UInt32, pid :UInt32);
  # Starts the program again from the description (a new instance).
  kill @5 (name :Text) -> ();
  # Ends the program (its process is destroyed, its memory session closed); it is not restarted.
  # A program waiting out its restart back-off (`restarting`) has that restart cancelled.
  restart @6 (name :Text) -> (pid :UInt32);
  # kill (when running) and run.
  memory @7 () -> (totalBytes :UInt64, freeBytes :UInt64, promisedBytes :UInt64);
  # The machine's memory as the memory server sees it (its Control.status): all it manages, what
  # backs nothing now, the quotas promised. NotSupported when init runs without a memory server.
}
