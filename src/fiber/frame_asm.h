/* fiber/frame_asm.h — the callee-saved frame that every context switch pushes, as one
 * assembler macro for the plain switch (switch_<arch>.S) and the copying switch of compact
 * fibers (compact_<arch>.S): their frames must stay interchangeable (either one's resumed
 * side, weft__ctx_resume, pops frames pushed by the other). Included by .S files only; the
 * layout is described in switch_<arch>.S.
 */
#ifndef WEFT_FIBER_FRAME_ASM_H
#define WEFT_FIBER_FRAME_ASM_H

#if defined(__x86_64__)
/* rbp, rbx, r12-r15, then MXCSR at (%rsp) and the x87 control word at 4(%rsp). */
.macro WEFT_PUSH_FRAME
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
.endm
#elif defined(__aarch64__)
/* 176 bytes: x19-x30, d8-d15, FPCR (x9 is clobbered). */
.macro WEFT_PUSH_FRAME
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
.endm
#endif

#endif
