// timer: the timer server (protocol abi/timer.capnp, docs/drivers.md "The timer server"). Started
// by init from boot/system.conf with the PIT's interrupt (`irq:pit-irq`, ISA IRQ 0 = IOAPIC line 2),
// its ports (`ioports:pit`: channel 0, 0x40; `ioports:pit-mode`: the mode port, 0x43) and the endpoint it serves (`endpoint:timer`).
//
// The clock is the TSC scaled by the kernel's measured rate (tessera/sys/clock.h). The PIT's
// channel 0 is the alarm: one-shot (mode 0) to the earliest armed deadline, rounded up to its tick
// (1/1,193,182 s, 838 ns) and at most 65,535 ticks (54.9 ms) ahead; when it fires, every deadline
// the TSC says has passed fires, earliest first, and the PIT is set for the next. Nothing armed:
// the PIT is stopped, no interrupts. (The kernel uses the LAPIC timer for its tick and the PIT's
// channel 2 only to calibrate at boot; channel 0 and IRQ 0 are free.)
//
// One thread serves both the endpoint and the interrupt: the interrupt's notification is bound
// to the server's TCB, so a Recv on the endpoint also returns when the PIT fires (with the
// notification's badge kInterruptBadge, which no endpoint grant carries, and an empty message).
// A client never makes the server wait: replies come at once, deadlines are signalled on the
// client's notification (sys::signal never blocks).
#include <stdint.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/abi/timer.capnp.h>
#include <tessera/sys/clock.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/device.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/memory.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>

#include "table.h"

namespace {
namespace sys = tessera::sys;
using tessera::Error;
using tessera::Result;
using tessera::capnp::CapRef;
using tessera::timer::Timer;

// The badge of the interrupt's notification as the bound Recv reports it: above every badge init
// gives endpoint grants (program numbers, or a BADGE below 2^47 in system.conf by convention).
constexpr uint64_t kInterruptBadge = uint64_t{1} << 47;

// The PIT (Intel 8254): channel 0 drives ISA IRQ 0.
constexpr uint16_t kPitChannel0 = 0x40, kPitCommand = 0x43;
constexpr uint64_t kPitHz = 1'193'182;
constexpr uint8_t kPitChannel0OneShot = 0x30;  // channel 0, low then high byte, mode 0, binary
constexpr uint64_t kPitMaxTicks = 0xFFFF;
constexpr uint64_t kResolutionNs = (1'000'000'000ull + kPitHz - 1) / kPitHz;  // one tick: 839 ns
// How often, at most, the interrupt path looks for channels whose client is gone.
constexpr uint64_t kSweepIntervalNs = 100'000'000;

class TimerServer : public Timer::Server<TimerServer> {
 public:
  TimerServer(sys::IoPorts pit, sys::IoPorts mode, sys::Interrupt irq, sys::SlotAllocator& slots, uint64_t tsc_hz)
      : pit_(pit), mode_(mode), irq_(irq), slots_(slots), tsc_hz_(tsc_hz) {}

  // ---- the protocol ----

  // now, arm and cancel are flat handlers (docs/writing-a-server.md): arguments in, XReply out.
  Result<Timer::NowReply> now() { return Timer::NowReply{clock()}; }

  Result<void> info(Timer::InfoParams::Reader, Timer::InfoResults::Builder results) {
    results.set_tsc_hz(tsc_hz_);
    results.set_resolution_ns(kResolutionNs);
    results.set_channels(timer::kMaxChannels);
    results.set_channels_per_client(timer::kChannelsPerClient);
    results.set_entries_per_channel(timer::kEntriesPerChannel);
    return {};
  }

  Result<void> attach(Timer::AttachParams::Reader params, Timer::AttachResults::Builder results) {
    if (!params.has_notify()) return Error::InvalidArgument;
    (void)TRY(params.notify());  // the reader checked that a capability really arrived
    if (!sys::current_request().has_cap()) return Error::InvalidArgument;
    const uint64_t client = sys::current_request().badge();
    // A client whose earlier channels belong to a program that ended (a restart has its badge)
    // or a full server: drop the dead channels first.
    if (table_.channels_of(client) >= timer::kChannelsPerClient || table_.channels_used() >= timer::kMaxChannels) {
      sweep();
    }
    if (table_.channels_of(client) >= timer::kChannelsPerClient || table_.channels_used() >= timer::kMaxChannels) {
      return Error::NotEnoughMemory;
    }
    const sys::CPtr notify = TRY(sys::current_request().keep_cap());
    Result<uint32_t> channel = table_.open(client, notify);
    if (!channel.ok()) {
      drop_cap(notify);
      return channel.error();
    }
    results.set_channel(*channel);
    return {};
  }

  Result<Timer::ArmReply> arm(uint32_t channel, uint64_t deadline, uint64_t cookie) {
    TRY(table_.owned(channel, sys::current_request().badge()));
    // A deadline already past fires in after_request(), before the reply goes out.
    return Timer::ArmReply{TRY(table_.arm(channel, deadline, cookie))};
  }

  Result<Timer::CancelReply> cancel(uint32_t channel, uint64_t id) {
    TRY(table_.owned(channel, sys::current_request().badge()));
    return Timer::CancelReply{table_.cancel(channel, id)};
  }

  Result<void> collect(Timer::CollectParams::Reader params, Timer::CollectResults::Builder results) {
    TRY(table_.owned(params.channel(), sys::current_request().badge()));
    timer::FiredEvent events[tessera::timer::kEventsPerCollect];
    bool more = false;
    const uint32_t n = table_.collect(params.channel(), events, tessera::timer::kEventsPerCollect, &more);
    auto list = results.init_events(n);
    for (uint32_t i = 0; i < n; ++i) {
      auto e = list[i];
      e.set_id(events[i].id);
      e.set_cookie(events[i].cookie);
      e.set_deadline(events[i].deadline);
      e.set_fired_at(events[i].fired_at);
      e.set_sequence(events[i].sequence);
    }
    results.set_more(more);
    return {};
  }

  Result<void> detach(Timer::DetachParams::Reader params, Timer::DetachResults::Builder) {
    TRY(table_.owned(params.channel(), sys::current_request().badge()));
    close_channel(params.channel());
    return {};
  }

  Result<void> status(Timer::StatusParams::Reader, Timer::StatusResults::Builder results) {
    sweep();
    results.set_channels(table_.channels_used());
    results.set_armed(table_.armed());
    results.set_uncollected(table_.uncollected());
    results.set_reclaimed(reclaimed_);
    results.set_fired(table_.fired_total());
    return {};
  }

  // ---- time ----

  uint64_t clock() const { return sys::ns_from_ticks(sys::rdtsc(), tsc_hz_); }

  // After every request: fire what is due (a deadline armed in the past), set the PIT.
  void after_request() { expire(); }

  // The PIT fired.
  void on_interrupt() {
    (void)irq_.ack();  // first: an edge while the line is masked would be lost
    pit_due_ = 0;
    expire();
    const uint64_t now = clock();
    if (now - last_sweep_ >= kSweepIntervalNs) {
      last_sweep_ = now;
      sweep();
    }
  }

  void stop_pit() { (void)mode_.out8(kPitCommand, kPitChannel0OneShot); }  // no count written: no edge

 private:
  // Fires every due deadline (signalling each channel once per batch) and sets the PIT for the next.
  void expire() {
    for (;;) {
      const uint64_t now = clock();
      bool signal_channel[timer::kMaxChannels] = {};
      for (int32_t channel = table_.fire_next(now); channel >= 0; channel = table_.fire_next(now)) {
        signal_channel[channel] = true;
      }
      for (uint32_t c = 0; c < timer::kMaxChannels; ++c) {
        if (!signal_channel[c] || !table_.channel(c).used) continue;
        // A notification that is gone (its client ended and its memory went back) fails: the
        // channel is dropped with everything in it.
        if (sys::signal(table_.channel(c).notify) != Error::Ok) {
          close_channel(c);
          ++reclaimed_;
        }
      }
      if (program_pit()) return;  // otherwise the earliest deadline came due meanwhile: fire it
    }
  }

  // Sets the PIT for the earliest deadline (when it is not set for that already). False when the
  // earliest deadline is due already (the caller fires it instead).
  bool program_pit() {
    uint64_t deadline = 0;
    if (!table_.earliest(&deadline)) {
      if (pit_due_ != 0) stop_pit();
      pit_due_ = 0;
      return true;
    }
    const uint64_t now = clock();
    if (deadline <= now) return false;
    if (pit_due_ != 0 && pit_due_ > now && pit_due_ <= deadline) return true;  // fires in time already
    uint64_t delta = deadline - now;
    const uint64_t max_ns = kPitMaxTicks * 1'000'000'000ull / kPitHz;
    if (delta > max_ns) delta = max_ns;
    uint64_t ticks = (delta * kPitHz + 999'999'999ull) / 1'000'000'000ull;
    if (ticks == 0) ticks = 1;
    if (ticks > kPitMaxTicks) ticks = kPitMaxTicks;
    (void)mode_.out8(kPitCommand, kPitChannel0OneShot);
    (void)pit_.out8(kPitChannel0, static_cast<uint8_t>(ticks & 0xFF));
    (void)pit_.out8(kPitChannel0, static_cast<uint8_t>(ticks >> 8));
    pit_due_ = now + ticks * 1'000'000'000ull / kPitHz;
    return true;
  }

  // Drops channels whose notification is gone: a copy of the capability into a scratch slot fails
  // when the slot is empty (the memory server revoked the object when its program ended).
  void sweep() {
    for (uint32_t c = 0; c < timer::kMaxChannels; ++c) {
      if (!table_.channel(c).used || alive(table_.channel(c).notify)) continue;
      close_channel(c);
      ++reclaimed_;
    }
  }

  bool alive(sys::CPtr cap) {
    Result<sys::CPtr> scratch = slots_.alloc();
    if (!scratch.ok()) return true;
    sys::CallTransport kernel(sys::ipc_buffer());
    tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel, sys::kProcessSlotCNode);
    const bool ok = cnode.copy(*scratch, sys::kSlotDepth, CapRef{sys::kProcessSlotCNode}, cap, sys::kSlotDepth,
                               tessera::abi::kRightWrite)
                        .ok();
    if (ok) (void)cnode.delete_(*scratch, sys::kSlotDepth);
    (void)slots_.free(*scratch);
    return ok;
  }

  void close_channel(uint32_t c) {
    drop_cap(table_.channel(c).notify);
    table_.close(c);
    (void)program_pit();
  }

  void drop_cap(sys::CPtr cap) {
    sys::CallTransport kernel(sys::ipc_buffer());
    (void)tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode).delete_(cap, sys::kSlotDepth);
    (void)slots_.free(cap);
  }

  timer::Table table_;
  sys::IoPorts pit_, mode_;
  sys::Interrupt irq_;
  sys::SlotAllocator& slots_;
  uint64_t tsc_hz_;
  uint64_t pit_due_ = 0;  // when the PIT is set to fire (0: not set)
  uint64_t reclaimed_ = 0;
  uint64_t last_sweep_ = 0;
};

[[noreturn]] void fail(const char* what, Error e) {
  sys::print("timer: %s (error %s)\n", what, tessera::error_name(e));
  sys::exit_process(1);
}

template <typename T>
T need(Result<T> r, const char* what) {
  if (!r.ok()) fail(what, r.error());
  return *r;
}
void need(Result<void> r, const char* what) {
  if (!r.ok()) fail(what, r.error());
}

}  // namespace

int main(uint64_t argument) {
  const sys::StartupBlock* block = sys::startup_block(argument);
  if (block == nullptr || block->memory == 0 || block->tcb == 0) {
    sys::print("timer: not started by init on a memory server\n");
    return 1;
  }
  const sys::CPtr endpoint = need(sys::find_grant(*block, "endpoint:timer"), "no endpoint:timer granted");
  const sys::CPtr irq_handler = need(sys::find_grant(*block, "irq:pit-irq"), "no irq:pit-irq granted");
  const sys::IoPorts pit(need(sys::find_grant(*block, "ioports:pit"), "no ioports:pit granted"));
  const sys::IoPorts mode(need(sys::find_grant(*block, "ioports:pit-mode"), "no ioports:pit-mode granted"));
  const uint64_t hz = sys::tsc_hz();
  if (hz == 0) fail("the TSC rate is unknown", Error::NotSupported);

  static sys::SlotAllocator slots(block->empty);
  static sys::MemorySession session;
  session = sys::MemorySession(sys::process_memory()->cap(), slots, sys::kProcessSlotCNode);
  // The interrupt's notification, bound to this thread so the endpoint's Recv sees it; the
  // handler signals a copy with kInterruptBadge.
  const sys::MemorySession::Object notification = need(session.create_object(tessera::abi::ObjectType::Notification),
                                                       "cannot make a notification");
  const sys::CPtr badged = need(slots.alloc(), "no free slot");
  sys::CallTransport kernel(sys::ipc_buffer());
  need(tessera::abi::CNode::Client<sys::CallTransport>(kernel, sys::kProcessSlotCNode)
           .mint(badged, sys::kSlotDepth, CapRef{sys::kProcessSlotCNode}, notification.cap, sys::kSlotDepth,
                 tessera::abi::kRightWrite, kInterruptBadge),
       "cannot badge the notification");
  need(tessera::abi::Tcb::Client<sys::CallTransport>(kernel, block->tcb).bind_notification(CapRef{notification.cap}),
       "cannot bind the notification");
  // Stop whatever the firmware left running on channel 0 (a periodic 18.2 Hz) before the line is
  // unmasked.
  need(mode.out8(kPitCommand, kPitChannel0OneShot), "cannot reach the PIT");
  const sys::Interrupt irq = need(sys::Interrupt::bind(irq_handler, badged), "cannot bind the PIT's interrupt");

  static TimerServer server(pit, mode, irq, slots, hz);
  sys::print("timer: serving (PIT one-shot, resolution %lu ns, TSC %lu Hz)\n", kResolutionNs, hz);

  const sys::ServeOptions options{&slots, sys::kProcessSlotCNode, "timer"};
  sys::EndpointServerTransport transport(endpoint, options);
  sys::detail::CurrentRequest current(transport.context());
  tessera::capnp::Request request;
  Error e = transport.receive(&request);
  while (e == Error::Ok) {
    if (transport.badge() == kInterruptBadge && request.label == 0 && request.length_words == 0) {
      server.on_interrupt();
      e = transport.receive(&request);
      continue;
    }
    const tessera::capnp::Reply reply = server.dispatch(request, transport.reply_buffer());
    if (reply.error == Error::IllegalOperation) [[unlikely]] transport.note_refused(request.label);
    server.after_request();
    e = transport.reply_receive(reply, &request);
  }
  sys::print("timer: receive failed (error %s)\n", tessera::error_name(e));
  sys::exit_process(1);
}
