/* proc/clone3_aarch64.S — clone3 for a child that runs a function on its own stack.
 *
 * long weft__clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
 *
 * The raw clone3 system call (435): in the parent it returns the child's pid or -errno
 * (errno is not touched). The child starts on args->stack + args->stack_size (the kernel sets
 * its stack pointer there; nothing of the parent's stack is used, so a CLONE_VM child cannot
 * clobber the frames of its suspended parent), calls fn(arg) and exits with its value. fn
 * and arg travel in x10 and x11, which the system call preserves and the child inherits.
 */
    .text
    .globl weft__clone3_run
    .hidden weft__clone3_run
    .type weft__clone3_run, %function
    .p2align 2
weft__clone3_run:
    .cfi_startproc
    mov x10, x2                 /* fn */
    mov x11, x3                 /* arg */
    mov x8, #435                /* __NR_clone3 */
    svc #0
    cbz x0, 1f
    ret                         /* parent: pid, or -errno */
1:
    .cfi_undefined x30          /* child: the outermost frame */
    mov x29, #0
    mov x30, #0
    mov x0, x11
    blr x10
    mov x8, #93                 /* __NR_exit */
    svc #0
    brk #0
    .cfi_endproc
    .size weft__clone3_run, .-weft__clone3_run

    .section .note.GNU-stack,"",%progbits
