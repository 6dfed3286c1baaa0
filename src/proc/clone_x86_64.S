/* proc/clone_x86_64.S — clone3 and clone for a child that runs a function on its own stack.
 *
 * long weft__clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
 * long weft__clone_run(unsigned long flags, void *stack_top, int *parent_tid,
 *                      int (*fn)(void *), void *arg)
 *
 * The raw system calls (clone3: 435; clone: 56, for kernels and sandboxes that refuse
 * clone3), not glibc's clone(): ThreadSanitizer intercepts that one and takes a CLONE_VM
 * child for a fork. In the parent they return the child's pid or -errno (errno is not
 * touched). The child starts on its own stack (the kernel sets its stack pointer; nothing
 * of the parent's stack is used, so a CLONE_VM child cannot clobber the frames of its
 * suspended parent), calls fn(arg) and exits with its value. fn and arg travel in r8 and
 * r9, which the system call preserves and the child inherits (for clone, r8 is the TLS
 * argument, which the kernel ignores without CLONE_SETTLS).
 */
    .text
    .globl weft__clone3_run
    .hidden weft__clone3_run
    .type weft__clone3_run, @function
weft__clone3_run:
    .cfi_startproc
    mov %rdx, %r8               /* fn */
    mov %rcx, %r9               /* arg */
    mov $435, %eax              /* __NR_clone3 */
    syscall
    test %rax, %rax
    jz child
    ret                         /* parent: pid, or -errno */
    .cfi_endproc
    .size weft__clone3_run, .-weft__clone3_run

    .globl weft__clone_run
    .hidden weft__clone_run
    .type weft__clone_run, @function
weft__clone_run:
    .cfi_startproc
    mov %r8, %r9                /* arg */
    mov %rcx, %r8               /* fn (and clone's unused tls argument) */
    xor %r10d, %r10d            /* child_tid */
    mov $56, %eax               /* __NR_clone */
    syscall
    test %rax, %rax
    jz child
    ret
    .cfi_endproc
    .size weft__clone_run, .-weft__clone_run

    .type child, @function
child:
    .cfi_startproc
    .cfi_undefined rip          /* the child's outermost frame */
    xor %ebp, %ebp
    mov %r9, %rdi
    call *%r8
    mov %eax, %edi
    mov $60, %eax               /* __NR_exit */
    syscall
    hlt
    .cfi_endproc
    .size child, .-child

    .section .note.GNU-stack,"",@progbits
