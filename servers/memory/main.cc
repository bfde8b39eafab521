// The memory server (docs/memory.md): started by its supervisor (init, or the test runner) like
// the root task, with the untyped memory it is to manage and the endpoint it serves in
// kBootInfoServiceSlot. It owns that memory from then on: sessions and regions over the protocol
// of abi/memory.capnp, and the pager of every session's threads (their faults arrive on the same
// endpoint, with the session's badge).
#include <stdint.h>

#include <tessera/abi/memory.capnp.h>
#include <tessera/bootinfo.h>
#include <tessera/syscall.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/heap.h>
#include <tessera/sys/ipc.h>
#include <tessera/sys/process.h>
#include <tessera/sys/server.h>

#include "kernel_backend.h"
#include "manager.h"

namespace memory {
namespace {
namespace sys = tessera::sys;
namespace proto = tessera::memory;
using tessera::Error;
using tessera::Result;
using tessera::capnp::CapRef;

// Session and region capabilities: the holder may call (and pass capabilities along) but never
// receive on the server's endpoint.
constexpr uint8_t kSessionRights = tessera::abi::kRightWrite | tessera::abi::kRightGrant | tessera::abi::kRightGrantReply;
constexpr uint8_t kRegionRights = tessera::abi::kRightWrite;
// Slots the transport receives capabilities into (a few: they are moved into SlotSpace slots).
constexpr uint64_t kReceiveSlots = 8;

struct FaultReport {
  uint32_t session = 0;
  uint64_t kind = 0, ip = 0, address = 0, detail = 0;
};
constexpr uint32_t kMaxReports = 32;

class Server : public proto::Session::Server<Server>, public proto::Control::Server<Server> {
 public:
  Server(sys::CallTransport& kernel, Slot endpoint, SlotSpace& slots, KernelBackend& backend, uint64_t total)
      : kernel_(kernel), endpoint_(endpoint), slots_(slots), backend_(backend), manager_(backend, total) {}

  [[noreturn]] void run(sys::SlotAllocator& receive_slots);

  // ---- Session ----
  Result<void> create_region(proto::Session::CreateRegionParams::Reader p, proto::Session::CreateRegionResults::Builder out) {
    const uint32_t s = TRY(caller());
    if (static_cast<uint16_t>(p.page_size()) >= proto::kPageSizeCount) return Error::InvalidArgument;
    const uint8_t shift = p.page_size() == proto::PageSize::Large ? kLargeShift : kSmallShift;
    const uint64_t badge = TRY(manager_.create_region(s, p.bytes(), shift, p.eager()));
    const Result<Slot> cap = hand_out(badge);
    if (!cap.ok()) {
      (void)manager_.release(s, badge);
      return cap.error();
    }
    out.set_region(CapRef{cap.value()});
    return {};
  }
  Result<void> attach(proto::Session::AttachParams::Reader p, proto::Session::AttachResults::Builder out) {
    const uint32_t s = TRY(caller());
    const uint64_t address = TRY(manager_.attach(s, TRY(region_arg()), p.address(), p.rights()));
    out.set_address(address);
    return {};
  }
  Result<void> detach(proto::Session::DetachParams::Reader p, proto::Session::DetachResults::Builder) {
    return manager_.detach(TRY(caller()), p.address());
  }
  Result<void> resize(proto::Session::ResizeParams::Reader p, proto::Session::ResizeResults::Builder) {
    return manager_.resize(TRY(caller()), TRY(region_arg()), p.bytes());
  }
  Result<void> share(proto::Session::ShareParams::Reader p, proto::Session::ShareResults::Builder out) {
    const uint64_t badge = TRY(manager_.share(TRY(caller()), TRY(region_arg()), p.rights()));
    out.set_region(CapRef{TRY(hand_out(badge))});
    return {};
  }
  Result<void> release(proto::Session::ReleaseParams::Reader, proto::Session::ReleaseResults::Builder) {
    return manager_.release(TRY(caller()), TRY(region_arg()));
  }
  Result<void> revoke(proto::Session::RevokeParams::Reader, proto::Session::RevokeResults::Builder out) {
    const uint64_t badge = TRY(manager_.revoke(TRY(caller()), TRY(region_arg())));
    out.set_region(CapRef{TRY(hand_out(badge))});
    return {};
  }
  Result<void> frame(proto::Session::FrameParams::Reader p, proto::Session::FrameResults::Builder out) {
    const Slot frame = TRY(manager_.frame(TRY(caller()), TRY(region_arg()), p.page()));
    const Slot copy = TRY(backend_.copy_frame(frame));
    out.set_frame(CapRef{copy});
    later_delete(copy);
    return {};
  }
  Result<void> describe(proto::Session::DescribeParams::Reader, proto::Session::DescribeResults::Builder out) {
    const RegionInfo info = TRY(manager_.describe(TRY(caller()), TRY(region_arg())));
    out.set_bytes(info.bytes);
    out.set_page_size(info.shift == kLargeShift ? proto::PageSize::Large : proto::PageSize::Small);
    out.set_rights(info.rights);
    out.set_backed_pages(info.backed_pages);
    return {};
  }
  Result<void> status(proto::Session::StatusParams::Reader, proto::Session::StatusResults::Builder out) {
    const SessionStatus st = manager_.status(TRY(caller()));
    out.set_quota(st.quota);
    out.set_used(st.used);
    out.set_granted(st.granted);
    out.set_regions(st.regions);
    out.set_attachments(st.attachments);
    out.set_faults(st.faults);
    return {};
  }
  Result<void> reserve(proto::Session::ReserveParams::Reader p, proto::Session::ReserveResults::Builder out) {
    out.set_granted(TRY(manager_.reserve(TRY(caller()), p.bytes())));
    return {};
  }

  Result<void> create_object(proto::Session::CreateObjectParams::Reader p, proto::Session::CreateObjectResults::Builder out) {
    const uint32_t s = TRY(caller());
    const Slot object = TRY(manager_.create_object(s, static_cast<uint32_t>(p.type()), p.size_bits()));
    const Slot copy = TRY(backend_.copy_frame(object));  // a plain copy: the server keeps the original
    out.set_object(CapRef{copy});
    out.set_id(object);
    later_delete(copy);
    return {};
  }
  Result<void> device_tables(proto::Session::DeviceTablesParams::Reader p, proto::Session::DeviceTablesResults::Builder out) {
    out.set_made(TRY(manager_.device_tables(TRY(caller()), p.address())));
    return {};
  }
  Result<void> delete_object(proto::Session::DeleteObjectParams::Reader p, proto::Session::DeleteObjectResults::Builder) {
    return manager_.delete_object(TRY(caller()), p.id());
  }

  // ---- Control ----
  Result<void> open_session(proto::Control::OpenSessionParams::Reader p, proto::Control::OpenSessionResults::Builder out) {
    TRY(control());
    const tessera::capnp::Text name = TRY(p.name());
    char text[kNameBytes] = {};
    for (uint32_t i = 0; i < name.size && i + 1 < kNameBytes; ++i) text[i] = static_cast<char>(name.data[i]);
    if (!p.has_vspace()) return Error::InvalidArgument;
    (void)TRY(p.vspace());
    const Slot vspace = TRY(keep_cap());
    const Result<uint32_t> id = manager_.open_session(text, p.quota(), p.weight(), vspace);
    if (!id.ok()) {
      backend_.delete_cap(vspace);
      return id.error();
    }
    const Result<Slot> cap = backend_.mint(endpoint_, manager_.badge_of_session(id.value()), kSessionRights);
    if (!cap.ok()) {
      (void)manager_.close_session(id.value());
      return cap.error();
    }
    manager_.set_session_cap(id.value(), cap.value());
    out.set_session(CapRef{cap.value()});
    out.set_id(id.value());
    return {};
  }
  Result<void> close_session(proto::Control::CloseSessionParams::Reader p, proto::Control::CloseSessionResults::Builder) {
    TRY(control());
    return manager_.close_session(p.id());
  }
  Result<void> set_weight(proto::Control::SetWeightParams::Reader p, proto::Control::SetWeightResults::Builder) {
    TRY(control());
    return manager_.set_weight(p.id(), p.weight());
  }
  Result<void> events(proto::Control::EventsParams::Reader p, proto::Control::EventsResults::Builder) {
    TRY(control());
    if (!p.has_notification()) return Error::InvalidArgument;
    (void)TRY(p.notification());
    const Slot slot = TRY(keep_cap());
    if (events_ != 0) backend_.delete_cap(events_);
    events_ = slot;
    return {};
  }
  Result<void> take_fault(proto::Control::TakeFaultParams::Reader, proto::Control::TakeFaultResults::Builder out) {
    TRY(control());
    if (report_count_ == 0) return Error::WouldBlock;
    const FaultReport& r = reports_[report_head_];
    out.set_id(r.session);
    out.set_kind(r.kind);
    out.set_ip(r.ip);
    out.set_address(r.address);
    out.set_detail(r.detail);
    report_head_ = (report_head_ + 1) % kMaxReports;
    --report_count_;
    out.set_pending(report_count_ > 0);
    return {};
  }
  Result<void> status(proto::Control::StatusParams::Reader, proto::Control::StatusResults::Builder out) {
    TRY(control());
    out.set_total_bytes(manager_.total_bytes());
    out.set_free_bytes(backend_.free_bytes());
    out.set_promised_bytes(manager_.promised_bytes());
    out.set_sessions(manager_.session_count());
    out.set_regions(manager_.region_count());
    out.set_frames(manager_.frame_count());
    return {};
  }

  static_assert(kTcbObjectType == static_cast<uint32_t>(tessera::abi::ObjectType::Tcb));
  Result<void> thread_count(proto::Control::ThreadCountParams::Reader p, proto::Control::ThreadCountResults::Builder out) {
    TRY(control());
    out.set_count(TRY(manager_.thread_count(p.id())));
    return {};
  }
  Result<void> thread(proto::Control::ThreadParams::Reader p, proto::Control::ThreadResults::Builder out) {
    TRY(control());
    const Slot tcb = TRY(manager_.thread(p.id(), p.index()));
    const Slot copy = TRY(backend_.copy_frame(tcb));  // a plain copy (any capability): ours stays
    out.set_tcb(CapRef{copy});
    later_delete(copy);
    return {};
  }

 private:
  Result<uint32_t> caller() const { return manager_.session_of(sys::current_request().badge()); }
  Result<void> control() const {
    return sys::current_request().badge() == 0 ? Result<void>{} : Result<void>{Error::IllegalOperation};
  }
  Result<uint64_t> region_arg() const {
    const Result<uint64_t> badge = sys::current_request().unwrapped_badge();
    // A capability that is not one of this server's (moved into the receive slot) is no region.
    if (!badge.ok()) return sys::current_request().has_cap() ? Error::InvalidCapability : Error::MissingCapability;
    return badge.value();
  }
  // The capability that came with the request, moved into a slot of the server's own.
  Result<Slot> keep_cap() {
    const sys::CPtr received = TRY(sys::current_request().keep_cap());
    const Result<Slot> slot = slots_.alloc();
    if (slot.ok()) {
      tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel_, tessera::kSlotRootCNode);
      if (cnode.move(slot.value(), sys::kSlotDepth, CapRef{tessera::kSlotRootCNode}, received, sys::kSlotDepth).ok()) {
        (void)receive_slots_->free(received);
        return slot.value();
      }
      slots_.free(slot.value());
    }
    (void)tessera::abi::CNode::Client<sys::CallTransport>(kernel_, tessera::kSlotRootCNode).delete_(received, sys::kSlotDepth);
    (void)receive_slots_->free(received);
    return Error::OutOfMemory;
  }
  // A capability with `badge` for the reply; deleted once the reply is out (the receiver's copy stays).
  Result<Slot> hand_out(uint64_t badge) {
    const Slot slot = TRY(backend_.mint(endpoint_, badge, kRegionRights));
    later_delete(slot);
    return slot;
  }
  void later_delete(Slot slot) {
    if (pending_count_ < kMaxPending) pending_[pending_count_++] = slot;
  }
  void delete_pending() {
    tessera::abi::CNode::Client<sys::CallTransport> cnode(kernel_, tessera::kSlotRootCNode);
    for (uint32_t i = 0; i < pending_count_; ++i) {
      (void)cnode.delete_(pending_[i], sys::kSlotDepth);
      slots_.free(pending_[i]);
    }
    pending_count_ = 0;
  }
  // A fault of a session's thread: true when resolved (reply to restart it).
  bool handle_fault(uint32_t session, uint64_t kind, const uint64_t words[3]);
  void report(uint32_t session, uint64_t kind, const uint64_t words[3]);

  sys::CallTransport& kernel_;
  Slot endpoint_;
  SlotSpace& slots_;
  KernelBackend& backend_;
  Manager manager_;
  sys::SlotAllocator* receive_slots_ = nullptr;
  Slot events_ = 0;
  FaultReport reports_[kMaxReports];
  uint32_t report_head_ = 0, report_count_ = 0;
  static constexpr uint32_t kMaxPending = 3;
  Slot pending_[kMaxPending] = {};
  uint32_t pending_count_ = 0;
};

bool Server::handle_fault(uint32_t session, uint64_t kind, const uint64_t words[3]) {
  if (kind == static_cast<uint64_t>(tessera::FaultKind::PageFault)) {
    const uint64_t error = words[2];
    const bool write = (error & 2) != 0;
    const bool execute = (error & 16) != 0;
    if (manager_.fault(session, words[1], write, execute) == FaultOutcome::Resolved) return true;
  }
  report(session, kind, words);
  return false;
}

void Server::report(uint32_t session, uint64_t kind, const uint64_t words[3]) {
  if (report_count_ < kMaxReports) {
    const uint32_t tail = (report_head_ + report_count_) % kMaxReports;
    const bool page = kind == static_cast<uint64_t>(tessera::FaultKind::PageFault);
    reports_[tail] = FaultReport{session, kind, words[0], page ? words[1] : 0, page ? words[2] : words[1]};
    ++report_count_;
  }
  // The program's threads lose their pager (every copy of its session capability), so the
  // faulting thread stops instead of faulting again; the supervisor ends the program.
  backend_.revoke_children(manager_.session_cap(session));
  if (events_ != 0) (void)sys::signal(events_);
}

void Server::run(sys::SlotAllocator& receive_slots) {
  receive_slots_ = &receive_slots;
  sys::ServeOptions options;
  options.slots = &receive_slots;
  options.cnode = tessera::kSlotRootCNode;
  options.name = "memory";
  sys::EndpointServerTransport transport(endpoint_, options);
  sys::detail::CurrentRequest current(transport.context());
  tessera::capnp::Request request;
  Error e = transport.receive(&request);
  for (;;) {
    if (e != Error::Ok) {
      sys::print("memory: receive failed (error %u)\n", static_cast<unsigned>(e));
      e = transport.receive(&request);
      continue;
    }
    delete_pending();
    const uint64_t badge = transport.badge();
    const BadgeFields fields = decode_badge(badge);
    if (request.label >= 1 && request.label <= 3 && badge != 0 && !fields.region) {
      // A fault (or something pretending to be one: harmless, it can only hurt its sender).
      const Result<uint32_t> session = manager_.session_of(badge);
      const uint64_t words[3] = {request.length_words > 0 ? request.words[0] : 0,
                                 request.length_words > 1 ? request.words[1] : 0,
                                 request.length_words > 2 ? request.words[2] : 0};
      if (session.ok() && handle_fault(session.value(), request.label, words)) {
        e = transport.reply_receive(tessera::capnp::Reply{}, &request);
      } else {
        e = transport.receive(&request);  // no reply: the thread's pager is gone
      }
      continue;
    }
    tessera::capnp::Reply reply;
    if (badge == 0) {
      reply = static_cast<proto::Control::Server<Server>&>(*this).dispatch(request, transport.reply_buffer());
    } else if (!fields.region) {
      reply = static_cast<proto::Session::Server<Server>&>(*this).dispatch(request, transport.reply_buffer());
    } else {
      reply = tessera::capnp::Reply{Error::InvalidCapability, 0, 0};  // a region is not callable
    }
    if (reply.error == Error::IllegalOperation) transport.note_refused(request.label);
    e = transport.reply_receive(reply, &request);
  }
}

}  // namespace
}  // namespace memory

int main(uint64_t argument) {
  namespace sys = tessera::sys;
  const auto* info = reinterpret_cast<const tessera::BootInfo*>(argument);
  if (info->magic != tessera::kBootInfoMagic) return 1;
  static sys::CallTransport kernel(sys::ipc_buffer());
  // The runtime's slot allocator has the head of BootInfo.empty; the server takes the rest.
  const uint64_t first = info->empty.start;
  static sys::SlotAllocator receive_slots(tessera::SlotRegion{first, first + memory::kReceiveSlots});
  auto* slots = new memory::SlotSpace();
  slots->init(first + memory::kReceiveSlots, sys::root_free_slots(*info).end);
  auto* backend = new memory::KernelBackend(kernel, tessera::kSlotRootCNode, *slots);
  const uint64_t total = backend->adopt(*info);
  sys::print("memory: %lu MiB in %u blocks of 2 MiB, %lu slots\n", total >> 20, backend->blocks(), slots->available());
  auto* server = new memory::Server(kernel, sys::kBootInfoServiceSlot, *slots, *backend, total);
  server->run(receive_slots);
}
