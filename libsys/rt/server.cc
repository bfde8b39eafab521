// The endpoint server transport and the request context (tessera/sys/server.h).
#include <tessera/abi/kernel.capnp.h>
#include <tessera/meta.h>
#include <tessera/sys/debug.h>
#include <tessera/sys/server.h>
#include <tessera/sys/thread.h>

namespace tessera::sys {
namespace {
ThreadLocalBlock* this_thread_block() {
  ThreadLocalBlock* block;
  asm volatile("movq %%fs:8, %0" : "=r"(block) : : "memory");
  return block;
}

Result<void> cnode_move(CPtr cnode, CPtr dest, CPtr src) {
  CallTransport kernel(ipc_buffer());
  abi::CNode::Client<CallTransport> client(kernel, cnode);
  return client.move(dest, kSlotDepth, {cnode}, src, kSlotDepth);
}

void cnode_delete(CPtr cnode, CPtr slot) {
  CallTransport kernel(ipc_buffer());
  (void)abi::CNode::Client<CallTransport>(kernel, cnode).delete_(slot, kSlotDepth);
}
}  // namespace

RequestContext& current_request() {
  static RequestContext none;  // outside a method: no badge, no capability
  auto* context = static_cast<RequestContext*>(this_thread_block()->current_request);
  return context != nullptr ? *context : none;
}

namespace detail {
CurrentRequest::CurrentRequest(RequestContext& context)
    : previous_(static_cast<RequestContext*>(this_thread_block()->current_request)) {
  this_thread_block()->current_request = &context;
}
CurrentRequest::~CurrentRequest() { this_thread_block()->current_request = previous_; }
}  // namespace detail

Result<CPtr> RequestContext::keep_cap() {
  if (cap_slot_ == 0) return Error::EmptySlot;
  if (slots_ == nullptr) return Error::NotEnoughMemory;
  const CPtr kept = TRY(slots_->alloc());
  if (Result<void> moved = cnode_move(cnode_, kept, cap_slot_); !moved.ok()) {
    (void)slots_->free(kept);
    return moved.error();
  }
  cap_slot_ = 0;
  return kept;
}

EndpointServerTransport::EndpointServerTransport(CPtr endpoint, const ServeOptions& options)
    : buffer_(ipc_buffer()), endpoint_(endpoint), options_(options) {
  if (options_.slots != nullptr) {
    if (auto slot = options_.slots->alloc(); slot.ok()) receive_ = ReceiveFields{options_.cnode, *slot, kSlotDepth};
  }
  context_.slots_ = options_.slots;
  context_.cnode_ = options_.cnode;
  saved_fields_ = ReceiveFields::of(buffer_);
}

EndpointServerTransport::~EndpointServerTransport() {
  end_caps();
  saved_fields_.put(buffer_);
  if (receive_.index != 0) (void)options_.slots->free(receive_.index);
}

// The end of a request capabilities came with: a capability the method did not keep is deleted
// and the unwrapped badge forgotten.
void EndpointServerTransport::end_caps() {
  if (context_.cap_slot_ != 0) cnode_delete(options_.cnode, context_.cap_slot_);
  context_.cap_slot_ = 0;
  context_.has_unwrapped_ = false;
  context_.came_with_caps_ = false;
}

void EndpointServerTransport::note_refused(uint64_t label) {
  if (logged_refusal_) return;
  logged_refusal_ = true;
  print("%s: refused request label 0x%lx from badge %lu with IllegalOperation (a method this server does not "
        "have, from a stale client?); logged once\n",
        options_.name, label, context_.badge_);
}

// A capability (not an unwrapped badge) arrived: it is in the receive slot until kept or dropped.
void EndpointServerTransport::note_caps(const MessageInfo& info) {
  context_.came_with_caps_ = true;
  bool moved = false;
  for (uint32_t i = 0; i < info.extra_caps && i < kMaxTransferCaps; ++i) {
    if ((info.caps_unwrapped & (1u << i)) == 0) {
      moved = true;
    } else if (!context_.has_unwrapped_) {
      context_.has_unwrapped_ = true;
      context_.unwrapped_badge_ = buffer_->caps_or_badges[i];
    }
  }
  context_.cap_slot_ = moved ? receive_.index : 0;
}

// Words 4 and up and the capabilities of a request (finish_receive's unusual part).
void EndpointServerTransport::receive_rest(uint64_t info_word, uint32_t length) {
  const MessageInfo info = MessageInfo::decode(info_word);
  for (uint32_t i = kMessageRegisters; i < length; ++i) words_[i] = capnp::Word{buffer_->msg[i]};
  if (info.extra_caps != 0) note_caps(info);
}

Error EndpointServerTransport::receive(capnp::Request* request) {
  if (options_.slots != nullptr && receive_.index == 0) return Error::NotEnoughMemory;
  // A request answered without a reply (a server that receives again mid-loop, as the memory
  // server after a fault it cannot resolve) ends here as reply_receive ends one: its unkept
  // capability deleted and its unwrapped badge forgotten, so the next request sees neither.
  if (context_.came_with_caps_) end_caps();
  arm_receive_slot();
  SyscallRegisters regs{endpoint_, 0, {0, 0, 0, 0}};
  const Error e = raw_syscall(Syscall::Recv, regs);
  return finish_receive(e, regs, request);
}

void EndpointServerTransport::send_rest(uint32_t length, uint32_t caps) {
  for (uint32_t i = kMessageRegisters; i < length; ++i) buffer_->msg[i] = reply_words_[i];
  for (uint32_t i = 0; i < caps; ++i) buffer_->caps_or_badges[i] = reply_caps_[i];
}

}  // namespace tessera::sys
