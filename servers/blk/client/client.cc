// The block client library (tessera/blk/client.h).
#include <tessera/blk/client.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/string.h>
#include <tessera/sys/ipc.h>

namespace tessera::blk {
namespace {
namespace sys = tessera::sys;
using ReceivingBlock = block::Block::Client<sys::ReceivingCallTransport>;

void delete_slot(sys::SlotAllocator& slots, sys::CPtr cnode, sys::CPtr& slot) {
  if (slot == 0) return;
  sys::CallTransport kernel(sys::ipc_buffer());
  (void)abi::CNode::Client<sys::CallTransport>(kernel, cnode).delete_(slot, sys::kSlotDepth);
  (void)slots.free(slot);
  slot = 0;
}

// Lets go of a region; one the driver revoked meanwhile answers an error, and its slot goes anyway.
void let_go(sys::Region& region) {
  if (region.valid() && !region.release().ok()) (void)region.close();
}

// A driver that ended while we called it (NoReply) or whose objects went (the capability is gone):
// worth calling again, the restarted driver answers.
bool driver_gone(Error e) {
  return e == Error::NoReply || e == Error::ObjectDeleted || e == Error::InvalidCapability || e == Error::EmptySlot ||
         e == Error::FailedLookup || e == Error::MalformedMessage;
}
}  // namespace

Result<void> BlockClient::connect(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                                  sys::CPtr cnode, uint8_t channel, uint64_t data_bytes) {
  channel_ = channel;
  own_data_bytes_ = data_bytes;
  session_ = &session;
  slot_allocator_ = &slots;
  cnode_ = cnode;
  endpoint_ = endpoint;
  return attach();
}

Result<sys::CPtr> BlockClient::receive_cap(uint32_t method) {
  sys::CPtr slot = TRY(slot_allocator_->alloc());
  sys::ReceivingCallTransport transport(sys::ipc_buffer(), cnode_, slot);
  ReceivingBlock driver(transport, endpoint_);
  Result<void> r;
  if (method == 0) {
    auto reply = driver.connect(channel_, own_data_bytes_);
    if (reply.ok()) {
      capacity_ = reply->capacity();
      slots_count_ = reply->slots();
      data_bytes_ = reply->data_bytes();
      max_transfer_ = reply->max_transfer();
      generation_ = reply->generation();
      if (!reply->has_ring()) r = Error::MissingCapability;
    } else {
      r = reply.error();
    }
  } else if (method == 1) {
    auto reply = driver.wake_driver(channel_);
    r = reply.ok() ? (reply->has_notification() ? Result<void>() : Result<void>(Error::MissingCapability))
                   : Result<void>(reply.error());
  } else if (method == 3) {
    auto reply = driver.data_area(channel_);
    r = reply.ok() ? (reply->has_region() ? Result<void>() : Result<void>(Error::MissingCapability))
                   : Result<void>(reply.error());
  } else {
    auto reply = driver.wake_client(channel_);
    r = reply.ok() ? (reply->has_notification() ? Result<void>() : Result<void>(Error::MissingCapability))
                   : Result<void>(reply.error());
  }
  if (r.ok() && !transport.received()) r = Error::MissingCapability;
  if (!r.ok()) {
    if (transport.received()) {
      delete_slot(*slot_allocator_, cnode_, slot);
    } else {
      (void)slot_allocator_->free(slot);
    }
    return r.error();
  }
  return slot;
}

// Connect, the two notifications, the region attached and the views made. On any failure the
// pieces already there are given back.
Result<void> BlockClient::attach() {
  const sys::CPtr ring_slot = TRY(receive_cap(0));
  Result<sys::Region> adopted = sys::Region::adopt(*session_, ring_slot);
  if (!adopted.ok()) {
    sys::CPtr s = ring_slot;
    delete_slot(*slot_allocator_, cnode_, s);
    return adopted.error();
  }
  sys::Region ring = static_cast<sys::Region&&>(adopted.value());
  sys::Region own_data;
  auto fail = [&](Error e) -> Result<void> {
    (void)ring.release();
    let_go(own_data);
    delete_slot(*slot_allocator_, cnode_, wake_driver_);
    delete_slot(*slot_allocator_, cnode_, wake_me_);
    return e;
  };
  if (slots_count_ == 0 || slots_count_ > kMaxSlots || !ring_capacity_valid(slots_count_)) return fail(Error::RangeError);
  const RingPairLayout layout = ring_pair_layout(slots_count_, data_bytes_);
  if (own_data_bytes_ != 0) {
    if (data_bytes_ != own_data_bytes_) return fail(Error::RangeError);
    const RingPairLayout rings = ring_pair_layout(slots_count_, 0);
    if (rings.data_offset > ring.bytes()) return fail(Error::RangeError);
    Result<sys::CPtr> area = receive_cap(3);
    if (!area.ok()) return fail(area.error());
    Result<sys::Region> adopted_area = sys::Region::adopt(*session_, area.value());
    if (!adopted_area.ok()) {
      sys::CPtr s = area.value();
      delete_slot(*slot_allocator_, cnode_, s);
      return fail(adopted_area.error());
    }
    own_data = static_cast<sys::Region&&>(adopted_area.value());
    if (own_data.bytes() < own_data_bytes_) return fail(Error::RangeError);
    Result<uint8_t*> at = own_data.attach(memory::kRightRead | memory::kRightWrite);
    if (!at.ok()) return fail(at.error());
  } else if (layout.total_bytes > ring.bytes()) {
    return fail(Error::RangeError);
  }
  delete_slot(*slot_allocator_, cnode_, wake_driver_);
  delete_slot(*slot_allocator_, cnode_, wake_me_);
  Result<sys::CPtr> wake = receive_cap(1);
  if (!wake.ok()) return fail(wake.error());
  wake_driver_ = wake.value();
  Result<sys::CPtr> me = receive_cap(2);
  if (!me.ok()) return fail(me.error());
  wake_me_ = me.value();
  Result<uint8_t*> base = ring.attach(memory::kRightRead | memory::kRightWrite);
  if (!base.ok()) return fail(base.error());
  data_ = own_data_bytes_ != 0 ? sys::DataArea(own_data.address(), own_data_bytes_)
                               : sys::DataArea(base.value() + layout.data_offset, layout.data_bytes);
  Result<sys::RingProducer> requests =
      sys::RingProducer::attach(base.value() + layout.request_offset, layout.completion_offset, slots_count_);
  Result<sys::RingConsumer> completions = sys::RingConsumer::attach(
      base.value() + layout.completion_offset, layout.data_offset - layout.completion_offset, slots_count_, data_);
  if (!requests.ok() || !completions.ok()) return fail(requests.ok() ? completions.error() : requests.error());
  requests_ = requests.value();
  completions_ = completions.value();
  ring_ = static_cast<sys::Region&&>(ring);
  data_region_ = static_cast<sys::Region&&>(own_data);
  return {};
}

// The driver is gone: connect to its successor (the call waits until init has started it), carry
// the data area over and reissue every outstanding request in submission order.
Result<void> BlockClient::reconnect() {
  if (!reconnect_on_) return Error::ObjectDeleted;
  sys::Region old = static_cast<sys::Region&&>(ring_);
  sys::Region old_own = static_cast<sys::Region&&>(data_region_);
  const sys::DataArea old_data = data_;
  Result<void> attached = Error::NoReply;
  for (int attempt = 0; attempt < 1000 && !attached.ok(); ++attempt) {
    attached = attach();
    if (!attached.ok() && !driver_gone(attached.error())) break;
  }
  if (!attached.ok()) {
    ring_ = static_cast<sys::Region&&>(old);
    data_region_ = static_cast<sys::Region&&>(old_own);
    return attached.error();
  }
  ++reconnects_;
  const uint64_t bytes = old_data.bytes() < data_.bytes() ? old_data.bytes() : data_.bytes();
  memcpy(data_.base(), old_data.base(), bytes);
  (void)old.release();
  let_go(old_own);
  // Oldest first: a write submitted after another to the same sector stays after it.
  bool reissued[kMaxSlots] = {};
  for (uint32_t n = 0; n < outstanding_; ++n) {
    uint32_t oldest = kMaxSlots;
    for (uint32_t i = 0; i < kMaxSlots; ++i) {
      if (requests_table_[i].used && !reissued[i] &&
          (oldest == kMaxSlots || requests_table_[i].sequence < requests_table_[oldest].sequence)) {
        oldest = i;
      }
    }
    if (oldest == kMaxSlots) break;
    reissued[oldest] = true;
    const Result<bool> pushed = requests_.push(requests_table_[oldest].descriptor);
    if (!pushed.ok()) return pushed.error();
    pending_signal_ = pending_signal_ || pushed.value();
  }
  if (pending_signal_) {
    pending_signal_ = false;
    ++signals_;
    (void)sys::signal(wake_driver_);
  }
  return {};
}

Result<void> BlockClient::push(const RingDescriptor& d) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const Result<bool> pushed = requests_.push(d);
    if (pushed.ok()) {
      pending_signal_ = pending_signal_ || pushed.value();
      return {};
    }
    if (pushed.error() == Error::WouldBlock) return Error::WouldBlock;  // cannot be: slots bound outstanding
    TRY(reconnect());  // a broken ring: the driver is not what it was
  }
  return Error::Busy;
}

Result<uint64_t> BlockClient::submit(uint16_t opcode, uint64_t sector, uint64_t offset, uint32_t length) {
  if (endpoint_ == 0) return Error::IllegalOperation;
  if (outstanding_ >= slots_count_) return Error::WouldBlock;
  uint32_t index = 0;
  while (requests_table_[index].used) ++index;
  const uint64_t cookie = (++sequence_ << 8) | index;
  Request& r = requests_table_[index];
  r.used = true;
  r.sequence = sequence_;
  r.descriptor = RingDescriptor{offset, length, opcode, 0, cookie, sector};
  ++outstanding_;
  // Published now; reissued from the table after a reconnect (which sends every outstanding one).
  if (const Result<void> pushed = push(r.descriptor); !pushed.ok()) {
    r.used = false;
    --outstanding_;
    return pushed.error();
  }
  if (!batching_) TRY(kick());
  return cookie;
}

Result<void> BlockClient::kick() {
  if (!pending_signal_) return {};
  pending_signal_ = false;
  ++signals_;
  const Error e = sys::signal(wake_driver_);
  if (e == Error::Ok) return {};
  if (!driver_gone(e)) return e;
  return reconnect();
}

Result<Completion> BlockClient::next(bool wait) {
  for (;;) {
    const Result<RingDescriptor> first = completions_.pop();
    // A completion naming bytes outside the area (the driver echoes a refused request's offset):
    // still the answer to its cookie; the library never touches payload through it.
    const Result<RingDescriptor> popped =
        !first.ok() && first.error() == Error::RangeError ? Result<RingDescriptor>(completions_.rejected()) : first;
    if (popped.ok()) {
      // The driver found the request ring full (it never does: slots bound it), or wants to know
      // we made room in the completion ring.
      if (completions_.should_signal_producer()) {
        ++signals_;
        (void)sys::signal(wake_driver_);
      }
      const RingDescriptor& d = popped.value();
      const uint32_t index = static_cast<uint32_t>(d.cookie & 0xFF);
      if (index >= kMaxSlots || !requests_table_[index].used || requests_table_[index].descriptor.cookie != d.cookie) {
        continue;  // not one of ours (a completion of a request reissued since): ignored
      }
      requests_table_[index].used = false;
      --outstanding_;
      const RingDescriptor& sent = requests_table_[index].descriptor;
      return Completion{d.cookie, sent.opcode, static_cast<Error>(d.status), d.length, sent.offset, sent.argument};
    }
    if (popped.error() != Error::WouldBlock) {
      TRY(reconnect());
      continue;
    }
    if (completions_.should_signal_producer()) {
      ++signals_;
      (void)sys::signal(wake_driver_);
    }
    if (!wait) return Error::WouldBlock;
    if (outstanding_ == 0) return Error::WouldBlock;  // nothing will come
    if (polling_) {
      asm volatile("pause");
      continue;
    }
    uint64_t word = 0;
    ++waits_;
    const Error e = sys::wait(wake_me_, &word);
    if (e != Error::Ok) {
      if (!driver_gone(e)) return e;
      TRY(reconnect());
    }
  }
}

Result<Completion> BlockClient::run(uint16_t opcode, uint64_t sector, uint64_t offset, uint32_t length) {
  const uint64_t cookie = TRY(submit(opcode, sector, offset, length));
  TRY(kick());  // also when batching
  for (;;) {
    const Completion done = TRY(next(true));
    if (done.cookie == cookie) return done;
  }
}

Result<void> BlockClient::disconnect() {
  if (endpoint_ == 0) return {};
  sys::CallTransport transport(sys::ipc_buffer());
  block::Block::Client<sys::CallTransport> driver(transport, endpoint_);
  let_go(data_region_);  // before the driver revokes it
  const auto r = driver.disconnect(channel_);
  (void)ring_.release();
  delete_slot(*slot_allocator_, cnode_, wake_driver_);
  delete_slot(*slot_allocator_, cnode_, wake_me_);
  endpoint_ = 0;
  if (!r.ok()) return r.error();
  return {};
}

}  // namespace tessera::blk
