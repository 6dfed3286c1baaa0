/* fiber/switch_aarch64.S — the aarch64 (AAPCS64) context switch.
 *
 * int weft__ctx_switch(void **save_sp, void *load_sp, void **reap)
 *   Saves the callee-saved registers x19-x28, the frame pointer x29, the link register x30,
 *   the low halves d8-d15 of v8-v15 and FPCR on the current stack, stores sp in *save_sp,
 *   loads load_sp and restores the same frame from there, returning through x30.
 *   As on x86_64 (see switch_x86_64.S), it returns 0 on the new stack, after a tail call of
 *   weft__ctx_reap(reap) if *reap is not NULL (x2 survives the switch).
 *
 * Frame (176 bytes, 16-byte aligned), from the saved sp upwards:
 *   +0 x19 x20  +16 x21 x22  +32 x23 x24  +48 x25 x26  +64 x27 x28  +80 x29 x30
 *   +96 d8 d9  +112 d10 d11  +128 d12 d13  +144 d14 d15  +160 FPCR  +168 (pad)
 * fiber/context.c builds the same frame for a new context, with x19 = entry function,
 * x20 = its argument and x30 = weft__ctx_entry.
 */
#include "fiber/frame_asm.h"

    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, %function
    .p2align 4
weft__ctx_switch:
    .cfi_startproc
    WEFT_PUSH_FRAME
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    /* The resumed side, also entered by the copying switch (compact_aarch64.S) with sp at
     * the incoming frame and x2 = reap. */
    .globl  weft__ctx_resume
    .hidden weft__ctx_resume
weft__ctx_resume:
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ldr     x9, [x2]
    cbnz    x9, 1f
    mov     w0, #0
    ret
1:  mov     x0, x2                  /* x30 and sp as at the call: a tail call */
    b       weft__ctx_reap
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

/* The first code a new context runs: entry(arg) with entry in x19 and arg in x20; entry
 * never returns. x30 is cleared so that backtraces end here. The nop before the label is in
 * the same frame description, for unwinders that look up a return address of
 * weft__ctx_entry (a reap tail-called by a new context's first switch) minus one. */
    .p2align 4
weft__ctx_first_frame:              /* names the nop for debuggers (a local symbol) */
    .type   weft__ctx_first_frame, %function
    .cfi_startproc
    .cfi_undefined x30
    nop
    .globl  weft__ctx_entry
    .hidden weft__ctx_entry
    .type   weft__ctx_entry, %function
weft__ctx_entry:
    mov     x29, #0
    mov     x30, #0
    mov     x0, x20
    blr     x19
    bl      weft__fiber_returned
    brk     #0
    .cfi_endproc
    .size   weft__ctx_entry, .-weft__ctx_entry
    .size   weft__ctx_first_frame, .-weft__ctx_first_frame

    .section .note.GNU-stack,"",@progbits
