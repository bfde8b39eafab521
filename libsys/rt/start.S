// Process entry. The kernel (for the root task) or the loader (for other programs) enters `_start`
// with rdi = the start-up argument (the root task's boot-information page) and a 16-byte aligned
// stack. We call tessera_start(argument), which runs main() and never returns.
    .text
    .globl _start
    .type _start, @function
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call tessera_start
    ud2
    .size _start, . - _start
