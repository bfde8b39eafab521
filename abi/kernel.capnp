# Kernel object invocations: one interface per kernel object type. An invocation is a Call on
# the object's capability; the label is the interface code and method ordinal, the message body
# the method's parameter struct (docs/abi.md). Semantics follow seL4 (docs: SEL4-NOTES).
# Capability parameters travel in the extra-capability slots (at most three per message).
@0xfe8be88eecc90ac1;

using Abi = import "base.capnp";
$Abi.namespace("tessera::abi");

enum ObjectType @0x921e093bea08e5f9 {
  # What Untyped.retype creates.
  untyped @0;
  tcb @1;
  endpoint @2;
  notification @3;
  cnode @4;
  schedContext @5;
  reply @6;
  pml4 @7;
  pdpt @8;
  pageDirectory @9;
  pageTable @10;
  frame4k @11;
  frame2m @12;
  frame1g @13;
}

# Capability rights, a bit set (CNode.copy/mint, Frame.map).
const rightRead :UInt8 = 1;
const rightWrite :UInt8 = 2;
const rightGrant :UInt8 = 4;
const rightGrantReply :UInt8 = 8;
const rightsAll :UInt8 = 15;

# Mapping attributes (the page-table objects and frames).
const attrWriteBack :UInt8 = 0;
const attrCacheDisabled :UInt8 = 1;
const attrWriteCombining :UInt8 = 2;
const attrExecuteNever :UInt8 = 4;

const maxRetypeCount :UInt32 = 256;
const maxWriteFrameBytes :UInt32 = 4096;
# IoPort.writeFrame's most bytes per call: the kernel runs it with interrupts off, so this bounds
# the latency one call adds (a port write is a VM exit under emulation, about a microsecond on
# hardware).

interface Endpoint @0xa44e8f5c4bbe9bd8 {
  # No invocations: used through Send/Recv/Call/ReplyRecv. Named here as a capability type.
}

interface Notification @0xe3cc27bff3eabb4d {
  # No invocations: Signal = Send, Wait = Recv, Poll = NBRecv. Named here as a capability type.
}

interface Untyped @0xaa346d4e2339dae0 $Abi.kernelObject $Abi.interfaceCode(1) {
  retype @0 (type :ObjectType, sizeBits :UInt8, root :CNode, index :UInt64, depth :UInt8,
             offset :UInt64, count :UInt32) -> ();
  # Creates `count` (1..maxRetypeCount) objects of `type` (size 2^sizeBits where the type is
  # variable-sized) in the slots root[index + offset ..] at `depth`.
  describe @1 () -> (paddr :UInt64, sizeBits :UInt8, isDevice :Bool, watermark :UInt64);
  # The memory the capability covers (physical address, 2^sizeBits bytes, device memory or RAM)
  # and how much of it retype has used (bytes from paddr). A supervisor that hands an untyped to
  # another process (e.g. in a BootInfo it writes) describes it with this.
}

interface CNode @0x90689d549efe2413 $Abi.kernelObject $Abi.interfaceCode(2) {
  # The invoked CNode is the destination root; slots are addressed by (index, depth).
  copy @0 (destIndex :UInt64, destDepth :UInt8, srcRoot :CNode, srcIndex :UInt64,
           srcDepth :UInt8, rights :UInt8) -> ();
  mint @1 (destIndex :UInt64, destDepth :UInt8, srcRoot :CNode, srcIndex :UInt64,
           srcDepth :UInt8, rights :UInt8, badge :UInt64) -> ();
  move @2 (destIndex :UInt64, destDepth :UInt8, srcRoot :CNode, srcIndex :UInt64,
           srcDepth :UInt8) -> ();
  mutate @3 (destIndex :UInt64, destDepth :UInt8, srcRoot :CNode, srcIndex :UInt64,
             srcDepth :UInt8, badge :UInt64) -> ();
  rotate @4 (destIndex :UInt64, destDepth :UInt8, destBadge :UInt64, pivotRoot :CNode,
             pivotIndex :UInt64, pivotDepth :UInt8, pivotBadge :UInt64, srcRoot :CNode,
             srcIndex :UInt64, srcDepth :UInt8) -> ();
  revoke @5 (index :UInt64, depth :UInt8) -> ();
  delete @6 (index :UInt64, depth :UInt8) -> ();
  cancelBadgedSends @7 (index :UInt64, depth :UInt8) -> ();
}

interface Tcb @0x9318126c12748f3e $Abi.kernelObject $Abi.interfaceCode(3) {
  configure @0 (faultEndpoint :UInt64, cspaceRoot :CNode, cspaceRootData :UInt64,
                vspaceRoot :Pml4, vspaceRootData :UInt64, ipcBuffer :UInt64,
                ipcBufferFrame :Frame) -> ();
  # faultEndpoint is a CPtr in the thread's own CSpace, looked up when a fault happens.
  setPriority @1 (authority :Tcb, priority :UInt8) -> ();
  setMcPriority @2 (authority :Tcb, mcp :UInt8) -> ();
  setSchedParams @3 (authority :Tcb, mcp :UInt8, priority :UInt8, schedContext :SchedContext) -> ();
  # Sets MCP and priority (both bounded by the authority's MCP) and binds the scheduling context.
  # (Fault endpoints are capability pointers set by configure/setSpace.)
  setIpcBuffer @4 (ipcBuffer :UInt64, ipcBufferFrame :Frame) -> ();
  setSpace @5 (faultEndpoint :UInt64, cspaceRoot :CNode, cspaceRootData :UInt64,
               vspaceRoot :Pml4, vspaceRootData :UInt64) -> ();
  suspend @6 () -> ();
  resume @7 () -> ();
  readRegisters @8 (suspendSource :Bool, count :UInt8) -> (
      rip :UInt64, rsp :UInt64, rflags :UInt64, rax :UInt64, rbx :UInt64, rcx :UInt64,
      rdx :UInt64, rsi :UInt64, rdi :UInt64, rbp :UInt64, r8 :UInt64, r9 :UInt64, r10 :UInt64,
      r11 :UInt64, r12 :UInt64, r13 :UInt64, r14 :UInt64, r15 :UInt64, fsBase :UInt64,
      gsBase :UInt64);
  # Reads the first `count` registers in the order of the results (the rest read as zero).
  writeRegisters @9 (resumeTarget :Bool, count :UInt8,
      rip :UInt64, rsp :UInt64, rflags :UInt64, rax :UInt64, rbx :UInt64, rcx :UInt64,
      rdx :UInt64, rsi :UInt64, rdi :UInt64, rbp :UInt64, r8 :UInt64, r9 :UInt64, r10 :UInt64,
      r11 :UInt64, r12 :UInt64, r13 :UInt64, r14 :UInt64, r15 :UInt64, fsBase :UInt64,
      gsBase :UInt64) -> ();
  copyRegisters @10 (source :Tcb, suspendSource :Bool, resumeTarget :Bool, transferFrame :Bool,
                     transferInteger :Bool) -> ();
  bindNotification @11 (notification :Notification) -> ();
  unbindNotification @12 () -> ();
  setTlsBase @13 (tlsBase :UInt64) -> ();
  getStats @14 () -> (cpuTimeNs :UInt64, timesScheduled :UInt64, wakeups :UInt64,
                      messagesSent :UInt64, messagesReceived :UInt64, syscalls :UInt64,
                      priority :UInt8, mcp :UInt8, state :UInt8, traceId :UInt32,
                      faults :UInt64);
  # The thread's accounting, for a scheduling policy in user space, and (read-only) its priority,
  # its maximum controlled priority and its state: 0 inactive (created or suspended), 1 runnable
  # (queued or running), 2 blocked in IPC or on a notification, 3 stopped by a fault; traceId
  # names the thread in trace records (tessera/trace.h); faults counts the user faults it took
  # (page faults, exceptions and unknown system calls sent to its fault handler, or stopping it).
  setName @15 (bytes0 :UInt64, bytes1 :UInt64, bytes2 :UInt64) -> ();
  # The thread's name for logs and traces: up to 23 bytes, in memory order in the three words
  # (little-endian), NUL-padded (kernel methods take flat parameters); RangeError when byte 23 is
  # not NUL. A ThreadName trace record follows when tracing is on.
}

interface IrqControl @0xa02f60dca04250e4 $Abi.kernelObject $Abi.interfaceCode(4) {
  # Each call places a new IRQHandler capability in root[index] at `depth`.
  getIoapic @0 (root :CNode, index :UInt64, depth :UInt8, ioapic :UInt8, pin :UInt8,
                level :Bool, activeLow :Bool, vector :UInt8) -> ();
  getMsi @1 (root :CNode, index :UInt64, depth :UInt8, pciBus :UInt8, pciDevice :UInt8,
             pciFunction :UInt8, handle :UInt32, vector :UInt8) -> ();
}

interface IrqHandler @0xa18c01c355b9586e $Abi.kernelObject $Abi.interfaceCode(5) {
  ack @0 () -> ();
  setNotification @1 (notification :Notification) -> ();
  clear @2 () -> ();
}

interface IoPortControl @0xb824387ec8656b28 $Abi.kernelObject $Abi.interfaceCode(6) {
  issue @0 (first :UInt16, last :UInt16, root :CNode, index :UInt64, depth :UInt8) -> ();
  # Places an IOPort capability for ports first..last (inclusive) in root[index] at `depth`.
}

interface IoPort @0xa6ca12397bf1346f $Abi.kernelObject $Abi.interfaceCode(7) {
  in8 @0 (port :UInt16) -> (value :UInt8);
  in16 @1 (port :UInt16) -> (value :UInt16);
  in32 @2 (port :UInt16) -> (value :UInt32);
  out8 @3 (port :UInt16, value :UInt8) -> ();
  out16 @4 (port :UInt16, value :UInt16) -> ();
  out32 @5 (port :UInt16, value :UInt32) -> ();
  writeFrame @6 (port :UInt16, frame :Frame, offset :UInt64, length :UInt32) -> ();
  # Writes `length` bytes (at most maxWriteFrameBytes) of `frame` from `offset` to the byte port
  # `port` (rep outsb): a stream of data out through a port without a call per byte (the trace
  # server's debugcon). The frame cap needs Read; RangeError when the bytes lie outside the frame.
}

interface Pml4 @0xe2915ca042b51a68 $Abi.kernelObject $Abi.interfaceCode(8) {
  # The root of an address space. As in seL4 x86-64 it has no invocations of its own: it is named
  # by Tcb.configure and by the map calls below.
}

interface Pdpt @0x897f8bb348e9d87e $Abi.kernelObject $Abi.interfaceCode(9) {
  map @0 (vspace :Pml4, vaddr :UInt64, attributes :UInt8) -> ();
  unmap @1 () -> ();
}

interface PageDirectory @0x930f935df184b127 $Abi.kernelObject $Abi.interfaceCode(10) {
  map @0 (vspace :Pml4, vaddr :UInt64, attributes :UInt8) -> ();
  unmap @1 () -> ();
}

interface PageTable @0xb76740fa171b78d5 $Abi.kernelObject $Abi.interfaceCode(11) {
  map @0 (vspace :Pml4, vaddr :UInt64, attributes :UInt8) -> ();
  unmap @1 () -> ();
}

interface Frame @0x9a12647eeac2758e $Abi.kernelObject $Abi.interfaceCode(12) {
  # One interface for 4 KiB, 2 MiB and 1 GiB frames: the size is a property of the object.
  map @0 (vspace :Pml4, vaddr :UInt64, rights :UInt8, attributes :UInt8) -> ();
  unmap @1 () -> ();
  getAddress @2 () -> (paddr :UInt64);
}

interface SchedControl @0xc0c03bba2fa81b60 $Abi.kernelObject $Abi.interfaceCode(13) {
  configure @0 (schedContext :SchedContext, budget :UInt64, period :UInt64,
                extraRefills :UInt32, badge :UInt64) -> ();
  # budget == period: round robin; budget < period: a reservation. Times in microseconds.
}

interface SchedContext @0xfddf5a55fb8237ad $Abi.kernelObject $Abi.interfaceCode(14) {
  bind @0 (object :Capability) -> ();
  # Binds a TCB or a Notification.
  unbind @1 () -> ();
  unbindObject @2 (object :Capability) -> ();
  consumed @3 () -> (consumed :UInt64);
  yieldTo @4 () -> (consumed :UInt64);
}

interface TraceControl @0xd5a4e3f0c1b27a69 $Abi.kernelObject $Abi.interfaceCode(15) {
  # The kernel's event tracing (docs/tracing.md, tessera/trace.h). Write: switch categories and
  # size rings; Read: drain them (status, consume, nameThreads). The rings themselves are
  # read-only 2 MiB frames the root task receives at boot (BootInfo.traceRings, one per CPU).
  setCategories @0 (categories :UInt32) -> (previous :UInt32);
  # Switches the categories (tessera::trace::Category bits) on every CPU; RangeError for unknown
  # bits. Switching from none to some emits a ThreadName record for every thread.
  setCapacity @1 (cpu :UInt32, records :UInt32) -> (discarded :UInt64);
  # Resizes CPU `cpu`'s ring to `records` (4 .. 65408) and empties it: records not yet consumed
  # are counted as dropped (and returned).
  consume @2 (cpu :UInt32, upTo :UInt64) -> ();
  # The reader has copied the records before `upTo` (free-running count): their slots may be
  # written again. RangeError for a count before the last one or beyond what was written.
  status @3 (cpu :UInt32) -> (written :UInt64, consumed :UInt64, dropped :UInt64,
                               capacity :UInt32, base :UInt64, categories :UInt32, cpus :UInt32);
  nameThreads @4 () -> (threads :UInt32);
  # A ThreadName record for every thread now (when a reader starts late).
}
