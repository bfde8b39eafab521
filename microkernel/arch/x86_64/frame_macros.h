// Assembly macros for the general-register part of a TrapFrame (trap.h), shared by the interrupt
// entry (vectors.S) and the system-call entry (syscall_entry.S) so the two can never disagree on
// the layout. PUSH_GPRS leaves %rsp at the start of the frame (r15 first).
//
// Byte offsets of the TrapFrame fields the assembly reads, from the start of the frame; trap.h
// static_asserts each against the C++ struct, so the two cannot drift apart.
#pragma once

#define TRAP_FRAME_R15 0        // the general registers, in PUSH_GPRS's order from the lowest address
#define TRAP_FRAME_R14 8
#define TRAP_FRAME_R13 16
#define TRAP_FRAME_R12 24
#define TRAP_FRAME_R11 32
#define TRAP_FRAME_R10 40
#define TRAP_FRAME_R9 48
#define TRAP_FRAME_R8 56
#define TRAP_FRAME_RBP 64
#define TRAP_FRAME_RDI 72
#define TRAP_FRAME_RSI 80
#define TRAP_FRAME_RDX 88
#define TRAP_FRAME_RCX 96
#define TRAP_FRAME_RBX 104
#define TRAP_FRAME_RAX 112
#define TRAP_FRAME_VECTOR 120  // after the 15 general registers: vector, error code, then the CPU's part
#define TRAP_FRAME_RIP 136
#define TRAP_FRAME_CS 144
#define TRAP_FRAME_RFLAGS 152
#define TRAP_FRAME_RSP 160
#define TRAP_FRAME_SIZE 176
#define TRAP_FRAME_SYSCALL 0x100  // the vector of a frame the system-call entry saved

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
