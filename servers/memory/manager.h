// The memory server's logic (docs/memory.md): sessions, regions, attachments, the pager's
// decisions and the accounting, over a Backend that does the kernel's part (frames, mappings,
// capability slots). Pure C++: the server runs it over the kernel (kernel_backend.h), the host
// tests over a fake backend that counts every frame and table (tests/host/memory).
//
// Every operation either succeeds completely or changes nothing that a client can see, and every
// byte it keeps for a session is charged to that session first (OutOfMemory when the quota and
// the session's grant cannot pay). check() verifies the books: what each session is charged is
// exactly what it holds.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <tessera/result.h>

#include "allocation.h"

namespace memory {

using Slot = uint64_t;

constexpr uint8_t kRead = 1, kWrite = 2, kExecute = 4, kRightsAll = 7;
constexpr uint8_t kSmallShift = 12, kLargeShift = 21;

constexpr uint32_t kMaxSessions = 64;
constexpr uint32_t kMaxRegions = 1024;
constexpr uint32_t kMaxAttachments = 2048;
constexpr uint64_t kMaxRegionBytes = uint64_t{64} << 30;
constexpr size_t kNameBytes = 24;

// Where attach(address 0) places regions, and the highest address any attachment may reach.
constexpr uint64_t kPlacementBase = 0x0000200000000000ull;
constexpr uint64_t kPlacementLimit = 0x0000400000000000ull;
constexpr uint64_t kAttachLimit = 0x00007FFFFFFFF000ull;
// Drivers map device memory here themselves (libsys DeviceSpace, page tables from createObject):
// no attachment may lie in it, so the server never makes or uses a page table of the window.
constexpr uint64_t kDeviceWindowBase = 0x0000600000000000ull;
constexpr uint64_t kDeviceWindowLimit = 0x0000700000000000ull;
// attach(address 0) leaves at least this much unmapped after every attachment it places behind:
// a stack or buffer that overruns its region faults instead of reaching the next one.
constexpr uint64_t kGuardBytes = 4096;  // the kernel's user-address limit

// Each session's share of the record tables (regions it pays for, its attachments): a floor plus
// the rest of the table in proportion to its quota's share of all memory, so the shares of all
// sessions together never exceed a table and no session can take records another is due.
constexpr uint32_t kRegionFloor = 4;
constexpr uint32_t kAttachmentFloor = 8;

// What the server's records and capability slots cost a session (the bookkeeping charge).
constexpr uint64_t kSlotCharge = 128;  // one capability slot of the server's CNode
constexpr uint64_t kSessionCharge = 256 + kSlotCharge;
constexpr uint64_t kRegionCharge = 128 + kSlotCharge;
constexpr uint64_t kAttachmentCharge = 128;
// Per backed page: its record, its untyped's and its frame's slots.
constexpr uint64_t kPageRecordCharge = 16 + 2 * kSlotCharge;
// Per page of an attachment: the mapping record; per mapped page another slot (a frame copy).
constexpr uint64_t kMappingRecordCharge = 8;
constexpr uint64_t kTableCharge = 4096 + kSlotCharge;
// Marks the entries of a session's table list that are objects create_object made.
constexpr Slot kObjectTag = Slot{1} << 63;
// ... and, with it, the objects that are threads (TCBs: Control.threadCount/thread).
constexpr Slot kThreadTag = Slot{1} << 62;
constexpr uint32_t kTcbObjectType = 1;  // abi::ObjectType::Tcb (checked in main.cc)

// ---- Badges -----------------------------------------------------------------------------------
// Capabilities to the server's endpoint carry what they name in their badge. 0: Control.
//   session: bit 63 = 0, bits 32..59 generation (never 0), bits 0..31 index
//   region:  bit 63 = 1, bits 60..62 rights, bits 32..59 generation, bits 0..31 index
struct BadgeFields {
  bool region = false;
  uint8_t rights = 0;
  uint32_t generation = 0;
  uint32_t index = 0;
};
constexpr uint64_t kRegionBadgeBit = uint64_t{1} << 63;
constexpr uint32_t kGenerationMask = (1u << 28) - 1;
constexpr uint64_t session_badge(uint32_t index, uint32_t generation) {
  return (static_cast<uint64_t>(generation & kGenerationMask) << 32) | index;
}
constexpr uint64_t region_badge(uint32_t index, uint32_t generation, uint8_t rights) {
  return kRegionBadgeBit | (static_cast<uint64_t>(rights & 7) << 60) |
         (static_cast<uint64_t>(generation & kGenerationMask) << 32) | index;
}
constexpr BadgeFields decode_badge(uint64_t badge) {
  return BadgeFields{(badge & kRegionBadgeBit) != 0, static_cast<uint8_t>((badge >> 60) & 7),
                     static_cast<uint32_t>((badge >> 32) & kGenerationMask), static_cast<uint32_t>(badge)};
}

// ---- The kernel's part ------------------------------------------------------------------------
class Backend {
 public:
  // A new zero-filled frame of 2^shift bytes; its slot, and in *untyped the slot of the untyped
  // it came from. NotEnoughMemory when the machine has none left.
  virtual tessera::Result<Slot> make_frame(uint8_t shift, Slot* untyped) = 0;
  // Revokes every copy of `frame`, deletes it and returns its untyped to the free pool.
  virtual void free_frame(Slot frame, Slot untyped, uint8_t shift) = 0;
  // A copy of `frame` in a fresh slot (a frame cap maps once: each further mapping needs one).
  virtual tessera::Result<Slot> copy_frame(Slot frame) = 0;
  // Deletes the capability in `slot` (which unmaps a mapped frame copy) and frees the slot.
  virtual void delete_cap(Slot slot) = 0;
  // Maps `frame` at `address` in `vspace` with kRead/kWrite/kExecute `rights`. When a page
  // table is missing it is made (at most 3, written to tables[], their count to *made) and the
  // mapping retried; AlignmentError, DeleteFirst (something is mapped there), NotEnoughMemory.
  virtual tessera::Result<void> map(Slot frame, Slot vspace, uint64_t address, uint8_t shift, uint8_t rights,
                                    Slot tables[3], uint32_t* made) = 0;
  // Unmaps the frame cap `frame` (mapped by map()).
  virtual void unmap(Slot frame) = 0;
  // Deletes a page table map() made, or an object make_object() made.
  virtual void free_table(Slot table) = 0;
  // A kernel object (the kernel's ObjectType `type`, `size_bits` as for Untyped.retype) of at most
  // 4 KiB, from the same pool as page tables; InvalidArgument for a type it does not make.
  virtual tessera::Result<Slot> make_object(uint32_t type, uint8_t size_bits) = 0;
  // The page table a 4 KiB page at `address` of `vspace` needs, and the directories above it when
  // they are missing (at most 3, written to tables[], their count to *made; recorded even when a
  // later step fails). DeleteFirst when the page table is there already.
  virtual tessera::Result<void> map_tables(Slot vspace, uint64_t address, Slot tables[3], uint32_t* made) = 0;
  // The server's own memory for records (nullptr when exhausted) and its release.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* pointer) = 0;

 protected:
  ~Backend() = default;
};

struct SessionStatus {
  uint64_t quota = 0, used = 0, granted = 0, faults = 0;
  uint32_t regions = 0, attachments = 0;
};

struct RegionInfo {
  uint64_t bytes = 0;
  uint8_t shift = kSmallShift;
  uint8_t rights = 0;
  uint64_t backed_pages = 0;
};

// What the pager decided about a fault.
enum class FaultOutcome : uint8_t {
  Resolved,     // mapped; reply to restart the thread
  Outside,      // no attachment covers the address
  Forbidden,    // the access is not allowed by the attachment's rights
  OverQuota,    // the quota cannot pay for the frame or its table
  NoMemory,     // the machine (or the server) has no memory left
};

class Manager {
 public:
  Manager(Backend& backend, uint64_t total_bytes) : backend_(backend), total_(total_bytes) {}
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // ---- Sessions (the supervisor's) ----
  // A session for `name` over the address space `vspace` (the Manager owns the slot from now
  // on: close_session deletes it). OutOfMemory when the promised quotas leave less than `quota`.
  tessera::Result<uint32_t> open_session(const char* name, uint64_t quota, uint64_t weight, Slot vspace);
  tessera::Result<void> close_session(uint32_t id);
  tessera::Result<void> set_weight(uint32_t id, uint64_t weight);
  // The live session a session badge names (InvalidCapability otherwise).
  tessera::Result<uint32_t> session_of(uint64_t badge) const;
  uint64_t badge_of_session(uint32_t id) const;
  // The slot of the session's capability (set by the server after minting; deleted on close).
  void set_session_cap(uint32_t id, Slot slot);
  Slot session_cap(uint32_t id) const;
  const char* session_name(uint32_t id) const;

  // ---- Session methods: `session` is the caller's, `region_badge` the region cap's badge ----
  tessera::Result<uint64_t> create_region(uint32_t session, uint64_t bytes, uint8_t shift, bool eager);
  tessera::Result<uint64_t> attach(uint32_t session, uint64_t region_badge, uint64_t address, uint8_t rights);
  tessera::Result<void> detach(uint32_t session, uint64_t address);
  tessera::Result<void> resize(uint32_t session, uint64_t region_badge, uint64_t bytes);
  tessera::Result<uint64_t> share(uint32_t session, uint64_t region_badge, uint8_t rights);
  tessera::Result<void> release(uint32_t session, uint64_t region_badge);
  // Returns the creator's new badge (every older one is refused from now on).
  tessera::Result<uint64_t> revoke(uint32_t session, uint64_t region_badge);
  // The frame of `page` (backed first); the caller hands out a copy.
  tessera::Result<Slot> frame(uint32_t session, uint64_t region_badge, uint64_t page);
  tessera::Result<RegionInfo> describe(uint32_t session, uint64_t region_badge) const;
  SessionStatus status(uint32_t session) const;
  tessera::Result<uint64_t> reserve(uint32_t session, uint64_t bytes);
  // A kernel object for the session (a thread's TCB, an endpoint, a notification: what a program
  // needs to make threads and channels of its own), charged like a page table (4 KiB + a slot)
  // and deleted when the session ends. The caller hands out a copy.
  tessera::Result<Slot> create_object(uint32_t session, uint32_t type, uint8_t size_bits);
  // Session.deviceTables: the page tables for the 4 KiB page at `address` in the session's
  // device window (kDeviceWindowBase..kDeviceWindowLimit), charged like every table; returns how
  // many were made (0: there already). RangeError outside the window, OutOfMemory beyond the quota.
  tessera::Result<uint32_t> device_tables(uint32_t session, uint64_t address);
  // Deletes an object create_object made for the session (`object` is the slot it returned).
  tessera::Result<void> delete_object(uint32_t session, Slot object);
  // The session's threads (TCBs create_object made): how many, and the slot of thread `index`.
  tessera::Result<uint32_t> thread_count(uint32_t session) const;
  tessera::Result<Slot> thread(uint32_t session, uint32_t index) const;

  // ---- The pager ----
  FaultOutcome fault(uint32_t session, uint64_t address, bool write, bool execute);

  // ---- Accounting ----
  uint64_t total_bytes() const { return total_; }
  uint64_t promised_bytes() const { return promised_; }
  uint64_t charged_bytes() const;  // Σ used over all sessions
  uint32_t session_count() const;
  uint32_t region_count() const;
  uint64_t frame_count() const { return frames_; }
  // Recounts every session's charge from its records and compares: Ok, or the first mismatch as
  // InvalidArgument (a bug in the books).
  tessera::Result<void> check() const;

 private:
  struct Page {
    Slot frame = 0;
    Slot untyped = 0;
    bool original_mapped = false;  // the frame cap itself is in use as some attachment's mapping
  };
  struct Region {
    bool live = false;
    uint32_t generation = 1;
    uint32_t creator = 0;
    uint32_t payer = 0;       // the session charged for its frames (the creator while it holds it)
    uint8_t shift = kSmallShift;
    uint64_t pages = 0;
    uint64_t capacity = 0;    // entries in page[]
    Page* page = nullptr;
    uint64_t holders = 0;     // bit i: session i holds it
    uint32_t first_attachment = 0;  // its attachments (any session's), index + 1
    uint64_t backed = 0;
  };
  struct Attachment {
    bool live = false;
    uint32_t session = 0;
    uint32_t region = 0;
    uint32_t next = 0;        // the session's next attachment + 1 (0: end)
    uint32_t next_in_region = 0;  // the region's next attachment + 1 (0: end)
    uint64_t base = 0;
    uint64_t pages = 0;       // pages covered (the region's size when attached or resized)
    uint8_t rights = 0;
    Slot* mapping = nullptr;  // per page: the frame cap mapped there (0: not mapped)
  };
  struct Session {
    bool live = false;
    uint32_t generation = 1;
    char name[kNameBytes] = {};
    uint64_t quota = 0, weight = 1, used = 0, request = 0, granted = 0, faults = 0;
    Slot vspace = 0;
    Slot cap = 0;
    uint32_t first_attachment = 0;  // index + 1
    uint32_t attachment_count = 0;  // its attachments (its share of the table: table_share)
    uint32_t paid_regions = 0;      // regions it pays for (its share of the table)
    Slot* tables = nullptr;
    uint32_t table_count = 0, table_capacity = 0;
  };

  tessera::Result<uint32_t> live_region(uint64_t badge, uint8_t* rights) const;
  tessera::Result<void> charge(uint32_t session, uint64_t bytes);
  void refund(uint32_t session, uint64_t bytes);
  uint64_t page_charge(uint8_t shift) const { return (uint64_t{1} << shift) + kPageRecordCharge; }
  tessera::Result<void> back_page(uint32_t region, uint64_t page);
  tessera::Result<void> map_page(uint32_t attachment, uint64_t page);
  void unmap_page(uint32_t attachment, uint64_t page);
  void destroy_attachment(uint32_t attachment);
  void drop_holder(uint32_t session, uint32_t region);
  void destroy_region(uint32_t region);
  void free_page(Region& r, uint64_t page);
  tessera::Result<void> grow_pages(Region& r, uint64_t pages);
  tessera::Result<void> add_table(uint32_t session, Slot table);
  tessera::Result<void> table_room(uint32_t session, uint32_t more);
  bool overlaps(uint32_t session, uint64_t base, uint64_t bytes, uint32_t except) const;
  tessera::Result<uint64_t> find_place(uint32_t session, uint64_t bytes, uint64_t alignment) const;
  void recompute_grants();
  uint64_t session_records(uint32_t session) const;
  // The records of a table of `size` entries session `session` may use (see kRegionFloor).
  uint32_t table_share(uint32_t session, uint32_t size, uint32_t floor) const;

  Backend& backend_;
  uint64_t total_;
  uint64_t promised_ = 0;
  uint64_t frames_ = 0;
  uint32_t region_hint_ = 0, attachment_hint_ = 0;  // where the search for a free record starts
  Session sessions_[kMaxSessions];
  Region regions_[kMaxRegions];
  Attachment attachments_[kMaxAttachments];
  // resize()'s working space (too big for a server thread's stack).
  uint32_t scratch_index_[kMaxAttachments] = {};
  Slot* scratch_arrays_[kMaxAttachments] = {};
};

}  // namespace memory
