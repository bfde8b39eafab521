// Interrupt and exception entry: one small stub per vector pushes a uniform frame (error code or 0,
// then the vector number) and jumps to the common path, which saves the general registers into a
// TrapFrame (arch/x86_64/trap.h), switches GS when coming from user mode, and calls trap_dispatch.

#include "arch/x86_64/frame_macros.h"

    .text
    .code64

// Stub n starts at trap_vectors_start + 16 * n (every stub fits in 16 bytes; idt.cc relies on it).
    .balign 16
    .globl trap_vectors_start
trap_vectors_start:
.set vector, 0
.rept 256
    .balign 16
    // Vectors 8, 10-14, 17, 21, 29, 30 have a CPU-pushed error code.
    .if (vector == 8) || (vector >= 10 && vector <= 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    jmp trap_common
.set vector, vector + 1
.endr
    .balign 16
    .globl trap_vectors_end
trap_vectors_end:

    .balign 16
trap_common:
    // Frame so far: vector, error, rip, cs, rflags, rsp, ss.
    testb $3, (TRAP_FRAME_CS - TRAP_FRAME_VECTOR)(%rsp)   // CS.RPL != 0: we came from user mode
    jz 1f
    swapgs
1:
    PUSH_GPRS
    cld
    movq %rsp, %rdi
    testb $3, TRAP_FRAME_CS(%rsp)   // CS of the interrupted context
    jz 3f
    // From user mode: the frame is the thread's TCB frame; continue on this CPU's kernel stack.
    movq %gs:8, %rsp
    xorl %ebp, %ebp
    call trap_dispatch_user         // [[noreturn]]: leaves through resume_user_frame
    ud2
3:
    // Frame pointer chain for backtraces: link the interrupted RIP/RBP.
    pushq TRAP_FRAME_RIP(%rsp)      // rip
    pushq %rbp
    movq %rsp, %rbp
    call trap_dispatch
    addq $16, %rsp
    .globl trap_return
trap_return:
    POP_GPRS
    testb $3, (TRAP_FRAME_CS - TRAP_FRAME_VECTOR)(%rsp)
    jz 2f
    swapgs
2:  addq $(TRAP_FRAME_RIP - TRAP_FRAME_VECTOR), %rsp    // vector and error code
    iretq

