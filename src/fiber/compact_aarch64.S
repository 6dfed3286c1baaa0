/* fiber/compact_aarch64.S — the copying switch of compact fibers on aarch64 (fiber/internal.h).
 *
 * int weft__ctx_switch_copy(void **save_sp, void **load_sp, void (*between)(void *),
 *                           void *arg, void *scratch_top, void **reap)
 *   Saves the same 176-byte frame as weft__ctx_switch (switch_aarch64.S: x19-x30, d8-d15,
 *   FPCR), stores sp in *save_sp, moves to scratch_top (16-byte aligned) and calls
 *   between(arg) there — the copies must not run on the run stack they overwrite —, then
 *   loads *load_sp (read only now: between decides it) and restores the frame found there
 *   through weft__ctx_switch's own resumed side (weft__ctx_resume), which returns 0 after
 *   a tail call of weft__ctx_reap(reap) if *reap is not NULL. load_sp and reap are kept in
 *   x19 and x20 across the call (callee-saved: the outgoing frame holds their old values,
 *   the incoming frame restores its own).
 */
#include "fiber/frame_asm.h"

    .text
    .globl  weft__ctx_switch_copy
    .hidden weft__ctx_switch_copy
    .type   weft__ctx_switch_copy, %function
    .p2align 4
weft__ctx_switch_copy:
    .cfi_startproc
    WEFT_PUSH_FRAME
    mov     x9, sp
    str     x9, [x0]
    mov     x19, x1                 /* load_sp, read after the call */
    mov     x20, x5                 /* reap, for the resumed side */
    mov     sp, x4
    mov     x0, x3
    blr     x2
    ldr     x9, [x19]
    mov     sp, x9
    mov     x2, x20
    b       weft__ctx_resume        /* the plain switch's resumed side (switch_aarch64.S) */
    .cfi_endproc
    .size   weft__ctx_switch_copy, .-weft__ctx_switch_copy

    .section .note.GNU-stack,"",@progbits
