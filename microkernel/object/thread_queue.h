// A FIFO of threads blocked on one object (an endpoint's senders or receivers, a notification's
// waiters), linked intrusively through Tcb::ipc_next/ipc_prev. The queue never allocates.
#pragma once

#include "object/tcb.h"

namespace tessera::kernel {

struct ThreadQueue {
  Tcb* head;
  Tcb* tail;

  bool empty() const { return head == nullptr; }
  // The first thread, checked against poison (object/poison.h); null when empty.
  Tcb* first() const { return live(head); }

  [[gnu::always_inline]] void push(Tcb* t) {
    t->ipc_next = nullptr;
    t->ipc_prev = tail;
    if (tail != nullptr) tail->ipc_next = t;
    else head = t;
    tail = t;
  }

  // `t` must be on this queue.
  [[gnu::always_inline]] void remove(Tcb* t) {
    if (t->ipc_prev != nullptr) t->ipc_prev->ipc_next = t->ipc_next;
    else head = t->ipc_next;
    if (t->ipc_next != nullptr) t->ipc_next->ipc_prev = t->ipc_prev;
    else tail = t->ipc_prev;
    t->ipc_next = t->ipc_prev = nullptr;
  }

  // Takes `t`, the first thread, off the queue (what remove(t) does, knowing it is the first).
  [[gnu::always_inline]] void remove_first(Tcb* t) {
    head = t->ipc_next;
    if (head != nullptr) head->ipc_prev = nullptr;
    else tail = nullptr;
    t->ipc_next = nullptr;
  }
  // Takes the first thread off the queue; null when empty.
  [[gnu::always_inline]] Tcb* pop() {
    Tcb* t = first();
    if (t != nullptr) remove_first(t);
    return t;
  }
};

}  // namespace tessera::kernel
