// The timer server's client (tessera/sys/timer.h).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/timer.h>

namespace tessera::sys {
namespace {
using Timer = timer::Timer;

Timer::Client<CallTransport> client(CPtr endpoint, CallTransport& transport) {
  return Timer::Client<CallTransport>(transport, endpoint);
}

void delete_slot(MemorySession& session, CPtr slot) {
  CallTransport kernel(ipc_buffer());
  (void)abi::CNode::Client<CallTransport>(kernel, session.cnode()).delete_(slot, kSlotDepth);
  (void)session.slots()->free(slot);
}
}  // namespace

// Mints a badged copy of `notification` (the server signals that one, so the word says something
// fired), attaches it as a channel and deletes the copy (the server has its own by then).
Result<uint32_t> attach_channel(MemorySession& session, CPtr endpoint, CPtr notification) {
  const CPtr badged = TRY(session.slots()->alloc());
  CallTransport kernel(ipc_buffer());
  const Result<void> minted = abi::CNode::Client<CallTransport>(kernel, session.cnode())
                                  .mint(badged, kSlotDepth, capnp::CapRef{session.cnode()}, notification, kSlotDepth,
                                        abi::kRightWrite, 1);
  if (!minted.ok()) {
    (void)session.slots()->free(badged);
    return minted.error();
  }
  CallTransport transport(ipc_buffer());
  auto attached = client(endpoint, transport).attach(capnp::CapRef{badged});
  // The reply lives in the IPC buffer: read it before the next kernel call.
  const Error error = attached.ok() ? Error::Ok : attached.error();
  const uint32_t channel = attached.ok() ? attached->channel() : 0;
  delete_slot(session, badged);
  if (error != Error::Ok) return error;
  return channel;
}

Result<TimerClient> TimerClient::open(MemorySession& session, CPtr endpoint) {
  if (session.slots() == nullptr) return Error::NotEnoughMemory;
  const MemorySession::Object notification = TRY(session.create_object(abi::ObjectType::Notification));
  const Result<uint32_t> channel = attach_channel(session, endpoint, notification.cap);
  if (!channel.ok()) {
    (void)session.delete_object(notification.id);
    (void)session.slots()->free(notification.cap);
    return channel.error();
  }
  TimerClient c;
  c.session_ = &session;
  c.endpoint_ = endpoint;
  c.notification_ = notification;
  c.channel_ = channel.value();
  return c;
}

Result<uint64_t> TimerClient::now() {
  CallTransport transport(ipc_buffer());
  return TRY(client(endpoint_, transport).now()).ns();
}

Result<uint64_t> TimerClient::deadline(uint64_t deadline_ns, uint64_t cookie) {
  CallTransport transport(ipc_buffer());
  return TRY(client(endpoint_, transport).arm(channel_, deadline_ns, cookie)).id();
}

Result<bool> TimerClient::cancel(uint64_t id) {
  CallTransport transport(ipc_buffer());
  return TRY(client(endpoint_, transport).cancel(channel_, id)).cancelled();
}

Result<void> TimerClient::wait() {
  uint64_t word = 0;
  if (const Error e = sys::wait(notification_.cap, &word); e != Error::Ok) return e;
  return {};
}

Result<uint32_t> TimerClient::collect_from_server(TimerEvent* out, uint32_t capacity) {
  CallTransport transport(ipc_buffer());
  auto reply = TRY(client(endpoint_, transport).collect(channel_));
  const auto events = TRY(reply.events());
  uint32_t n = 0;
  for (uint32_t i = 0; i < events.size() && n < capacity; ++i) {
    const auto e = events[i];
    out[n++] = TimerEvent{e.id(), e.cookie(), e.deadline(), e.fired_at(), e.sequence()};
  }
  return n;
}

Result<uint32_t> TimerClient::collect(TimerEvent* out, uint32_t capacity) {
  uint32_t n = 0;
  while (n < capacity && kept_count_ > 0) {
    out[n++] = kept_[0];
    for (uint32_t i = 1; i < kept_count_; ++i) kept_[i - 1] = kept_[i];
    --kept_count_;
  }
  if (n < capacity) {
    // The server hands out up to eventsPerCollect at a time: what does not fit is kept.
    TimerEvent fresh[timer::kEventsPerCollect];
    const uint32_t got = TRY(collect_from_server(fresh, timer::kEventsPerCollect));
    for (uint32_t i = 0; i < got; ++i) {
      if (n < capacity) {
        out[n++] = fresh[i];
      } else if (kept_count_ < kKeptEvents) {
        kept_[kept_count_++] = fresh[i];
      }
    }
  }
  return n;
}

Result<void> TimerClient::sleep_until(uint64_t deadline_ns) {
  const uint64_t id = TRY(deadline(deadline_ns, 0));
  for (;;) {
    TRY(wait());
    bool more = true;
    while (more) {
      TimerEvent fresh[timer::kEventsPerCollect];
      CallTransport transport(ipc_buffer());
      auto reply = TRY(client(endpoint_, transport).collect(channel_));
      const auto events = TRY(reply.events());
      more = reply.more();
      bool mine = false;
      uint32_t got = 0;
      for (uint32_t i = 0; i < events.size() && got < timer::kEventsPerCollect; ++i) {
        const auto e = events[i];
        fresh[got++] = TimerEvent{e.id(), e.cookie(), e.deadline(), e.fired_at(), e.sequence()};
      }
      for (uint32_t i = 0; i < got; ++i) {
        if (fresh[i].id == id) {
          mine = true;
        } else if (kept_count_ < kKeptEvents) {
          kept_[kept_count_++] = fresh[i];
        }
      }
      if (mine) return {};
    }
  }
}

Result<void> TimerClient::close() {
  if (session_ == nullptr) return {};
  CallTransport transport(ipc_buffer());
  const auto detached = client(endpoint_, transport).detach(channel_);
  (void)session_->delete_object(notification_.id);
  (void)session_->slots()->free(notification_.cap);
  session_ = nullptr;
  if (!detached.ok()) return detached.error();
  return {};
}

}  // namespace tessera::sys
