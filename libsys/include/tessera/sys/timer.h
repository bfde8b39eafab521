// A client of the timer server (servers/timer, abi/timer.capnp, docs/drivers.md): sleeping and
// deadline notifications.
//
//   static sys::TimerClient timer;
//   timer = TRY(sys::TimerClient::open(session, TRY(sys::find_grant(*block, "endpoint:timer"))));
//   TRY(timer.sleep_ns(5'000'000));                         // 5 ms
//   const uint64_t id = TRY(timer.deadline(sys::now_ns() + 1'000'000, 7));   // cookie 7
//   ... TRY(timer.wait()); n = TRY(timer.collect(events, 16));               // {id, 7, ...}
//
// A TimerClient is one channel: a notification it makes through the memory session, a badged
// copy of which the server keeps and signals when a deadline passes. Use it from one thread (a
// thread that sleeps while another waits on the same channel would take its signals): give each
// thread its own. Every program has 4 channels (tessera::timer::kChannelsPerClient) and 32
// deadlines armed or uncollected per channel.
#pragma once

#include <stdint.h>

#include <tessera/abi/timer.capnp.h>
#include <tessera/error.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/cspace.h>
#include <tessera/sys/memory.h>

namespace tessera::sys {

struct TimerEvent {
  uint64_t id = 0, cookie = 0, deadline = 0, fired_at = 0, sequence = 0;
};

class TimerClient {
 public:
  // Attaches a new channel on the server at `endpoint` (a capability with write and grant
  // rights), its notification from `session` (slots from session.slots()).
  static Result<TimerClient> open(MemorySession& session, CPtr endpoint);
  TimerClient() = default;

  // The server's clock (ns); sys::now_ns() reads the same clock without a call.
  Result<uint64_t> now();
  // Arms a deadline (ns on that clock): the event's id. A deadline in the past fires at once.
  Result<uint64_t> deadline(uint64_t deadline_ns, uint64_t cookie = 0);
  // Disarms it: false when it fired already (the event is still to be collected) or is unknown.
  Result<bool> cancel(uint64_t id);
  // Waits for the channel's notification (some deadline fired, or a signal is pending).
  Result<void> wait();
  // Fired events, oldest first, up to `capacity` (events a sleep set aside come first).
  Result<uint32_t> collect(TimerEvent* out, uint32_t capacity);
  // Blocks until the clock reaches `deadline_ns` / for `ns` from now. Other events of the channel
  // that fire meanwhile are kept for collect() (up to kKeptEvents; more are dropped).
  Result<void> sleep_until(uint64_t deadline_ns);
  Result<void> sleep_ns(uint64_t ns) { return sleep_until(now_ns() + ns); }
  // Detaches the channel and gives the notification back.
  Result<void> close();

  uint32_t channel() const { return channel_; }
  CPtr endpoint() const { return endpoint_; }
  CPtr notification() const { return notification_.cap; }

  static constexpr uint32_t kKeptEvents = 16;

 private:
  Result<uint32_t> collect_from_server(TimerEvent* out, uint32_t capacity);

  MemorySession* session_ = nullptr;
  CPtr endpoint_ = 0;
  MemorySession::Object notification_{0, 0};
  uint32_t channel_ = 0;
  TimerEvent kept_[kKeptEvents] = {};
  uint32_t kept_count_ = 0;
};

}  // namespace tessera::sys
