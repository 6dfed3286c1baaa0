/* fiber/switch_x86_64.S — the x86_64 (System V) context switch.
 *
 * int weft__ctx_switch(void **save_sp, void *load_sp, void **reap)
 *   Pushes the callee-saved registers (rbp rbx r12-r15), MXCSR and the x87 control word
 *   onto the current stack, stores the stack pointer in *save_sp, loads load_sp and pops
 *   the same frame from there. Everything else is caller-saved, so the C compiler has
 *   already saved what it needs. 56 bytes of frame + the return address.
 *   ldmxcsr and fldcw are slow (microcoded); the incoming context's control words nearly
 *   always equal the outgoing ones, so they are reloaded only when they differ: the state
 *   that results is the same either way.
 *   It returns with `ret`, keeping the CPU's return-stack buffer balanced: the scheduler
 *   makes every switch from one call site (loop/sched.c), so the `ret` lands where the
 *   buffer predicts. (boost.context returns with `jmp`, which wins in a bare ping-pong
 *   between two call sites but leaves the buffer one entry off, so every later `ret` of
 *   the resumed context mispredicts.)
 *   Once on the new stack it returns 0, after a tail jump to weft__ctx_reap(reap) if *reap
 *   is not NULL (the scheduler's zombie slot: a coroutine that just ended, whose stack the
 *   resumed context must release; reap is the same slot on both sides, rdx surviving the
 *   switch). Doing that here, on whatever path the resumed context had switched out by,
 *   lets weft_yield tail-call this function (loop/sched.c): the resumed side then needs no
 *   code of its own after the switch, so weft_yield has no frame to build or tear down, and
 *   the `ret` lands straight in weft_yield's caller, which expects the 0. (The `ret` is
 *   then predicted when the resumed coroutine called weft_yield from the same place as the
 *   one leaving, as in a ping-pong; otherwise it mispredicts once, where before the
 *   mispredicted `ret` was weft_yield's own.) The sanitizer builds pass a slot that is
 *   always NULL and reap in C after their switch annotations.
 *
 * Frame, from the saved stack pointer upwards:
 *   +0 MXCSR (4 bytes)  +4 x87 control word (2)  +8 r15  +16 r14  +24 r13  +32 r12
 *   +40 rbx  +48 rbp  +56 return address
 * fiber/context.c builds the same frame for a new context, with r12 = entry function,
 * r13 = its argument and the return address pointing at weft__ctx_entry.
 */
#include "fiber/frame_asm.h"

    .text
    .globl  weft__ctx_switch
    .hidden weft__ctx_switch
    .type   weft__ctx_switch, @function
    .p2align 4
weft__ctx_switch:
    .cfi_startproc
    WEFT_PUSH_FRAME
    movl    (%rsp), %eax            /* the outgoing control words */
    movzwl  4(%rsp), %ecx
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    /* The resumed side, shared with the copying switch of compact fibers
     * (compact_x86_64.S): the incoming frame at rsp, the outgoing control words in eax /
     * ecx, the reap slot in rdx. */
    .globl  weft__ctx_resume
    .hidden weft__ctx_resume
weft__ctx_resume:
    cmpl    (%rsp), %eax
    jne     1f
    cmpw    4(%rsp), %cx
    jne     1f
2:  addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    xorl    %eax, %eax
    cmpq    $0, (%rdx)
    jne     3f
    ret
3:  movq    %rdx, %rdi              /* at a function entry's stack state: tail call */
    jmp     weft__ctx_reap
1:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     2b
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

/* The first code a new context runs: jumps to entry(arg), entry in r12 and arg in r13,
 * with a pushed return address (the stack is 16-byte aligned here, so the push leaves it as
 * the ABI wants at entry's first instruction). A jump, not a call: a call would leave one
 * entry in the CPU's return-stack buffer that no `ret` of this context ever takes, so when
 * a short coroutine ends and switches back to the one that started it (spawn, then join),
 * every `ret` of that one's way back would be predicted one frame off. With the jump (and
 * fiber_start tail-calling the coroutine's entry) the buffer still holds the joiner's own
 * return addresses: spawn+join 94 -> 60 ns here (bench/weft_spawn.c's loop). entry
 * never returns; if it did, it lands on the stub after the
 * jump (weft__fiber_returned: a fatal error). rip is marked undefined so unwinders stop here.
 * The nop before the label lies inside the same frame description: when a new context's
 * first switch reaps a zombie, weft__ctx_reap's return address is weft__ctx_entry itself,
 * and unwinders look up the return address minus one — the nop, so they find this frame
 * (and its undefined rip) instead of the padding after weft__ctx_switch. */
    .p2align 4
weft__ctx_first_frame:              /* names the nop for debuggers (a local symbol) */
    .type   weft__ctx_first_frame, @function
    .cfi_startproc
    .cfi_undefined rip
    nop
    .globl  weft__ctx_entry
    .hidden weft__ctx_entry
    .type   weft__ctx_entry, @function
weft__ctx_entry:
    movq    %r13, %rdi
    leaq    1f(%rip), %rax
    pushq   %rax
    jmpq    *%r12
1:  callq   weft__fiber_returned
    ud2
    .cfi_endproc
    .size   weft__ctx_entry, .-weft__ctx_entry
    .size   weft__ctx_first_frame, .-weft__ctx_first_frame

    .section .note.GNU-stack,"",@progbits
