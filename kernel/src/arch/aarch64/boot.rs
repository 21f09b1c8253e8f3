//! Boot entry: the arm64 Image header and the first instructions.
//!
//! QEMU loads an arm64 Linux Image at RAM base + `text_offset` and jumps to its
//! first byte with the DTB's physical address in `x0` (Linux
//! Documentation/arch/arm64/booting.rst). We may enter at EL2 (`-M
//! virt,virtualization=on`) or EL1; at EL2 we configure just enough for an AArch64
//! EL1 that may use the timers, FP/SIMD and (GICv3) the system-register CPU
//! interface, then drop to EL1. Then: FP/SIMD on, BSS cleared, SP_EL1 set to the
//! exception stack and SP_EL0 to the boot stack (the kernel runs on SP_EL0 so a
//! kernel-stack overflow into its guard page still leaves a good stack for the
//! oops), and `kernel_main(dtb, entry_el)` is called. It never returns.

use core::arch::global_asm;

global_asm!(
    r#"
    // If at EL2: prepare an AArch64 EL1 that may use the timers, FP/SIMD and
    // (GICv3) the system-register CPU interface, then drop to EL1 at \target.
    // Clobbers x1, x2; reads CurrentEL.
    .macro drop_to_el1 target
    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    \target
    mov     x1, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64; no traps, no stage 2
    msr     hcr_el2, x1
    mov     x1, #3                  // CNTHCTL_EL2.EL1PCTEN | EL1PCEN: EL1 may use the timers
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr        // virtual counter == physical counter
    mov     x1, #0x33ff             // CPTR_EL2: RES1 bits only, TFP=0 (FP/SIMD not trapped)
    msr     cptr_el2, x1
    msr     hstr_el2, xzr
    mrs     x1, midr_el1
    msr     vpidr_el2, x1
    mrs     x1, mpidr_el1
    msr     vmpidr_el2, x1
    mrs     x1, id_aa64pfr0_el1     // ID_AA64PFR0_EL1.GIC [27:24] != 0: GICv3 sysregs exist
    ubfx    x1, x1, #24, #4
    cbz     x1, 91f
    mrs     x1, S3_4_C12_C9_5       // ICC_SRE_EL2
    mov     x2, #0x9                // SRE | Enable: EL1 may use ICC_SRE_EL1
    orr     x1, x1, x2
    msr     S3_4_C12_C9_5, x1
    isb
91: ldr     x1, =0x30d00800         // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x1
    mov     x1, #0x3c5              // SPSR_EL2: EL1h, D, A, I, F masked
    msr     spsr_el2, x1
    adr     x1, \target
    msr     elr_el2, x1
    eret
    .endm

    .section .text.head, "ax"
    .global _start
_start:
    b       primary_entry           // code0: branch to the real entry
    .long   0                       // code1
    .quad   0x80000                 // text_offset: load at RAM base + 0x80000
    .quad   __kernel_image_size     // image_size, BSS and stacks included
    .quad   0xa                     // flags: little-endian, 4 KiB pages, anywhere
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5 (no PE header)

    .section .text.boot, "ax"
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0                 // x19 = DTB physical address
    mrs     x20, CurrentEL
    lsr     x20, x20, #2            // x20 = entry exception level
    drop_to_el1 at_el1

at_el1:
    mov     x1, #(3 << 20)          // CPACR_EL1.FPEN = 0b11: no FP/SIMD traps
    msr     cpacr_el1, x1
    msr     tpidr_el1, xzr          // CPU number 0 (cpu::id)
    isb

    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:
    ldr     x1, =__exc_stack_top    // SP_EL1: exceptions
    mov     sp, x1
    msr     spsel, #0
    ldr     x1, =__boot_stack_top   // SP_EL0: the kernel
    mov     sp, x1
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x19
    mov     x1, x20
    bl      kernel_main
4:  wfe
    b       4b

    // A secondary CPU, started by PSCI CPU_ON with its CPU number in x0, MMU
    // off. It turns the MMU on with the boot CPU's translation registers
    // (SECONDARY_BOOT, cleaned to memory by the boot CPU), takes its own
    // stacks (__stacks_start + number * 0x16000: guard, 64 KiB kernel stack,
    // guard, 16 KiB exception stack) and calls secondary_main(number).
    .global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    drop_to_el1 secondary_el1
secondary_el1:
    mov     x1, #(3 << 20)          // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x1
    msr     tpidr_el1, x19          // CPU number (cpu::id)
    adrp    x1, SECONDARY_BOOT
    add     x1, x1, :lo12:SECONDARY_BOOT
    ldr     x2, [x1, #0]
    msr     mair_el1, x2
    ldr     x2, [x1, #8]
    msr     tcr_el1, x2
    ldr     x2, [x1, #16]
    msr     ttbr0_el1, x2
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x2, [x1, #24]
    msr     sctlr_el1, x2
    isb
    ldr     x3, =__stacks_start
    ldr     x4, =0x16000
    madd    x3, x19, x4, x3         // this CPU's stack block
    add     x5, x3, #0x16000        // exception stack top
    mov     sp, x5
    msr     spsel, #0
    add     x5, x3, #0x11000        // kernel stack top
    mov     sp, x5
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x19
    bl      secondary_main
5:  wfe
    b       5b
"#
);
