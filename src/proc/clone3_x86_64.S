/* proc/clone3_x86_64.S — clone3 for a child that runs a function on its own stack.
 *
 * long weft__clone3_run(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
 *
 * The raw clone3 system call (435): in the parent it returns the child's pid or -errno
 * (errno is not touched). The child starts on args->stack + args->stack_size (the kernel sets
 * its stack pointer there; nothing of the parent's stack is used, so a CLONE_VM child cannot
 * clobber the frames of its suspended parent), calls fn(arg) and exits with its value. fn
 * and arg travel in r8 and r9, which the system call preserves and the child inherits.
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
    jz 1f
    ret                         /* parent: pid, or -errno */
1:
    .cfi_undefined rip          /* child: the outermost frame */
    xor %ebp, %ebp
    mov %r9, %rdi
    call *%r8
    mov %eax, %edi
    mov $60, %eax               /* __NR_exit */
    syscall
    hlt
    .cfi_endproc
    .size weft__clone3_run, .-weft__clone3_run

    .section .note.GNU-stack,"",@progbits
