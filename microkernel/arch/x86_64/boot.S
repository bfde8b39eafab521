// Multiboot2 header and the 32-bit entry point. GRUB enters _start32 in protected mode with paging off,
// EAX = multiboot2 magic and EBX = physical address of the boot information. We build temporary page
// tables (the first GiB identity-mapped and mirrored at -2 GiB), enter long mode, jump to the higher half
// and call kernel_main(magic, info_phys). The kernel replaces these tables with W^X ones early on.

#define KERNEL_VMA 0xFFFFFFFF80000000
#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0

    .section .multiboot, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    // Entry address tag: enter at the physical 32-bit entry, not the ELF (higher-half) entry.
    .balign 8
    .short 3, 0
    .long 12
    .long _start32
    // Module alignment tag: modules page-aligned.
    .balign 8
    .short 6, 0
    .long 8
    // End tag.
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:

    .section .boot.text, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    movl $boot_stack_top, %esp
    movl %eax, %edi                 // magic     -> first argument
    movl %ebx, %esi                 // info_phys -> second argument

    // Long mode available? (CPUID 0x80000001 EDX bit 29)
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    testl $(1 << 29), %edx
    jz no_long_mode
    movl %edx, %ebp                 // remember NX support (bit 20)

    // Zero the three boot tables.
    movl $boot_pml4, %ebx
    pushl %edi
    movl %ebx, %edi
    xorl %eax, %eax
    movl $(3 * 4096 / 4), %ecx
    rep stosl
    popl %edi

    // PML4[0] and PML4[511] -> PDPT; PDPT[0] and PDPT[510] -> PD; PD maps 0..1 GiB with 2 MiB pages.
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl %eax, boot_pml4 + 511 * 8
    movl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt
    movl %eax, boot_pdpt + 510 * 8
    movl $boot_pd, %ebx
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax                 // present | writable | huge
    movl %eax, (%ebx, %ecx, 8)
    incl %ecx
    cmpl $512, %ecx
    jb 1b

    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $(1 << 5), %eax             // PAE
    movl %eax, %cr4
    movl $0xC0000080, %ecx          // EFER
    rdmsr
    orl $(1 << 8), %eax             // LME
    testl $(1 << 20), %ebp
    jz 2f
    orl $(1 << 11), %eax            // NXE, when the CPU has NX
2:  wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax   // PG | WP | PE
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_low

no_long_mode:
    // Say so on COM1 and stop: there is nothing else a 32-bit CPU can do with this kernel.
    movl $no_long_mode_message, %esi
3:  movb (%esi), %al
    testb %al, %al
    jz 4f
    movw $0x3F8, %dx
    outb %al, %dx
    incl %esi
    jmp 3b
4:  hlt
    jmp 4b

    .code64
long_mode_low:
    movabsq $long_mode_high, %rax
    jmp *%rax

    .section .boot.data, "aw"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF        // 0x08: 64-bit kernel code
    .quad 0x00CF92000000FFFF        // 0x10: kernel data
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt
no_long_mode_message:
    .asciz "Tessera: this CPU does not support x86-64 long mode\r\n"

    .section .boot.bss, "aw", @nobits
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096
boot_stack: .skip 4096
boot_stack_top:

    .section .text.entry, "ax"
    .code64
long_mode_high:
    movabsq $boot_cpu_stack_top, %rsp
    xorl %ebp, %ebp
    movl %edi, %edi                 // zero-extend the 32-bit arguments
    movl %esi, %esi
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    call kernel_main
5:  cli
    hlt
    jmp 5b

    .section .bss
    .balign 16
    .globl boot_cpu_stack_top
boot_cpu_stack:
    .skip 32768
boot_cpu_stack_top:
