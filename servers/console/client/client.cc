// The console client library (tessera/console/client.h).
#include <stdarg.h>

#include <tessera/abi/kernel.capnp.h>
#include <tessera/console/client.h>
#include <tessera/format.h>
#include <tessera/string.h>
#include <tessera/sys/ipc.h>

namespace tessera::console {
namespace {
namespace sys = tessera::sys;
constexpr auto kLayout = ring_pair_layout(kRingSlots, kDataBytes);
constexpr uint64_t kReadCookieBit = uint64_t{1} << 63;

// The driver ended while we called or signalled it: a restarted one will answer.
bool driver_gone(Error e) {
  return e == Error::NoReply || e == Error::ObjectDeleted || e == Error::InvalidCapability || e == Error::EmptySlot ||
         e == Error::FailedLookup || e == Error::MalformedMessage;
}

void delete_slot(sys::SlotAllocator& slots, sys::CPtr cnode, sys::CPtr& slot) {
  if (slot == 0) return;
  sys::CallTransport kernel(sys::ipc_buffer());
  (void)abi::CNode::Client<sys::CallTransport>(kernel, cnode).delete_(slot, sys::kSlotDepth);
  (void)slots.free(slot);
  slot = 0;
}
}  // namespace

Result<void> ConsoleClient::open(sys::MemorySession& session, sys::SlotAllocator& slots, sys::CPtr endpoint,
                                 sys::CPtr cnode) {
  session_ = &session;
  slots_ = &slots;
  cnode_ = cnode;
  endpoint_ = endpoint;
  if (notify_ == 0) notify_ = TRY(session.create_object(abi::ObjectType::Notification)).cap;
  return attach();
}

Result<sys::CPtr> ConsoleClient::receive_cap(bool doorbell) {
  const sys::CPtr slot = TRY(slots_->alloc());
  sys::ReceivingCallTransport transport(sys::ipc_buffer(), cnode_, slot);
  Console::Client<sys::ReceivingCallTransport> driver(transport, endpoint_);
  Error e = Error::Ok;
  if (doorbell) {
    const auto r = driver.doorbell();
    e = r.ok() ? Error::Ok : r.error();
  } else {
    const auto r = driver.open(capnp::CapRef{notify_});
    e = r.ok() ? (r->ring_slots() == kRingSlots && r->data_bytes() == kDataBytes ? Error::Ok : Error::RangeError)
               : r.error();
  }
  if (e == Error::Ok && !transport.received()) e = Error::MissingCapability;
  if (e != Error::Ok) {
    if (transport.received()) {
      sys::CPtr s = slot;
      delete_slot(*slots_, cnode_, s);
    } else {
      (void)slots_->free(slot);
    }
    return e;
  }
  return slot;
}

Result<void> ConsoleClient::attach() {
  bool busy = false;
  {
    const Result<sys::CPtr> first = receive_cap(false);
    if (first.ok()) return adopt(first.value());
    if (first.error() != Error::Busy) return first.error();
    busy = true;
  }
  // A session of our badge from an earlier instance of this program: end it, open anew.
  sys::CallTransport transport(sys::ipc_buffer());
  (void)Console::Client<sys::CallTransport>(transport, endpoint_).close();
  (void)busy;
  const Result<sys::CPtr> cap = receive_cap(false);
  if (!cap.ok()) return cap.error();
  return adopt(cap.value());
}

Result<void> ConsoleClient::adopt(sys::CPtr region_cap) {
  const Result<sys::CPtr> cap(region_cap);
  Result<sys::Region> adopted = sys::Region::adopt(*session_, cap.value());
  if (!adopted.ok()) {
    sys::CPtr s = cap.value();
    delete_slot(*slots_, cnode_, s);
    return adopted.error();
  }
  sys::Region region = static_cast<sys::Region&&>(*adopted);
  if (region.bytes() < kLayout.total_bytes) {
    (void)region.release();
    return Error::RangeError;
  }
  Result<uint8_t*> base = region.attach(memory::kRightRead | memory::kRightWrite);
  if (!base.ok()) {
    (void)region.release();
    return base.error();
  }
  delete_slot(*slots_, cnode_, doorbell_);
  Result<sys::CPtr> bell = receive_cap(true);
  if (!bell.ok()) {
    (void)region.release();
    return bell.error();
  }
  doorbell_ = *bell;
  data_ = sys::DataArea(*base + kLayout.data_offset, kLayout.data_bytes);
  requests_ = TRY(sys::RingProducer::attach(*base + kLayout.request_offset, kLayout.completion_offset, kRingSlots));
  completions_ = TRY(sys::RingConsumer::attach(*base + kLayout.completion_offset,
                                               kLayout.data_offset - kLayout.completion_offset, kRingSlots, data_));
  region_ = static_cast<sys::Region&&>(region);
  base_ = *base;
  if (raw_) {
    sys::CallTransport transport(sys::ipc_buffer());
    (void)Console::Client<sys::CallTransport>(transport, endpoint_).set_mode(Mode::Raw);
  }
  return {};
}

// The driver is gone: a new session with the restarted one; the writes that had not completed
// and the read that was waiting are submitted again (their bytes copied into the new data area).
Result<void> ConsoleClient::reopen() {
  sys::Region old = static_cast<sys::Region&&>(region_);
  uint8_t* const old_data = data_.base();
  base_ = nullptr;
  Result<void> attached = Error::NoReply;
  for (int attempt = 0; attempt < 100 && !attached.ok(); ++attempt) {
    attached = attach();
    if (!attached.ok() && !driver_gone(attached.error())) break;
  }
  if (!attached.ok()) {
    region_ = static_cast<sys::Region&&>(old);
    return attached.error();
  }
  ++reopens_;
  if (old_data != nullptr) memcpy(data_.base(), old_data, kDataBytes);
  (void)old.release();
  for (uint32_t i = 0; i < write_count_; ++i) {
    if (writes_[i].cookie == 0) continue;  // being submitted: its submit() pushes it
    TRY(requests_.push(RingDescriptor{writes_[i].offset, writes_[i].length, kOpWrite, 0, writes_[i].cookie, 0}));
  }
  if (read_cookie_ != 0 && !read_completed_) {
    TRY(requests_.push(RingDescriptor{kWriteBytes, kReadBytes, kOpRead, 0, read_cookie_, 0}));
  }
  (void)sys::signal(doorbell_);
  return {};
}

Result<void> ConsoleClient::ring_doorbell() {
  const Error e = sys::signal(doorbell_);
  if (e == Error::Ok) return {};
  if (!driver_gone(e)) return e;
  return reopen();
}

Result<uint64_t> ConsoleClient::submit(uint32_t offset, uint32_t length, uint16_t opcode) {
  if (base_ == nullptr) return Error::IllegalOperation;
  const uint64_t cookie = (++next_cookie_) | (opcode == kOpRead ? kReadCookieBit : 0);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint64_t session = reopens_;
    const Result<bool> pushed = requests_.push(RingDescriptor{offset, length, opcode, 0, cookie, 0});
    if (pushed.ok()) {
      if (pushed.value()) TRY(ring_doorbell());
      if (reopens_ == session) return cookie;
      continue;  // the doorbell found the driver restarted: the request went into the old ring
    }
    if (pushed.error() != Error::WouldBlock) {
      TRY(reopen());  // a ring the driver broke or a driver that is not what it was
      continue;
    }
    // The ring is full: let the driver catch up (completions are taken meanwhile).
    TRY(ring_doorbell());
    const Result<RingDescriptor> done = completions_.pop();
    if (done.ok()) {
      reap(done.value());
      continue;
    }
    uint64_t word = 0;
    (void)sys::wait(notify_, &word);
  }
  return Error::Busy;
}

void ConsoleClient::reap(const RingDescriptor& d) {
  if (d.cookie == read_cookie_ && read_cookie_ != 0) {
    read_done_ = d;
    read_completed_ = true;
    return;
  }
  for (uint32_t i = 0; i < write_count_; ++i) {
    if (writes_[i].cookie != d.cookie) continue;
    for (uint32_t j = i + 1; j < write_count_; ++j) writes_[j - 1] = writes_[j];
    --write_count_;
    break;
  }
  if (write_count_ == 0) write_offset_ = 0;
}

Result<RingDescriptor> ConsoleClient::await(uint64_t cookie) {
  for (;;) {
    if (cookie == 0 && write_count_ == 0) return RingDescriptor{};
    if (cookie != 0 && cookie == read_cookie_ && read_completed_) return read_done_;
    const Result<RingDescriptor> d = completions_.pop();
    if (d.ok()) {
      if (completions_.should_signal_producer()) TRY(ring_doorbell());
      reap(d.value());
      if (cookie != 0 && d.value().cookie == cookie) return d.value();
      continue;
    }
    if (d.error() == Error::RangeError) continue;  // a completion naming bytes outside the area
    if (d.error() != Error::WouldBlock) {
      TRY(reopen());
      continue;
    }
    if (completions_.should_signal_producer()) TRY(ring_doorbell());
    uint64_t word = 0;
    (void)sys::wait(notify_, &word);
  }
}

Result<void> ConsoleClient::wait_for_room(uint32_t length) {
  while (write_count_ == kMaxWrites || (write_count_ != 0 && write_offset_ + length > kWriteBytes)) {
    // The oldest write's completion frees its slot; when the area is used up, wait for all.
    const uint64_t oldest = write_offset_ + length > kWriteBytes ? 0 : writes_[0].cookie;
    TRY(await(oldest));
  }
  return {};
}

Result<void> ConsoleClient::write(const void* bytes, size_t length) {
  if (base_ == nullptr) return Error::IllegalOperation;
  if (!crlf_) return write_raw(bytes, length);
  // LF -> CR LF (a terminal in raw mode, like QEMU's stdio, needs both), in chunks.
  const auto* p = static_cast<const uint8_t*>(bytes);
  uint8_t staged[2048];  // a 1 KiB printf stays one request
  size_t n = 0;
  bool last_cr = false;
  for (size_t i = 0; i < length; ++i) {
    if (n + 2 > sizeof(staged)) {
      TRY(write_raw(staged, n));
      n = 0;
    }
    if (p[i] == '\n' && !last_cr) staged[n++] = '\r';
    staged[n++] = p[i];
    last_cr = p[i] == '\r';
  }
  return n != 0 ? write_raw(staged, n) : Result<void>();
}

Result<void> ConsoleClient::write_raw(const void* bytes, size_t length) {
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (length > 0) {
    const uint32_t n = length > kWriteBytes ? kWriteBytes : static_cast<uint32_t>(length);
    TRY(wait_for_room(n));
    const uint32_t offset = write_offset_;
    memcpy(data_.base() + offset, p, n);
    writes_[write_count_++] = Pending{0, offset, n};
    write_offset_ += n;
    const Result<uint64_t> cookie = submit(offset, n, kOpWrite);
    if (!cookie.ok()) {
      --write_count_;
      return cookie.error();
    }
    // submit may have taken completions (and reopened): find our entry, the newest one.
    writes_[write_count_ - 1].cookie = cookie.value();
    p += n;
    length -= n;
  }
  return {};
}

Result<void> ConsoleClient::write(const char* text) { return write(text, strlen(text)); }

Result<void> ConsoleClient::printf(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  const size_t n = vformat_to(text, sizeof(text), format, args);
  va_end(args);
  return write(text, n < sizeof(text) ? n : sizeof(text) - 1);
}

Result<void> ConsoleClient::flush() {
  if (base_ == nullptr) return Error::IllegalOperation;
  TRY(await(0));
  const uint64_t cookie = TRY(submit(0, 0, kOpFlush));
  const RingDescriptor d = TRY(await(cookie));
  return d.status == 0 ? Result<void>() : Result<void>(static_cast<Error>(d.status));
}

Result<size_t> ConsoleClient::read(void* out, size_t capacity) {
  if (base_ == nullptr) return Error::IllegalOperation;
  if (capacity == 0) return Error::InvalidArgument;
  const uint32_t want = capacity < kReadBytes ? static_cast<uint32_t>(capacity) : kReadBytes;
  read_completed_ = false;
  read_cookie_ = TRY(submit(kWriteBytes, want, kOpRead));
  const RingDescriptor d = TRY(await(read_cookie_));
  read_cookie_ = 0;
  read_completed_ = false;
  if (d.status != 0) return static_cast<Error>(d.status);
  if (d.length > want || d.offset != kWriteBytes) return Error::MalformedMessage;
  memcpy(out, data_.base() + kWriteBytes, d.length);
  return static_cast<size_t>(d.length);
}

Result<size_t> ConsoleClient::read_line(char* out, size_t capacity) {
  if (capacity < 2) return Error::InvalidArgument;
  const size_t n = TRY(read(out, capacity - 1));
  out[n] = '\0';
  return n;
}

Result<void> ConsoleClient::set_raw(bool raw) {
  if (base_ == nullptr) return Error::IllegalOperation;
  for (int attempt = 0; attempt < 2; ++attempt) {
    sys::CallTransport transport(sys::ipc_buffer());
    const auto r = Console::Client<sys::CallTransport>(transport, endpoint_).set_mode(raw ? Mode::Raw : Mode::Line);
    if (r.ok()) {
      raw_ = raw;
      return {};
    }
    if (!driver_gone(r.error())) return r.error();
    TRY(reopen());
  }
  return Error::NoReply;
}

Result<void> ConsoleClient::close() {
  if (base_ == nullptr) return {};
  (void)await(0);
  sys::CallTransport transport(sys::ipc_buffer());
  const auto r = Console::Client<sys::CallTransport>(transport, endpoint_).close();
  (void)region_.release();
  base_ = nullptr;
  delete_slot(*slots_, cnode_, doorbell_);
  return r.ok() ? Result<void>() : Result<void>(r.error());
}

}  // namespace tessera::console
