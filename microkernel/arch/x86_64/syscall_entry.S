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
// Saved: what a system call's caller expects back and what the kernel reads of it, no more. Not
// written: CS and SS (the user selectors, set when the thread was made and the same in every frame
// the CPU saves from user mode), the error code (an exception's), and RAX, RCX and R11, which a
// system call clobbers (RCX and R11 come back from RIP and RFLAGS, RAX is the result): a thread
// stopped in a system call shows what it last had there. A restarted call (SyscallRegs::restart)
// goes back onto `syscall`, whose inputs are all saved.
save_frame:
    movq %rsp, %gs:GS_USER_RSP
    movq %gs:GS_FRAME_END, %rsp
    subq $TRAP_FRAME_SIZE, %rsp     // %rsp: the thread's frame, TRAP_FRAME_SIZE below %gs:GS_FRAME_END
    movq %rcx, TRAP_FRAME_RIP(%rsp)
    movq %r11, TRAP_FRAME_RFLAGS(%rsp)
    movq %gs:GS_USER_RSP, %rcx
    movq %rcx, TRAP_FRAME_RSP(%rsp)
    movq $TRAP_FRAME_SYSCALL, TRAP_FRAME_VECTOR(%rsp)
    movq %rbx, TRAP_FRAME_RBX(%rsp)
    movq %rdx, TRAP_FRAME_RDX(%rsp)
    movq %rsi, TRAP_FRAME_RSI(%rsp)
    movq %rdi, TRAP_FRAME_RDI(%rsp)
    movq %rbp, TRAP_FRAME_RBP(%rsp)
    movq %r8, TRAP_FRAME_R8(%rsp)
    movq %r9, TRAP_FRAME_R9(%rsp)
    movq %r10, TRAP_FRAME_R10(%rsp)
    movq %r12, TRAP_FRAME_R12(%rsp)
    movq %r13, TRAP_FRAME_R13(%rsp)
    movq %r14, TRAP_FRAME_R14(%rsp)
    movq %r15, TRAP_FRAME_R15(%rsp)
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
// A system call's frame leaves by SYSRET: RCX and R11 from RIP and RFLAGS, the other registers
// loaded straight from the frame (%rdi last). Any other (an interrupt's or exception's, a new
// thread's, a restarted call's or one whose registers were written) by IRETQ with every register.
resume_user_frame:
    cmpq $TRAP_FRAME_SYSCALL, TRAP_FRAME_VECTOR(%rdi)
    jne 1f
    movq TRAP_FRAME_RIP(%rdi), %rcx
    movq TRAP_FRAME_RFLAGS(%rdi), %r11
    movq TRAP_FRAME_RSP(%rdi), %rsp // user RSP
    movq TRAP_FRAME_RAX(%rdi), %rax
    movq TRAP_FRAME_RBX(%rdi), %rbx
    movq TRAP_FRAME_RDX(%rdi), %rdx
    movq TRAP_FRAME_RSI(%rdi), %rsi
    movq TRAP_FRAME_RBP(%rdi), %rbp
    movq TRAP_FRAME_R8(%rdi), %r8
    movq TRAP_FRAME_R9(%rdi), %r9
    movq TRAP_FRAME_R10(%rdi), %r10
    movq TRAP_FRAME_R12(%rdi), %r12
    movq TRAP_FRAME_R13(%rdi), %r13
    movq TRAP_FRAME_R14(%rdi), %r14
    movq TRAP_FRAME_R15(%rdi), %r15
    movq TRAP_FRAME_RDI(%rdi), %rdi
    swapgs
    sysretq
1:  movq %rdi, %rsp
    POP_GPRS
    addq $(TRAP_FRAME_RIP - TRAP_FRAME_VECTOR), %rsp    // vector, error code
    swapgs
    iretq
