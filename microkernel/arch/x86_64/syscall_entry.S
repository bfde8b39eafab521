// Entry from user mode by SYSCALL, and the single exit path back to user mode.
//
// The kernel has one stack per CPU and keeps no per-thread kernel stack (as seL4): a thread's user
// registers are saved straight into its TCB's TrapFrame, whose end is %gs:24 (also TSS.rsp0, so
// interrupts and exceptions from user mode save into the same place), and then the CPU's kernel stack
// takes over. Leaving the kernel always goes through resume_user_frame, which returns with SYSRET when
// the frame came from a system call and IRETQ otherwise.

#define GS_KERNEL_STACK 8
#define GS_USER_RSP 16
#define GS_FRAME_END 24
#define USER_CS (0x28 | 3)
#define USER_SS (0x20 | 3)
#define SYSCALL_VECTOR 0x100

#include "arch/x86_64/frame_macros.h"

    .text
    .code64
    .globl syscall_entry
    .balign 16
syscall_entry:
    swapgs
    movq %rsp, %gs:GS_USER_RSP
    movq %gs:GS_FRAME_END, %rsp
    pushq $USER_SS
    pushq %gs:GS_USER_RSP
    pushq %r11                      // user RFLAGS
    pushq $USER_CS
    pushq %rcx                      // user RIP
    pushq $0                        // error code
    pushq $SYSCALL_VECTOR
    PUSH_GPRS                       // %rsp: the thread's frame, TRAP_FRAME_SIZE below %gs:GS_FRAME_END
    movq %rsp, %rdi                 // the thread's frame
    movq %gs:GS_KERNEL_STACK, %rsp
    xorl %ebp, %ebp
    call syscall_dispatch           // [[noreturn]]: leaves through resume_user_frame
    ud2

// void resume_user_frame(TrapFrame* frame) [[noreturn]]
// The caller has checked that frame->rip is canonical and frame->rflags is sanitised.
    .globl resume_user_frame
    .balign 16
resume_user_frame:
    movq %rdi, %rsp
    POP_GPRS
    cmpq $SYSCALL_VECTOR, (%rsp)    // POP_GPRS left %rsp at frame->vector
    jne 1f
    movq (TRAP_FRAME_RIP - TRAP_FRAME_VECTOR)(%rsp), %rcx
    movq (TRAP_FRAME_RFLAGS - TRAP_FRAME_VECTOR)(%rsp), %r11
    movq (TRAP_FRAME_RSP - TRAP_FRAME_VECTOR)(%rsp), %rsp     // user RSP
    swapgs
    sysretq
1:  addq $(TRAP_FRAME_RIP - TRAP_FRAME_VECTOR), %rsp    // vector, error code
    swapgs
    iretq
