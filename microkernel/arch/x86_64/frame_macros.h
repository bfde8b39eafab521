// Assembly macros for the general-register part of a TrapFrame (trap.h), shared by the interrupt
// entry (vectors.S) and the system-call entry (syscall_entry.S) so the two can never disagree on
// the layout. PUSH_GPRS leaves %rsp at the start of the frame (r15 first).
#pragma once

#define PUSH_GPRS \
  pushq %rax;     \
  pushq %rbx;     \
  pushq %rcx;     \
  pushq %rdx;     \
  pushq %rsi;     \
  pushq %rdi;     \
  pushq %rbp;     \
  pushq %r8;      \
  pushq %r9;      \
  pushq %r10;     \
  pushq %r11;     \
  pushq %r12;     \
  pushq %r13;     \
  pushq %r14;     \
  pushq %r15

#define POP_GPRS \
  popq %r15;     \
  popq %r14;     \
  popq %r13;     \
  popq %r12;     \
  popq %r11;     \
  popq %r10;     \
  popq %r9;      \
  popq %r8;      \
  popq %rbp;     \
  popq %rdi;     \
  popq %rsi;     \
  popq %rdx;     \
  popq %rcx;     \
  popq %rbx;     \
  popq %rax
