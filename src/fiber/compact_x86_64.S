/* fiber/compact_x86_64.S — the copying switch of compact fibers (fiber/internal.h).
 *
 * int weft__ctx_switch_copy(void **save_sp, void **load_sp, void (*between)(void *),
 *                           void *arg, void *scratch_top, void **reap)
 *   Pushes the same frame as weft__ctx_switch (switch_x86_64.S: MXCSR, x87 control word,
 *   r15-r12, rbx, rbp, return address), stores the stack pointer in *save_sp, moves to
 *   scratch_top (16-byte aligned) and calls between(arg) there — the copies must not run
 *   on the run stack they overwrite —, then loads *load_sp (read only now: between decides
 *   it) and pops the frame found there through weft__ctx_switch's own resumed side
 *   (weft__ctx_resume), reloading MXCSR / the control word only if they differ from the
 *   outgoing ones. Returns 0 on the resumed side, after a tail jump to
 *   weft__ctx_reap(reap) if *reap is not NULL, as weft__ctx_switch does (reap is kept in
 *   r14 across the call: pushed with the outgoing frame, popped from the incoming one).
 */
#include "fiber/frame_asm.h"

    .text
    .globl  weft__ctx_switch_copy
    .hidden weft__ctx_switch_copy
    .type   weft__ctx_switch_copy, @function
    .p2align 4
weft__ctx_switch_copy:
    .cfi_startproc
    WEFT_PUSH_FRAME
    movl    (%rsp), %r12d           /* the outgoing control words, kept across the call */
    movzwl  4(%rsp), %r13d
    movq    %rsp, (%rdi)
    movq    %rsi, %rbx              /* load_sp, read after the call */
    movq    %r9, %r14               /* reap, used after the pops */
    movq    %r8, %rsp
    movq    %rcx, %rdi
    callq   *%rdx
    movq    (%rbx), %rsp
    movq    %r14, %rdx
    movl    %r12d, %eax
    movl    %r13d, %ecx
    jmp     weft__ctx_resume        /* the plain switch's resumed side (switch_x86_64.S) */
    .cfi_endproc
    .size   weft__ctx_switch_copy, .-weft__ctx_switch_copy

    .section .note.GNU-stack,"",@progbits
