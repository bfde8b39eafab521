// Entry from user mode by SYSCALL, and the single exit path back to user mode.
//
// The kernel has one stack per CPU and keeps no per-thread kernel stack (as seL4): a thread's user
// registers are saved straight into its TCB's TrapFrame, whose end is %gs:24 (also TSS.rsp0, so
// interrupts and exceptions from user mode save into the same place), and then the CPU's kernel stack
// takes over. Leaving the kernel always goes through resume_user_frame, which returns with SYSRET when
// the frame came from a system call and IRETQ otherwise; the one exception is the null system call,
// which saves nothing and returns at once (below).

#define GS_KERNEL_STACK 8
#define GS_USER_RSP 16
#define GS_FRAME_END 24
#define USER_CS (0x28 | 3)
#define USER_SS (0x20 | 3)
#define SYSCALL_VECTOR 0x100

#include "arch/x86_64/frame_macros.h"
#include "arch/x86_64/syscall_entry_constants.h"

    .text
    .code64
    .globl syscall_entry
    .balign 16
syscall_entry:
    swapgs
    cmpq $SYSCALL_NULL, %rdx
    je null_syscall
save_frame:
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
    // Calls, ReplyRecvs and Sends enter the plain fastpath (object/fastpath.h) straight from here
    // through tessera_syscall_entries, which names syscall_dispatch instead while the fastpath is
    // traced or off; every other call goes to syscall_dispatch. %rdx still holds the number.
    cmpq $SYSCALL_SEND, %rdx
    ja 1f
    call *tessera_syscall_entries(, %rdx, 8)   // [[noreturn]], each of them
    ud2
1:  call syscall_dispatch           // [[noreturn]]: leaves through resume_user_frame
    ud2

// The null system call with the plain fastpath: the general path would count it, set rax = Ok and
// resume the same thread, whose address space, FPU, TLS bases and stacks are all still loaded, so
// that resume would change nothing; only its return-address check can fail (then the general path
// runs, and stops the thread). Nothing is saved: %rdx is known (the number) and serves as scratch.
null_syscall:
    cmpb $FASTPATH_PLAIN, tessera_fastpath_mode(%rip)
    jne save_frame
    movabsq $USER_ADDRESS_LIMIT, %rdx
    cmpq %rdx, %rcx                 // user RIP
    movl $SYSCALL_NULL, %edx        // (leaves the flags alone)
    jae save_frame
    movq %gs:GS_CURRENT, %rax
    addq $1, TCB_SYSCALLS(%rax)     // once per system call, whichever path completes it
    xorl %eax, %eax                 // Error::Ok
    swapgs
    sysretq

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
