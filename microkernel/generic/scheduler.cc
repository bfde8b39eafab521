#include "generic/scheduler.h"

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/percpu.h"
#include "generic/log.h"
#include "generic/resume.h"
#include "generic/trace.h"
#include "object/kernel_objects.h"
#include "object/sched_context.h"

namespace tessera::kernel {
namespace {
constinit Scheduler schedulers[kMaxCpus];
}  // namespace

Scheduler& this_scheduler() { return schedulers[this_cpu().index]; }

void Scheduler::enqueue(Tcb* t) {
  if (t->queued) return;
  const uint8_t p = t->priority;
  t->queue_next = nullptr;
  t->queue_prev = tail_[p];
  if (tail_[p] != nullptr) tail_[p]->queue_next = t;
  else head_[p] = t;
  tail_[p] = t;
  t->queued = true;
  bitmap_[p / 64] |= 1ull << (p % 64);
}

void Scheduler::dequeue(Tcb* t) {
  if (!t->queued) return;
  const uint8_t p = t->priority;
  if (t->queue_prev != nullptr) t->queue_prev->queue_next = t->queue_next;
  else head_[p] = t->queue_next;
  if (t->queue_next != nullptr) t->queue_next->queue_prev = t->queue_prev;
  else tail_[p] = t->queue_prev;
  t->queue_next = t->queue_prev = nullptr;
  t->queued = false;
  if (head_[p] == nullptr) bitmap_[p / 64] &= ~(1ull << (p % 64));
}

Tcb* Scheduler::pick() {
  for (int word = 3; word >= 0; --word) {
    if (bitmap_[word] == 0) continue;
    const int bit = 63 - __builtin_clzll(bitmap_[word]);
    Tcb* t = live(head_[word * 64 + bit]);
    dequeue(t);
    return t;
  }
  return nullptr;
}

bool Scheduler::has_higher(uint8_t priority, bool or_equal) const {
  for (int word = 3; word >= 0; --word) {
    if (bitmap_[word] == 0) continue;
    const int top = word * 64 + 63 - __builtin_clzll(bitmap_[word]);
    return or_equal ? top >= priority : top > priority;
  }
  return false;
}

bool Scheduler::empty() const { return (bitmap_[0] | bitmap_[1] | bitmap_[2] | bitmap_[3]) == 0; }

void refuse_resume(Tcb* t, bool bad_return_address) {
  if (bad_return_address) {
    log::print("thread-fault thread=%s vector=13 (non-canonical return address) rip=0x%lx: thread stopped\n",
               t->name, t->frame.rip);
  } else {
    log::print("thread-fault thread=%s: no address space: thread stopped\n", t->name);
  }
  t->state = ThreadState::Faulted;
  this_cpu().current = nullptr;
  schedule();
}

template <bool kTraceable>
void resume_thread(Tcb* t) {
  resume_thread_in_place<kTraceable>(this_cpu(), t);
}
template void resume_thread<true>(Tcb* t);
template void resume_thread<false>(Tcb* t);

bool idle_poll = false;

void schedule() {
  Cpu& cpu = this_cpu();
  Scheduler& s = schedulers[cpu.index];
  for (;;) {
    x86::disable_interrupts();
    if (Tcb* next = s.pick(); next != nullptr) resume(next);
    cpu.current = nullptr;
    account_switch<true>(cpu, nullptr);
    // Nothing to run: wait for an interrupt (it may make a thread runnable) on the kernel stack;
    // with idle=poll by spinning with interrupts open instead of halting (as Linux's idle=poll: a
    // guest under -icount then counts its waits in instructions, not in jumps of virtual time).
    if (idle_poll) {
      // The jump ends QEMU's translation block while interrupts are open, so a pending one is
      // taken before the cli (within one block it would never be).
      asm volatile("sti; pause; jmp 1f; 1: cli" : : : "memory");
    } else {
      asm volatile("sti; hlt; cli" : : : "memory");
    }
    sched_tick();  // releases threads whose scheduling context has a new period
  }
}

void preempt_on_tick() {
  Cpu& cpu = this_cpu();
  if (sched_tick()) {  // the current thread used up its budget: it waits for its next period
    cpu.current = nullptr;
    return;
  }
  Tcb* current = cpu.current;
  if (current == nullptr) return;
  Scheduler& s = schedulers[cpu.index];
  if (s.has_higher(current->priority, true)) {
    s.enqueue(current);  // to the tail: round-robin within the priority
    cpu.current = nullptr;
  }
}

}  // namespace tessera::kernel
