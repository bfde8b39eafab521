// The timer server's table (servers/timer): channels, their deadlines and fired events, and a
// binary min-heap of every armed deadline. Pure logic (no kernel calls), so it is small to reason
// about: main.cc does the signalling, the PIT and the protocol.
//
// Storage is static and split per channel: a channel owns kEntriesPerChannel entries, each free,
// armed (in the heap) or fired (waiting to be collected), so a client can only ever fill its own
// share; a client (one badge) holds at most kChannelsPerClient channels.
#pragma once

#include <stdint.h>

#include <tessera/abi/timer.capnp.h>
#include <tessera/error.h>

namespace timer {

using tessera::Error;
using tessera::Result;

constexpr uint32_t kMaxChannels = tessera::timer::kMaxChannels;
constexpr uint32_t kChannelsPerClient = tessera::timer::kChannelsPerClient;
constexpr uint32_t kEntriesPerChannel = tessera::timer::kEntriesPerChannel;
constexpr uint32_t kHeapCapacity = kMaxChannels * kEntriesPerChannel;
static_assert(kEntriesPerChannel <= 256 && kMaxChannels <= 256, "ids pack both in a byte each");

enum class EntryState : uint8_t { Free, Armed, Fired };

struct Entry {
  EntryState state = EntryState::Free;
  uint32_t generation = 0;  // bumped when the entry is freed: a stale id names nothing
  uint32_t heap_index = 0;  // where it is in the heap while armed
  uint64_t deadline = 0, cookie = 0, order = 0;  // order: arming order, breaks deadline ties
  uint64_t fired_at = 0, sequence = 0;
};

struct Channel {
  bool used = false;
  uint64_t owner = 0;     // the client's badge
  uint64_t notify = 0;    // the server's slot holding the notification (main.cc's business)
  uint32_t armed = 0, fired = 0;
  Entry entries[kEntriesPerChannel];
};

struct FiredEvent {
  uint64_t id, cookie, deadline, fired_at, sequence;
};

class Table {
 public:
  // A new channel for `owner`. NotEnoughMemory when the owner has kChannelsPerClient or every
  // channel is in use.
  Result<uint32_t> open(uint64_t owner, uint64_t notify);
  // Frees the channel: its armed entries leave the heap, its events are dropped.
  void close(uint32_t channel);
  // The channel if `owner` holds it; InvalidArgument otherwise.
  Result<Channel*> owned(uint32_t channel, uint64_t owner);
  Channel& channel(uint32_t index) { return channels_[index]; }
  uint32_t channels_of(uint64_t owner) const;

  // Arms a deadline: its id. NotEnoughMemory when the channel's share is full.
  Result<uint64_t> arm(uint32_t channel, uint64_t deadline, uint64_t cookie);
  // Disarms an armed entry; false when it is not armed (fired, collected, stale, never was).
  bool cancel(uint32_t channel, uint64_t id);

  // The earliest armed deadline; false when nothing is armed.
  bool earliest(uint64_t* deadline) const;
  // Fires the earliest entry when its deadline is <= now: it becomes an event of its channel,
  // numbered by the server-wide sequence. Returns its channel, or -1 when none is due.
  int32_t fire_next(uint64_t now);

  // Takes up to `capacity` fired events of the channel, in firing order, freeing their entries;
  // *more says whether others remain.
  uint32_t collect(uint32_t channel, FiredEvent* out, uint32_t capacity, bool* more);

  uint32_t channels_used() const;
  uint32_t armed() const { return heap_size_; }
  uint32_t uncollected() const;
  uint64_t fired_total() const { return sequence_; }

  // Checks the heap's invariants (tests and debugging): every armed entry in the heap once at its
  // heap_index, parents never later than children.
  bool check() const;

 private:
  static uint64_t make_id(uint32_t channel, uint32_t slot, uint32_t generation) {
    return (uint64_t{generation} << 16) | (uint64_t{channel} << 8) | slot;
  }
  Entry* find(uint32_t channel, uint64_t id);
  Entry& entry_of(uint32_t ref) { return channels_[ref >> 8].entries[ref & 0xFF]; }
  const Entry& entry_of(uint32_t ref) const { return channels_[ref >> 8].entries[ref & 0xFF]; }
  bool before(uint32_t a, uint32_t b) const;
  void place(uint32_t index, uint32_t ref);
  void sift_up(uint32_t index);
  void sift_down(uint32_t index);
  void heap_remove(uint32_t index);
  void free_entry(Entry& e);

  Channel channels_[kMaxChannels];
  uint32_t heap_[kHeapCapacity] = {};  // refs: channel << 8 | slot
  uint32_t heap_size_ = 0;
  uint64_t order_ = 0, sequence_ = 0;
};

}  // namespace timer
