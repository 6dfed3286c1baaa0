/* proc/clone_aarch64.S — clone3 and clone for a child that runs a function on its own stack.
 *
 * long weft__clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
 * long weft__clone_run(unsigned long flags, void *stack_top, int *parent_tid,
 *                      int (*fn)(void *), void *arg)
 *
 * The raw system calls (clone3: 435; clone: 220, for kernels and sandboxes that refuse
 * clone3), not glibc's clone(): ThreadSanitizer intercepts that one and takes a CLONE_VM
 * child for a fork. In the parent they return the child's pid or -errno (errno is not
 * touched). The child starts on its own stack (the kernel sets its stack pointer; nothing
 * of the parent's stack is used, so a CLONE_VM child cannot clobber the frames of its
 * suspended parent), calls fn(arg) and exits with its value. fn and arg travel in x10 and
 * x11, which the system call preserves and the child inherits.
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
    cbz x0, child
    ret                         /* parent: pid, or -errno */
    .cfi_endproc
    .size weft__clone3_run, .-weft__clone3_run

    .globl weft__clone_run
    .hidden weft__clone_run
    .type weft__clone_run, %function
    .p2align 2
weft__clone_run:
    .cfi_startproc
    mov x10, x3                 /* fn */
    mov x11, x4                 /* arg */
    mov x3, #0                  /* tls */
    mov x4, #0                  /* child_tid */
    mov x8, #220                /* __NR_clone: (flags, stack, parent_tid, tls, child_tid) */
    svc #0
    cbz x0, child
    ret
    .cfi_endproc
    .size weft__clone_run, .-weft__clone_run

    .type child, %function
    .p2align 2
child:
    .cfi_startproc
    .cfi_undefined x30          /* the child's outermost frame */
    mov x29, #0
    mov x30, #0
    mov x0, x11
    blr x10
    mov x8, #93                 /* __NR_exit */
    svc #0
    brk #0
    .cfi_endproc
    .size child, .-child

    .section .note.GNU-stack,"",%progbits
