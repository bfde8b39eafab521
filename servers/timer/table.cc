// The timer server's table: channels, entries and the heap of armed deadlines (table.h).
#include "table.h"

namespace timer {

Result<uint32_t> Table::open(uint64_t owner, uint64_t notify) {
  if (channels_of(owner) >= kChannelsPerClient) return Error::NotEnoughMemory;
  for (uint32_t i = 0; i < kMaxChannels; ++i) {
    Channel& c = channels_[i];
    if (c.used) continue;
    c.used = true;
    c.owner = owner;
    c.notify = notify;
    c.armed = 0;
    c.fired = 0;
    return i;
  }
  return Error::NotEnoughMemory;
}

void Table::close(uint32_t channel) {
  if (channel >= kMaxChannels || !channels_[channel].used) return;
  Channel& c = channels_[channel];
  for (Entry& e : c.entries) {
    if (e.state == EntryState::Armed) heap_remove(e.heap_index);
    if (e.state != EntryState::Free) free_entry(e);
  }
  c.used = false;
  c.owner = 0;
  c.notify = 0;
  c.armed = 0;
  c.fired = 0;
}

Result<Channel*> Table::owned(uint32_t channel, uint64_t owner) {
  if (channel >= kMaxChannels || !channels_[channel].used || channels_[channel].owner != owner) {
    return Error::InvalidArgument;
  }
  return &channels_[channel];
}

uint32_t Table::channels_of(uint64_t owner) const {
  uint32_t n = 0;
  for (const Channel& c : channels_) n += c.used && c.owner == owner ? 1 : 0;
  return n;
}

Result<uint64_t> Table::arm(uint32_t channel, uint64_t deadline, uint64_t cookie) {
  Channel& c = channels_[channel];
  for (uint32_t slot = 0; slot < kEntriesPerChannel; ++slot) {
    Entry& e = c.entries[slot];
    if (e.state != EntryState::Free) continue;
    e.state = EntryState::Armed;
    e.deadline = deadline;
    e.cookie = cookie;
    e.order = order_++;
    e.fired_at = 0;
    e.sequence = 0;
    ++c.armed;
    heap_[heap_size_] = (channel << 8) | slot;
    e.heap_index = heap_size_++;
    sift_up(e.heap_index);
    return make_id(channel, slot, e.generation);
  }
  return Error::NotEnoughMemory;
}

Entry* Table::find(uint32_t channel, uint64_t id) {
  const uint32_t slot = static_cast<uint32_t>(id & 0xFF);
  if (((id >> 8) & 0xFF) != channel || slot >= kEntriesPerChannel || (id >> 48) != 0) return nullptr;
  Entry& e = channels_[channel].entries[slot];
  if (e.state == EntryState::Free || e.generation != static_cast<uint32_t>(id >> 16)) return nullptr;
  return &e;
}

bool Table::cancel(uint32_t channel, uint64_t id) {
  Entry* e = find(channel, id);
  if (e == nullptr || e->state != EntryState::Armed) return false;
  heap_remove(e->heap_index);
  --channels_[channel].armed;
  free_entry(*e);
  return true;
}

bool Table::earliest(uint64_t* deadline) const {
  if (heap_size_ == 0) return false;
  *deadline = entry_of(heap_[0]).deadline;
  return true;
}

int32_t Table::fire_next(uint64_t now) {
  if (heap_size_ == 0) return -1;
  const uint32_t ref = heap_[0];
  Entry& e = entry_of(ref);
  if (e.deadline > now) return -1;
  heap_remove(0);
  e.state = EntryState::Fired;
  e.fired_at = now;
  e.sequence = ++sequence_;
  Channel& c = channels_[ref >> 8];
  --c.armed;
  ++c.fired;
  return static_cast<int32_t>(ref >> 8);
}

uint32_t Table::collect(uint32_t channel, FiredEvent* out, uint32_t capacity, bool* more) {
  Channel& c = channels_[channel];
  uint32_t n = 0;
  // Firing order: repeatedly the fired entry with the lowest sequence (32 entries: a scan is cheap).
  while (n < capacity) {
    Entry* next = nullptr;
    uint32_t next_slot = 0;
    for (uint32_t slot = 0; slot < kEntriesPerChannel; ++slot) {
      Entry& e = c.entries[slot];
      if (e.state == EntryState::Fired && (next == nullptr || e.sequence < next->sequence)) {
        next = &e;
        next_slot = slot;
      }
    }
    if (next == nullptr) break;
    out[n++] = FiredEvent{make_id(channel, next_slot, next->generation), next->cookie, next->deadline, next->fired_at,
                          next->sequence};
    --c.fired;
    free_entry(*next);
  }
  *more = c.fired != 0;
  return n;
}

uint32_t Table::channels_used() const {
  uint32_t n = 0;
  for (const Channel& c : channels_) n += c.used ? 1 : 0;
  return n;
}

uint32_t Table::uncollected() const {
  uint32_t n = 0;
  for (const Channel& c : channels_) n += c.used ? c.fired : 0;
  return n;
}

void Table::free_entry(Entry& e) {
  e.state = EntryState::Free;
  e.generation = (e.generation + 1) & 0xFFFFFFFFu;
}

bool Table::before(uint32_t a, uint32_t b) const {
  const Entry& x = entry_of(a);
  const Entry& y = entry_of(b);
  return x.deadline != y.deadline ? x.deadline < y.deadline : x.order < y.order;
}

void Table::place(uint32_t index, uint32_t ref) {
  heap_[index] = ref;
  entry_of(ref).heap_index = index;
}

void Table::sift_up(uint32_t index) {
  const uint32_t ref = heap_[index];
  while (index > 0) {
    const uint32_t parent = (index - 1) / 2;
    if (!before(ref, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, ref);
}

void Table::sift_down(uint32_t index) {
  const uint32_t ref = heap_[index];
  for (;;) {
    const uint32_t left = 2 * index + 1;
    if (left >= heap_size_) break;
    uint32_t child = left;
    if (left + 1 < heap_size_ && before(heap_[left + 1], heap_[left])) child = left + 1;
    if (!before(heap_[child], ref)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, ref);
}

void Table::heap_remove(uint32_t index) {
  const uint32_t last = heap_[--heap_size_];
  if (index == heap_size_) return;
  place(index, last);
  sift_down(index);
  sift_up(entry_of(last).heap_index);
}

bool Table::check() const {
  uint32_t armed = 0;
  for (uint32_t ch = 0; ch < kMaxChannels; ++ch) {
    for (uint32_t slot = 0; slot < kEntriesPerChannel; ++slot) {
      const Entry& e = channels_[ch].entries[slot];
      if (e.state != EntryState::Armed) continue;
      ++armed;
      if (e.heap_index >= heap_size_ || heap_[e.heap_index] != ((ch << 8) | slot)) return false;
    }
  }
  if (armed != heap_size_) return false;
  for (uint32_t i = 1; i < heap_size_; ++i) {
    if (before(heap_[i], heap_[(i - 1) / 2])) return false;
  }
  return true;
}

}  // namespace timer
