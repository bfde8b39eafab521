#include "manager.h"

namespace memory {
namespace {
using tessera::Error;
using tessera::Result;

constexpr uint64_t round_up(uint64_t value, uint8_t shift) {
  const uint64_t mask = (uint64_t{1} << shift) - 1;
  return (value + mask) & ~mask;
}

void copy_name(char* out, const char* name) {
  size_t n = 0;
  while (name != nullptr && name[n] != '\0' && n + 1 < kNameBytes) {
    out[n] = name[n];
    ++n;
  }
  out[n] = '\0';
}
}  // namespace

// ---- Sessions -----------------------------------------------------------------------------------

Result<uint32_t> Manager::open_session(const char* name, uint64_t quota, uint64_t weight, Slot vspace) {
  if (quota < kSessionCharge || weight == 0) return Error::InvalidArgument;
  if (quota > total_ - promised_) return Error::OutOfMemory;
  for (uint32_t i = 0; i < kMaxSessions; ++i) {
    Session& s = sessions_[i];
    if (s.live) continue;
    const uint32_t generation = s.generation;
    s = Session{};
    s.live = true;
    s.generation = generation;
    copy_name(s.name, name);
    s.quota = quota;
    s.weight = weight;
    s.vspace = vspace;
    s.used = kSessionCharge;
    promised_ += quota;
    recompute_grants();
    return i;
  }
  return Error::OutOfMemory;
}

Result<void> Manager::close_session(uint32_t id) {
  if (id >= kMaxSessions || !sessions_[id].live) return Error::EmptySlot;
  Session& s = sessions_[id];
  while (s.first_attachment != 0) destroy_attachment(s.first_attachment - 1);
  for (uint32_t r = 0; r < kMaxRegions; ++r) {
    if (regions_[r].live && (regions_[r].holders & (uint64_t{1} << id)) != 0) drop_holder(id, r);
    // No later session reusing this index may revoke the regions it created.
    if (regions_[r].live && regions_[r].creator == id) regions_[r].creator = kMaxSessions;
  }
  for (uint32_t t = 0; t < s.table_count; ++t) backend_.free_table(s.tables[t] & ~(kObjectTag | kThreadTag));
  if (s.tables != nullptr) backend_.release(s.tables);
  if (s.cap != 0) backend_.delete_cap(s.cap);
  if (s.vspace != 0) backend_.delete_cap(s.vspace);
  promised_ -= s.quota;
  const uint32_t generation = (s.generation + 1) & kGenerationMask;
  s = Session{};
  s.generation = generation == 0 ? 1 : generation;
  recompute_grants();
  return {};
}

Result<void> Manager::set_weight(uint32_t id, uint64_t weight) {
  if (id >= kMaxSessions || !sessions_[id].live) return Error::EmptySlot;
  if (weight == 0) return Error::InvalidArgument;
  sessions_[id].weight = weight;
  recompute_grants();
  return {};
}

Result<uint32_t> Manager::session_of(uint64_t badge) const {
  const BadgeFields f = decode_badge(badge);
  if (badge == 0 || f.region || f.rights != 0 || f.index >= kMaxSessions) return Error::InvalidCapability;
  const Session& s = sessions_[f.index];
  if (!s.live || s.generation != f.generation) return Error::InvalidCapability;
  return f.index;
}

uint64_t Manager::badge_of_session(uint32_t id) const { return session_badge(id, sessions_[id].generation); }
void Manager::set_session_cap(uint32_t id, Slot slot) { sessions_[id].cap = slot; }
Slot Manager::session_cap(uint32_t id) const { return id < kMaxSessions ? sessions_[id].cap : 0; }
const char* Manager::session_name(uint32_t id) const { return id < kMaxSessions ? sessions_[id].name : ""; }

// ---- Accounting -------------------------------------------------------------------------------

Result<void> Manager::charge(uint32_t session, uint64_t bytes) {
  Session& s = sessions_[session];
  const uint64_t limit = s.quota + s.granted;
  if (s.used > limit || bytes > limit - s.used) return Error::OutOfMemory;
  s.used += bytes;
  return {};
}

void Manager::refund(uint32_t session, uint64_t bytes) {
  Session& s = sessions_[session];
  s.used = bytes > s.used ? 0 : s.used - bytes;
}

void Manager::recompute_grants() {
  Claim claims[kMaxSessions];
  uint32_t owner[kMaxSessions];
  size_t count = 0;
  uint64_t wanted = 0;
  for (uint32_t i = 0; i < kMaxSessions; ++i) {
    Session& s = sessions_[i];
    if (!s.live) continue;
    s.granted = 0;
    if (s.request == 0) continue;
    claims[count] = Claim{s.request >> kSmallShift, s.weight};
    owner[count++] = i;
    wanted += s.request >> kSmallShift;
  }
  const uint64_t spare = (total_ - promised_) >> kSmallShift;
  uint64_t grants[kMaxSessions] = {};
  if (!share_spare_pages(spare < wanted ? spare : wanted, claims, count, grants).ok()) return;
  for (size_t k = 0; k < count; ++k) sessions_[owner[k]].granted = grants[k] << kSmallShift;
}

Result<uint64_t> Manager::reserve(uint32_t session, uint64_t bytes) {
  if (bytes > total_) return Error::RangeError;
  sessions_[session].request = round_up(bytes, kSmallShift);
  recompute_grants();
  return sessions_[session].granted;
}

uint64_t Manager::charged_bytes() const {
  uint64_t sum = 0;
  for (const Session& s : sessions_) sum += s.live ? s.used : 0;
  return sum;
}

uint32_t Manager::session_count() const {
  uint32_t n = 0;
  for (const Session& s : sessions_) n += s.live ? 1 : 0;
  return n;
}

uint32_t Manager::region_count() const {
  uint32_t n = 0;
  for (const Region& r : regions_) n += r.live ? 1 : 0;
  return n;
}

SessionStatus Manager::status(uint32_t session) const {
  const Session& s = sessions_[session];
  SessionStatus out{s.quota, s.used, s.granted, s.faults, 0, 0};
  for (const Region& r : regions_) out.regions += r.live && (r.holders & (uint64_t{1} << session)) != 0 ? 1 : 0;
  for (uint32_t a = s.first_attachment; a != 0; a = attachments_[a - 1].next) ++out.attachments;
  return out;
}

uint64_t Manager::session_records(uint32_t session) const {
  const Session& s = sessions_[session];
  uint64_t sum = kSessionCharge + uint64_t{s.table_count} * kTableCharge;
  for (const Region& r : regions_) {
    if (!r.live || r.payer != session) continue;
    sum += kRegionCharge + r.capacity * sizeof(Page) + r.backed * page_charge(r.shift);
  }
  for (uint32_t a = s.first_attachment; a != 0; a = attachments_[a - 1].next) {
    const Attachment& at = attachments_[a - 1];
    const Region& r = regions_[at.region];
    sum += kAttachmentCharge + r.capacity * sizeof(Slot);
    for (uint64_t p = 0; p < at.pages; ++p) {
      if (at.mapping[p] != 0 && at.mapping[p] != r.page[p].frame) sum += kSlotCharge;
    }
  }
  return sum;
}

Result<void> Manager::check() const {
  uint64_t frames = 0, promised = 0;
  for (uint32_t i = 0; i < kMaxSessions; ++i) {
    if (!sessions_[i].live) continue;
    promised += sessions_[i].quota;
    if (session_records(i) != sessions_[i].used) return Error::InvalidArgument;
    uint32_t paid = 0, attached = 0;
    for (const Region& r : regions_) paid += r.live && r.payer == i ? 1 : 0;
    for (uint32_t a = sessions_[i].first_attachment; a != 0 && attached <= kMaxAttachments; a = attachments_[a - 1].next) {
      ++attached;
    }
    if (paid != sessions_[i].paid_regions || attached != sessions_[i].attachment_count) return Error::InvalidArgument;
  }
  for (const Region& r : regions_) {
    if (!r.live) continue;
    if (r.holders == 0 || !sessions_[r.payer].live) return Error::InvalidArgument;
    uint64_t backed = 0;
    for (uint64_t p = 0; p < r.pages; ++p) backed += r.page[p].frame != 0 ? 1 : 0;
    if (backed != r.backed) return Error::InvalidArgument;
    frames += backed;
    // The region's list names exactly its live attachments.
    uint32_t listed = 0, live = 0;
    for (uint32_t a = r.first_attachment; a != 0 && listed <= kMaxAttachments; a = attachments_[a - 1].next_in_region) {
      if (!attachments_[a - 1].live || &regions_[attachments_[a - 1].region] != &r) return Error::InvalidArgument;
      ++listed;
    }
    for (const Attachment& at : attachments_) live += at.live && &regions_[at.region] == &r ? 1 : 0;
    if (listed != live) return Error::InvalidArgument;
  }
  if (frames != frames_ || promised != promised_) return Error::InvalidArgument;
  return {};
}

// ---- Regions ----------------------------------------------------------------------------------

Result<uint32_t> Manager::live_region(uint64_t badge, uint8_t* rights) const {
  const BadgeFields f = decode_badge(badge);
  if (!f.region || f.index >= kMaxRegions) return Error::InvalidCapability;
  const Region& r = regions_[f.index];
  if (!r.live || r.generation != f.generation) return Error::InvalidCapability;
  *rights = f.rights;
  return f.index;
}

Result<void> Manager::grow_pages(Region& r, uint64_t pages) {
  if (pages <= r.capacity) return {};
  auto* grown = static_cast<Page*>(backend_.allocate(pages * sizeof(Page)));
  if (grown == nullptr) return Error::OutOfMemory;
  for (uint64_t p = 0; p < pages; ++p) grown[p] = p < r.capacity ? r.page[p] : Page{};
  if (r.page != nullptr) backend_.release(r.page);
  r.page = grown;
  r.capacity = pages;
  return {};
}

uint32_t Manager::table_share(uint32_t session, uint32_t size, uint32_t floor) const {
  if (total_ == 0) return floor;
  return floor + static_cast<uint32_t>(uint64_t{size - kMaxSessions * floor} * sessions_[session].quota / total_);
}

Result<uint64_t> Manager::create_region(uint32_t session, uint64_t bytes, uint8_t shift, bool eager) {
  if (shift != kSmallShift && shift != kLargeShift) return Error::InvalidArgument;
  if (bytes == 0 || bytes > kMaxRegionBytes) return Error::RangeError;
  const uint64_t pages = round_up(bytes, shift) >> shift;
  uint32_t index = kMaxRegions;
  for (uint32_t n = 0; n < kMaxRegions && index == kMaxRegions; ++n) {
    const uint32_t i = (region_hint_ + n) % kMaxRegions;
    if (!regions_[i].live) index = i;
  }
  // Beyond its share of the table, a session would take regions the others are due.
  if (index == kMaxRegions || sessions_[session].paid_regions >= table_share(session, kMaxRegions, kRegionFloor)) {
    return Error::OutOfMemory;
  }
  region_hint_ = (index + 1) % kMaxRegions;
  const uint64_t records = kRegionCharge + pages * sizeof(Page);
  TRY(charge(session, records));
  Region& r = regions_[index];
  const uint32_t generation = r.generation;
  r = Region{};
  r.generation = generation;
  if (Result<void> grown = grow_pages(r, pages); !grown.ok()) {
    refund(session, records);
    return grown.error();
  }
  r.live = true;
  r.creator = session;
  r.payer = session;
  ++sessions_[session].paid_regions;
  r.shift = shift;
  r.pages = pages;
  r.holders = uint64_t{1} << session;
  if (eager) {
    for (uint64_t p = 0; p < pages; ++p) {
      if (Result<void> backed = back_page(index, p); !backed.ok()) {
        destroy_region(index);
        return backed.error();
      }
    }
  }
  return region_badge(index, r.generation, kRightsAll);
}

Result<void> Manager::back_page(uint32_t region, uint64_t page) {
  Region& r = regions_[region];
  if (r.page[page].frame != 0) return {};
  TRY(charge(r.payer, page_charge(r.shift)));
  Slot untyped = 0;
  const Result<Slot> frame = backend_.make_frame(r.shift, &untyped);
  if (!frame.ok()) {
    refund(r.payer, page_charge(r.shift));
    return frame.error();
  }
  r.page[page] = Page{frame.value(), untyped, false};
  ++r.backed;
  ++frames_;
  return {};
}

void Manager::free_page(Region& r, uint64_t page) {
  Page& p = r.page[page];
  if (p.frame == 0) return;
  backend_.free_frame(p.frame, p.untyped, r.shift);
  p = Page{};
  --r.backed;
  --frames_;
  refund(r.payer, page_charge(r.shift));
}

void Manager::destroy_region(uint32_t region) {
  Region& r = regions_[region];
  // Every attachment of it goes first (they hold mappings of its frames).
  while (r.first_attachment != 0) destroy_attachment(r.first_attachment - 1);
  for (uint64_t p = 0; p < r.pages; ++p) free_page(r, p);
  refund(r.payer, kRegionCharge + r.capacity * sizeof(Page));
  --sessions_[r.payer].paid_regions;
  if (r.page != nullptr) backend_.release(r.page);
  const uint32_t generation = (r.generation + 1) & kGenerationMask;
  r = Region{};
  r.generation = generation == 0 ? 1 : generation;
}

void Manager::drop_holder(uint32_t session, uint32_t region) {
  Region& r = regions_[region];
  for (uint32_t a = sessions_[session].first_attachment; a != 0;) {
    const uint32_t next = attachments_[a - 1].next;
    if (attachments_[a - 1].region == region) destroy_attachment(a - 1);
    a = next;
  }
  r.holders &= ~(uint64_t{1} << session);
  if (r.holders == 0) return destroy_region(region);
  if (r.payer != session) return;
  // The payer lets go while others hold it: the lowest remaining holder pays from now on (even
  // beyond its quota: memory in use is never taken away; it just cannot get more).
  uint32_t next = 0;
  while ((r.holders & (uint64_t{1} << next)) == 0) ++next;
  const uint64_t bytes = kRegionCharge + r.capacity * sizeof(Page) + r.backed * page_charge(r.shift);
  refund(session, bytes);
  sessions_[next].used += bytes;
  --sessions_[session].paid_regions;
  ++sessions_[next].paid_regions;
  r.payer = next;
}

Result<void> Manager::release(uint32_t session, uint64_t badge) {
  uint8_t rights = 0;
  const uint32_t region = TRY(live_region(badge, &rights));
  if ((regions_[region].holders & (uint64_t{1} << session)) == 0) return Error::IllegalOperation;
  drop_holder(session, region);
  return {};
}

Result<uint64_t> Manager::revoke(uint32_t session, uint64_t badge) {
  uint8_t rights = 0;
  const uint32_t region = TRY(live_region(badge, &rights));
  Region& r = regions_[region];
  if (r.creator != session || (r.holders & (uint64_t{1} << session)) == 0) return Error::IllegalOperation;
  for (uint32_t s = 0; s < kMaxSessions; ++s) {
    if (s != session && (r.holders & (uint64_t{1} << s)) != 0) drop_holder(s, region);
  }
  r.generation = (r.generation + 1) & kGenerationMask;
  if (r.generation == 0) r.generation = 1;
  return region_badge(region, r.generation, kRightsAll);
}

Result<uint64_t> Manager::share(uint32_t, uint64_t badge, uint8_t rights) {
  uint8_t held = 0;
  const uint32_t region = TRY(live_region(badge, &held));
  if ((rights & ~held) != 0 || rights == 0 || (rights & ~kRightsAll) != 0) return Error::InvalidArgument;
  return region_badge(region, regions_[region].generation, rights);
}

Result<RegionInfo> Manager::describe(uint32_t, uint64_t badge) const {
  uint8_t rights = 0;
  const uint32_t region = TRY(live_region(badge, &rights));
  const Region& r = regions_[region];
  return RegionInfo{r.pages << r.shift, r.shift, rights, r.backed};
}

Result<Slot> Manager::frame(uint32_t, uint64_t badge, uint64_t page) {
  uint8_t rights = 0;
  const uint32_t region = TRY(live_region(badge, &rights));
  if ((rights & kWrite) == 0) return Error::InvalidCapability;
  if (page >= regions_[region].pages) return Error::RangeError;
  TRY(back_page(region, page));
  return regions_[region].page[page].frame;
}

Result<void> Manager::resize(uint32_t session, uint64_t badge, uint64_t bytes) {
  uint8_t rights = 0;
  const uint32_t region = TRY(live_region(badge, &rights));
  Region& r = regions_[region];
  if ((rights & kWrite) == 0 || (r.holders & (uint64_t{1} << session)) == 0) return Error::InvalidCapability;
  if (bytes == 0 || bytes > kMaxRegionBytes) return Error::RangeError;
  const uint64_t pages = round_up(bytes, r.shift) >> r.shift;
  if (pages == r.pages) return {};
  if (pages < r.pages) {
    for (uint32_t a = r.first_attachment; a != 0; a = attachments_[a - 1].next_in_region) {
      const Attachment& at = attachments_[a - 1];
      for (uint64_t p = pages; p < at.pages; ++p) {
        if (at.mapping[p] != 0) return Error::Busy;
      }
    }
    for (uint64_t p = pages; p < r.pages; ++p) free_page(r, p);
    r.pages = pages;
    for (uint32_t a = r.first_attachment; a != 0; a = attachments_[a - 1].next_in_region) attachments_[a - 1].pages = pages;
    return {};
  }
  // Growing: room after every attachment, then the records (paid by the payer and each
  // attachment's session), then the new size.
  const uint64_t grown_bytes = pages << r.shift;
  for (uint32_t a = r.first_attachment; a != 0; a = attachments_[a - 1].next_in_region) {
    const Attachment& at = attachments_[a - 1];
    if (at.base + grown_bytes > kAttachLimit || at.base + grown_bytes < at.base) return Error::DeleteFirst;
    if (at.base < kDeviceWindowLimit && at.base + grown_bytes > kDeviceWindowBase) return Error::DeleteFirst;
    if (overlaps(at.session, at.base, grown_bytes, a - 1)) return Error::DeleteFirst;
  }
  if (pages > r.capacity) {
    const uint64_t extra = pages - r.capacity;
    // Pay for everything first (nothing is taken when one cannot pay).
    uint32_t paid_payer = 0;
    TRY(charge(r.payer, extra * sizeof(Page)));
    paid_payer = 1;
    uint32_t* charged = scratch_index_;
    uint32_t charged_count = 0;
    Result<void> paid;
    for (uint32_t a = r.first_attachment; a != 0 && paid.ok(); a = attachments_[a - 1].next_in_region) {
      paid = charge(attachments_[a - 1].session, extra * sizeof(Slot));
      if (paid.ok()) charged[charged_count++] = a - 1;
    }
    auto undo = [&] {
      if (paid_payer != 0) refund(r.payer, extra * sizeof(Page));
      for (uint32_t k = 0; k < charged_count; ++k) refund(attachments_[charged[k]].session, extra * sizeof(Slot));
    };
    if (!paid.ok()) {
      undo();
      return paid.error();
    }
    // New arrays: all allocated before any is swapped in.
    Slot** mappings = scratch_arrays_;
    for (uint32_t k = 0; k < charged_count; ++k) mappings[k] = nullptr;
    bool ok = true;
    for (uint32_t k = 0; k < charged_count && ok; ++k) {
      mappings[k] = static_cast<Slot*>(backend_.allocate(pages * sizeof(Slot)));
      ok = mappings[k] != nullptr;
    }
    auto* grown = ok ? static_cast<Page*>(backend_.allocate(pages * sizeof(Page))) : nullptr;
    if (grown == nullptr) {
      for (uint32_t k = 0; k < charged_count; ++k) {
        if (mappings[k] != nullptr) backend_.release(mappings[k]);
      }
      undo();
      return Error::OutOfMemory;
    }
    for (uint64_t p = 0; p < pages; ++p) grown[p] = p < r.capacity ? r.page[p] : Page{};
    if (r.page != nullptr) backend_.release(r.page);
    r.page = grown;
    for (uint32_t k = 0; k < charged_count; ++k) {
      Attachment& at = attachments_[charged[k]];
      for (uint64_t p = 0; p < pages; ++p) mappings[k][p] = p < r.capacity ? at.mapping[p] : 0;
      backend_.release(at.mapping);
      at.mapping = mappings[k];
    }
    r.capacity = pages;
  }
  r.pages = pages;
  for (uint32_t a = r.first_attachment; a != 0; a = attachments_[a - 1].next_in_region) attachments_[a - 1].pages = pages;
  return {};
}

// ---- Attachments ------------------------------------------------------------------------------

bool Manager::overlaps(uint32_t session, uint64_t base, uint64_t bytes, uint32_t except) const {
  for (uint32_t a = sessions_[session].first_attachment; a != 0; a = attachments_[a - 1].next) {
    if (a - 1 == except) continue;
    const Attachment& at = attachments_[a - 1];
    const uint64_t end = at.base + (at.pages << regions_[at.region].shift);
    if (base < end && at.base < base + bytes) return true;
  }
  return false;
}

Result<uint64_t> Manager::find_place(uint32_t session, uint64_t bytes, uint64_t alignment) const {
  // First fit above the placement base: try the base and the end of every attachment.
  uint64_t candidate = kPlacementBase;
  for (uint32_t rounds = 0; rounds <= kMaxAttachments; ++rounds) {
    candidate = (candidate + alignment - 1) & ~(alignment - 1);
    if (candidate + bytes > kPlacementLimit || candidate + bytes < candidate) return Error::OutOfMemory;
    uint64_t blocked_until = 0;
    for (uint32_t a = sessions_[session].first_attachment; a != 0; a = attachments_[a - 1].next) {
      const Attachment& at = attachments_[a - 1];
      const uint64_t end = at.base + (at.pages << regions_[at.region].shift);
      if (candidate < end && at.base < candidate + bytes && end > blocked_until) blocked_until = end;
    }
    if (blocked_until == 0) return candidate;
    candidate = blocked_until + kGuardBytes;  // an unmapped page after every attachment
  }
  return Error::OutOfMemory;
}

Result<uint64_t> Manager::attach(uint32_t session, uint64_t badge, uint64_t address, uint8_t rights) {
  uint8_t held = 0;
  const uint32_t region = TRY(live_region(badge, &held));
  Region& r = regions_[region];
  if ((rights & kRead) == 0 || (rights & ~kRightsAll) != 0) return Error::InvalidArgument;
  if ((rights & kWrite) != 0 && (rights & kExecute) != 0) return Error::InvalidArgument;  // W^X
  if ((rights & ~held) != 0) return Error::InvalidCapability;
  const uint64_t size = r.pages << r.shift;
  const uint64_t alignment = uint64_t{1} << r.shift;
  if (address == 0) {
    address = TRY(find_place(session, size, alignment));
  } else {
    if ((address & (alignment - 1)) != 0) return Error::AlignmentError;
    if (address >= kAttachLimit || size > kAttachLimit - address) return Error::RangeError;
    if (address < kDeviceWindowLimit && address + size > kDeviceWindowBase) return Error::RangeError;
    if (overlaps(session, address, size, kMaxAttachments)) return Error::DeleteFirst;
  }
  uint32_t index = kMaxAttachments;
  for (uint32_t n = 0; n < kMaxAttachments && index == kMaxAttachments; ++n) {
    const uint32_t a = (attachment_hint_ + n) % kMaxAttachments;
    if (!attachments_[a].live) index = a;
  }
  if (index == kMaxAttachments ||
      sessions_[session].attachment_count >= table_share(session, kMaxAttachments, kAttachmentFloor)) {
    return Error::OutOfMemory;
  }
  const uint64_t records = kAttachmentCharge + r.capacity * sizeof(Slot);
  TRY(charge(session, records));
  auto* mapping = static_cast<Slot*>(backend_.allocate(r.capacity * sizeof(Slot)));
  if (mapping == nullptr) {
    refund(session, records);
    return Error::OutOfMemory;
  }
  for (uint64_t p = 0; p < r.capacity; ++p) mapping[p] = 0;
  Session& s = sessions_[session];
  Attachment& at = attachments_[index];
  at = Attachment{true, session, region, s.first_attachment, r.first_attachment, address, r.pages, rights, mapping};
  s.first_attachment = index + 1;
  ++s.attachment_count;
  r.first_attachment = index + 1;
  attachment_hint_ = (index + 1) % kMaxAttachments;
  const bool new_holder = (r.holders & (uint64_t{1} << session)) == 0;
  r.holders |= uint64_t{1} << session;
  // Backed pages are mapped now; the rest on first touch.
  for (uint64_t p = 0; p < r.pages; ++p) {
    if (r.page[p].frame == 0) continue;
    if (Result<void> mapped = map_page(index, p); !mapped.ok()) {
      destroy_attachment(index);
      if (new_holder) r.holders &= ~(uint64_t{1} << session);
      return mapped.error();
    }
  }
  return address;
}

Result<void> Manager::map_page(uint32_t attachment, uint64_t page) {
  Attachment& at = attachments_[attachment];
  Region& r = regions_[at.region];
  Page& p = r.page[page];
  if (at.mapping[page] != 0) return {};
  // Worst case first: a frame copy and three tables.
  Session& s = sessions_[at.session];
  const uint64_t worst = kSlotCharge + 3 * kTableCharge;
  if (s.used + worst > s.quota + s.granted) return Error::OutOfMemory;
  // Room to record the tables map() may make, before anything is mapped: a table it made must
  // never be freed again (that would unmap the page we are about to record as mapped).
  TRY(table_room(at.session, 3));
  Slot cap = p.frame;
  if (p.original_mapped) {
    cap = TRY(backend_.copy_frame(p.frame));
    s.used += kSlotCharge;
  }
  Slot tables[3] = {};
  uint32_t made = 0;
  const Result<void> mapped =
      backend_.map(cap, s.vspace, at.base + (page << r.shift), r.shift, at.rights, tables, &made);
  for (uint32_t t = 0; t < made; ++t) {
    if (!add_table(at.session, tables[t]).ok()) backend_.free_table(tables[t]);
  }
  if (!mapped.ok()) {
    if (cap != p.frame) {
      backend_.delete_cap(cap);
      s.used -= kSlotCharge;
    }
    return mapped.error();
  }
  if (cap == p.frame) p.original_mapped = true;
  at.mapping[page] = cap;
  return {};
}

Result<Slot> Manager::create_object(uint32_t session, uint32_t type, uint8_t size_bits) {
  TRY(table_room(session, 1));
  TRY(charge(session, kTableCharge));  // paid before it is made; given back if it cannot be
  const Result<Slot> object = backend_.make_object(type, size_bits);
  if (!object.ok()) {
    refund(session, kTableCharge);
    return object.error();
  }
  Session& s = sessions_[session];
  const bool thread = type == kTcbObjectType;
  s.tables[s.table_count++] = object.value() | kObjectTag | (thread ? kThreadTag : 0);
  return object.value();
}

Result<uint32_t> Manager::device_tables(uint32_t session, uint64_t address) {
  if (address < kDeviceWindowBase || address >= kDeviceWindowLimit) return Error::RangeError;
  TRY(table_room(session, 3));
  TRY(charge(session, 3 * kTableCharge));
  Slot tables[3] = {};
  uint32_t made = 0;
  const Result<void> r = backend_.map_tables(sessions_[session].vspace, address & ~uint64_t{0xFFF}, tables, &made);
  refund(session, 3 * kTableCharge);  // add_table charges what was made
  if (!r.ok() && r.error() == Error::DeleteFirst) {
    // The page table is there already: the one just made (never mapped) goes again.
    for (uint32_t t = 0; t < made; ++t) backend_.free_table(tables[t]);
    return 0u;
  }
  for (uint32_t t = 0; t < made; ++t) {
    if (!add_table(session, tables[t]).ok()) backend_.free_table(tables[t]);
  }
  if (!r.ok()) return r.error();
  return made;
}

Result<void> Manager::delete_object(uint32_t session, Slot object) {
  Session& s = sessions_[session];
  for (uint32_t t = 0; t < s.table_count; ++t) {
    if ((s.tables[t] & ~kThreadTag) != (object | kObjectTag) || (object & (kObjectTag | kThreadTag)) != 0) continue;
    backend_.free_table(object);
    s.tables[t] = s.tables[--s.table_count];
    refund(session, kTableCharge);
    return {};
  }
  return Error::EmptySlot;
}

Result<uint32_t> Manager::thread_count(uint32_t session) const {
  if (session >= kMaxSessions || !sessions_[session].live) return Error::EmptySlot;
  const Session& s = sessions_[session];
  uint32_t count = 0;
  for (uint32_t t = 0; t < s.table_count; ++t) count += (s.tables[t] & kThreadTag) != 0 ? 1 : 0;
  return count;
}

// In the order they were made, as long as none was deleted (delete_object moves the last entry
// into the hole): good enough for a listing.
Result<Slot> Manager::thread(uint32_t session, uint32_t index) const {
  if (session >= kMaxSessions || !sessions_[session].live) return Error::EmptySlot;
  const Session& s = sessions_[session];
  for (uint32_t t = 0; t < s.table_count; ++t) {
    if ((s.tables[t] & kThreadTag) == 0) continue;
    if (index-- == 0) return s.tables[t] & ~(kObjectTag | kThreadTag);
  }
  return Error::RangeError;
}

Result<void> Manager::add_table(uint32_t session, Slot table) {
  TRY(table_room(session, 1));
  Session& s = sessions_[session];
  s.tables[s.table_count++] = table;
  s.used += kTableCharge;
  return {};
}

Result<void> Manager::table_room(uint32_t session, uint32_t more) {
  Session& s = sessions_[session];
  if (s.table_count + more > s.table_capacity) {
    uint32_t capacity = s.table_capacity == 0 ? 16 : s.table_capacity * 2;
    while (capacity < s.table_count + more) capacity *= 2;
    auto* grown = static_cast<Slot*>(backend_.allocate(capacity * sizeof(Slot)));
    if (grown == nullptr) return Error::OutOfMemory;
    for (uint32_t t = 0; t < s.table_count; ++t) grown[t] = s.tables[t];
    if (s.tables != nullptr) backend_.release(s.tables);
    s.tables = grown;
    s.table_capacity = capacity;
  }
  return {};
}

void Manager::unmap_page(uint32_t attachment, uint64_t page) {
  Attachment& at = attachments_[attachment];
  const Slot cap = at.mapping[page];
  if (cap == 0) return;
  Page& p = regions_[at.region].page[page];
  if (cap == p.frame) {
    backend_.unmap(cap);
    p.original_mapped = false;
  } else {
    backend_.delete_cap(cap);
    refund(at.session, kSlotCharge);
  }
  at.mapping[page] = 0;
}

void Manager::destroy_attachment(uint32_t attachment) {
  Attachment& at = attachments_[attachment];
  if (!at.live) return;
  for (uint64_t p = 0; p < at.pages; ++p) unmap_page(attachment, p);
  refund(at.session, kAttachmentCharge + regions_[at.region].capacity * sizeof(Slot));
  backend_.release(at.mapping);
  // Unlink from the session's list.
  Session& s = sessions_[at.session];
  uint32_t* link = &s.first_attachment;
  while (*link != 0 && *link != attachment + 1) link = &attachments_[*link - 1].next;
  if (*link == attachment + 1) *link = at.next;
  --s.attachment_count;
  // And from the region's.
  uint32_t* in_region = &regions_[at.region].first_attachment;
  while (*in_region != 0 && *in_region != attachment + 1) in_region = &attachments_[*in_region - 1].next_in_region;
  if (*in_region == attachment + 1) *in_region = at.next_in_region;
  at = Attachment{};
}

Result<void> Manager::detach(uint32_t session, uint64_t address) {
  for (uint32_t a = sessions_[session].first_attachment; a != 0; a = attachments_[a - 1].next) {
    if (attachments_[a - 1].base == address) {
      destroy_attachment(a - 1);
      return {};
    }
  }
  return Error::EmptySlot;
}

// ---- The pager --------------------------------------------------------------------------------

FaultOutcome Manager::fault(uint32_t session, uint64_t address, bool write, bool execute) {
  Session& s = sessions_[session];
  for (uint32_t a = s.first_attachment; a != 0; a = attachments_[a - 1].next) {
    const Attachment& at = attachments_[a - 1];
    const Region& r = regions_[at.region];
    if (address < at.base || address - at.base >= (at.pages << r.shift)) continue;
    if ((write && (at.rights & kWrite) == 0) || (execute && (at.rights & kExecute) == 0)) {
      return FaultOutcome::Forbidden;
    }
    const uint64_t page = (address - at.base) >> r.shift;
    if (r.page[page].frame == 0) {
      // Refuse before anything is made when the mapping could not be paid for after the frame
      // (the frame's payer may be this session: count both against it then).
      const uint64_t frame_cost = r.payer == session ? page_charge(r.shift) : 0;
      const uint64_t worst = frame_cost + kSlotCharge + 3 * kTableCharge;
      if (s.used > s.quota + s.granted || worst > s.quota + s.granted - s.used) return FaultOutcome::OverQuota;
      const Result<void> backed = back_page(at.region, page);
      if (!backed.ok()) return backed.error() == Error::OutOfMemory ? FaultOutcome::OverQuota : FaultOutcome::NoMemory;
    }
    if (at.mapping[page] != 0) {
      // Mapped already, with rights that allow this access: the fault was another thread's
      // page arriving first. Restart.
      ++s.faults;
      return FaultOutcome::Resolved;
    }
    const Result<void> mapped = map_page(a - 1, page);
    if (!mapped.ok()) return mapped.error() == Error::OutOfMemory ? FaultOutcome::OverQuota : FaultOutcome::NoMemory;
    ++s.faults;
    return FaultOutcome::Resolved;
  }
  return FaultOutcome::Outside;
}

}  // namespace memory
