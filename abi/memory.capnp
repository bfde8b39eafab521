# The memory server (servers/memory): regions of memory, demand paging, quotas (docs/memory.md).
#
# Every program started by init has a *session*: a badged capability to the memory server that is
# both the endpoint it calls (Session) and its threads' fault endpoint (the server is their pager).
# Every byte the server keeps for a session — frames, page tables, bookkeeping — is charged to
# that session's quota. A *region* is a capability too (a badge of the server's endpoint carrying
# the region and the rights it grants): passing it over IPC lets another program attach the same
# frames. Regions are named in Session methods by passing the region capability along.
@0xda5180fbec3b2129;

using Abi = import "base.capnp";
using Kernel = import "kernel.capnp";
$Abi.namespace("tessera::memory");

const pageBytes :UInt64 = 4096;
const largePageBytes :UInt64 = 2097152;
const maxRegionBytes :UInt64 = 68719476736;  # 64 GiB: larger requests are RangeError

# Region rights (a bit set): what attaching may grant. Write and execute never together (W^X).
const rightRead :UInt8 = 1;
const rightWrite :UInt8 = 2;
const rightExecute :UInt8 = 4;
const rightsAll :UInt8 = 7;

# Where attach places a region when no address is given: inside this window of every space.
const placementBase :UInt64 = 0x0000200000000000;
const placementLimit :UInt64 = 0x0000400000000000;
# Every attachment lies in user space below this (the kernel's user-address limit; addresses
# above it, non-canonical ones and the kernel's half are refused with RangeError).
const attachLimit :UInt64 = 0x00007FFFFFFFF000;
# The device window: where drivers map device memory themselves (libsys DeviceSpace, with page
# tables from createObject). No attachment may lie in it (RangeError), so the server never makes
# or uses a page table there.
const deviceWindowBase :UInt64 = 0x0000600000000000;
const deviceWindowLimit :UInt64 = 0x0000700000000000;

enum PageSize @0xac53fa6b27d3bdb4 {
  small @0;  # 4 KiB
  large @1;  # 2 MiB
}

interface Region @0xe40cc8b4c701d06d {
  # No methods: a region capability is named as a parameter of Session's methods.
}

interface Session @0xf73c3a8ad01ae66e {
  createRegion @0 (bytes :UInt64, pageSize :PageSize, eager :Bool) -> (region :Region);
  # A zero-filled region of `bytes` (1..maxRegionBytes, rounded up to the page size), backed lazily
  # (a frame on the first touch of each page) unless `eager`. The reply's capability grants
  # rightsAll. OutOfMemory when the quota cannot pay for it (eager: every frame; lazy: its
  # bookkeeping), RangeError for 0 or too large.
  attach @1 (region :Region, address :UInt64, rights :UInt8) -> (address :UInt64);
  # Maps the region into this session's address space at `address` (aligned to the region's page
  # size; 0: any free place in the placement window, with an unmapped guard page between it and
  # the attachment below) with `rights` (a subset of the capability's;
  # write and execute together are InvalidArgument). Backed pages are mapped at once, the rest on
  # first touch. AlignmentError, RangeError (outside user space or the attach limit, or in the
  # device window),
  # DeleteFirst (overlaps an attachment), InvalidCapability (not a region of this server, or
  # revoked).
  detach @2 (address :UInt64) -> ();
  # Unmaps the attachment that starts at `address`. EmptySlot when none starts there.
  resize @3 (region :Region, bytes :UInt64) -> ();
  # Grows or shrinks the region (needs write). Growing: every attachment must have room after it
  # (DeleteFirst otherwise); shrinking: no attached, backed page may lie beyond the new end (Busy).
  share @4 (region :Region, rights :UInt8) -> (region :Region);
  # A capability to the same region with fewer rights (e.g. read-only, to pass to a client).
  release @5 (region :Region) -> ();
  # This session stops holding the region: its attachments of it are detached and, when no other
  # session holds it, its frames go back. Capabilities to it are no longer honoured after the
  # last holder lets go (InvalidCapability).
  revoke @6 (region :Region) -> (region :Region);
  # The creator takes back every capability to the region: other sessions' attachments of it are
  # detached and every capability to it (the creator's too) is refused from now on; the reply
  # carries the creator's new capability. IllegalOperation for a session that did not create it.
  # Frame capabilities handed out by `frame` are not region capabilities: they stay valid until
  # the frame itself goes (the region is released by its last holder, or shrunk past the page).
  frame @7 (region :Region, page :UInt64) -> (frame :Kernel.Frame);
  # A copy of the frame behind page `page` (backing it first), for loaders and drivers (its
  # physical address: Frame.getAddress, for DMA). Needs write. Revoked with the region.
  describe @8 (region :Region) -> (bytes :UInt64, pageSize :PageSize, rights :UInt8,
                                   backedPages :UInt64);
  status @9 () -> (quota :UInt64, used :UInt64, granted :UInt64, regions :UInt32,
                   attachments :UInt32, faults :UInt64);
  # The session's accounting: `used` bytes charged of quota + `granted` (spare memory given above
  # the quota by the allocation model), the regions it holds, its attachments and the page
  # faults the server resolved for it.
  reserve @10 (bytes :UInt64) -> (granted :UInt64);
  # Asks for `bytes` above the guaranteed quota (0: give back what was granted). When the spare
  # memory cannot cover every session's request, the allocation model (docs/memory.md) decides;
  # the reply says how much this session may now use above its quota.
  createObject @11 (type :Kernel.ObjectType, sizeBits :UInt8) -> (object :Capability, id :UInt64);
  # A kernel object for this program — tcb, endpoint, notification, or a cnode of 2^sizeBits
  # slots (1..5) — so a program without untyped memory can make threads (libsys Thread over a
  # session: TCB from here, stack and IPC buffer from regions) and channels. Charged like a page
  # table (4 KiB and a slot), deleted when the session ends. InvalidArgument for other types,
  # RangeError for a cnode size outside 1..5, OutOfMemory beyond the quota. `id` names it for
  # deleteObject.
  deleteObject @12 (id :UInt64) -> ();
  # Deletes an object createObject made for this session (every capability to it goes too) and
  # gives its memory back. EmptySlot when the session has no object `id`.
  deviceTables @13 (address :UInt64) -> (made :UInt32);
  # Makes the page table (and the page directory and PDPT above it when missing) that a 4 KiB page
  # at `address` in the device window needs in this session's space, so the program can map
  # device frames there itself (libsys DeviceSpace: Frame.map with its own frames from device
  # untypeds). Page-table capabilities cannot be copied, so the server keeps them; they are
  # charged like every table and deleted when the session ends. `made`: how many were made (0:
  # the table was there). RangeError outside the device window, OutOfMemory beyond the quota.
}

interface Control @0xa54f9d1bc3de2f01 {
  # The supervisor's capability (unbadged): sessions and the report of faults the pager could
  # not resolve.
  openSession @0 (name :Text, quota :UInt64, weight :UInt64, vspace :Kernel.Pml4)
      -> (session :Session, id :UInt32);
  # A session for the program `name` whose address space is `vspace` (the server maps into it
  # and makes its page tables, charged to the session), with `quota` bytes guaranteed and
  # `weight` as its cost in the allocation model. OutOfMemory when the quotas already promised
  # leave less than `quota` free.
  closeSession @1 (id :UInt32) -> ();
  # Ends a session: its attachments go, its regions are released, its page tables and frames
  # go back. EmptySlot for an unknown id.
  setWeight @2 (id :UInt32, weight :UInt64) -> ();
  events @3 (notification :Kernel.Notification) -> ();
  # The notification the server signals when a session faulted beyond what the pager resolves.
  takeFault @4 () -> (id :UInt32, kind :UInt64, ip :UInt64, address :UInt64, detail :UInt64,
                      pending :Bool);
  # The oldest unreported fault (WouldBlock when none): the session, the FaultKind, the
  # instruction and the address (page faults) or the detail word. `pending`: more are queued.
  status @5 () -> (totalBytes :UInt64, freeBytes :UInt64, promisedBytes :UInt64,
                   sessions :UInt32, regions :UInt32, frames :UInt64);
  # The machine's memory as the server sees it: all it manages, what is not backing anything
  # now, the quotas promised, and what exists.
  threadCount @6 (id :UInt32) -> (count :UInt32);
  # How many threads (TCBs createObject made) session `id` has now. EmptySlot for an unknown id.
  thread @7 (id :UInt32, index :UInt32) -> (tcb :Kernel.Tcb);
  # A copy of the TCB of the session's thread `index` (0..count-1, in the order they were made),
  # for the supervisor to read (Tcb.getStats: init's control protocol, abi/init.capnp); delete it
  # when done. RangeError past the last, EmptySlot for an unknown id.
}
