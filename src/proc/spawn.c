/* proc/spawn.c — starting a child: clone3 (vfork-style) with a pidfd, and the code the child
 * runs between the clone and the exec.
 *
 * How (measured against posix_spawn + pidfd_open and fork + exec: bench/RESULTS.md,
 * "Processes"): clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND), the
 * child running child_main on a stack of its own (clone_<arch>.S). CLONE_VM|CLONE_VFORK is
 * what makes vfork and glibc's posix_spawn fast: no page tables are copied, and the parent
 * thread is suspended until the child has called exec or exited. CLONE_PIDFD gives the
 * pidfd atomically with the child (pidfd_open after posix_spawn has a window in which a
 * foreign waitpid(-1) could reap the child and its PID be reused). CLONE_CLEAR_SIGHAND
 * resets every handled signal in the child, so no handler of the parent can run in the
 * child while it shares the parent's memory; glibc's posix_spawn asks the kernel about all
 * 64 signals one by one for that, and blocks and unblocks them around the clone.
 * The exit signal is SIGCHLD, as for any child (exec would make it so anyway: the kernel
 * resets a child's exit signal to SIGCHLD when it execs).
 *
 * Errors before the exec: the child writes its errno into the request in the shared memory
 * and exits 127; when the suspended parent resumes it reads the errno, reaps the child and
 * returns -errno. An exec failure is thus the start call's error, never exit code 127.
 *
 * Fallback (weft__spawn_method): when clone3 is refused (seccomp, a kernel before 5.5,
 * Valgrind, qemu-user), the clone system call with CLONE_PIDFD (or, when that too is refused,
 * pidfd_open right after: only a foreign waitpid(-1) reaping the child in between, and its
 * PID being reused at once, could fool it). Handled signals are then reset by the child itself, all
 * signals being blocked in the parent around the clone; and the errno travels through a
 * close-on-exec pipe, since emulators turn CLONE_VM|CLONE_VFORK into a fork whose memory is
 * not shared.
 *
 * The child shares the parent's memory (and thread pointer: errno is its parent thread's):
 * it must not allocate, lock, or call anything the sanitizers intercept. It makes raw
 * system calls only (syscall(2) is not intercepted), on data the parent prepared, and its
 * code is built without sanitizer instrumentation (CHILD_CODE): TSan's function-entry hook
 * would push onto its parent thread's shadow stack and never pop.
 */
#include "proc/internal.h"
#include "pool/internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#define WEFT_CLONE_CLEAR_SIGHAND 0x100000000ULL

/* Code the child runs: no sanitizer instrumentation (see the file header). */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define CHILD_CODE __attribute__((disable_sanitizer_instrumentation, noinline))
#endif
#endif
#ifndef CHILD_CODE
#define CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined"), noinline))
#endif

/* The kernel's clone_args, version 0 (64 bytes). */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* clone_<arch>.S */
long weft__clone3_run(struct clone_args_v0 *args, size_t size, int (*fn)(void *), void *arg);
long weft__clone_run(unsigned long flags, void *stack_top, int *parent_tid, int (*fn)(void *),
                     void *arg);

/* The kernel's struct sigaction (x86_64 and arm64: both have sa_restorer). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

#define CHILD_STACK (32 * 1024)
#define KSIGSET 8                     /* the kernel's sigset: 64 signals */

_Atomic int weft__spawn_method;

/* What the parent hands the child, and the child's answer. */
typedef struct child_ctx {
    const weft__spawn_req *req;
    const char *const *cands;         /* PATH candidates, NULL-terminated; NULL: argv[0] */
    const int *gaps;                  /* sorted fds >= 3 that close_others leaves open */
    size_t ngaps;
    int errfd;                        /* the error pipe's write end, or -1 */
    bool reset_handlers;              /* (fallback) handlers are still the parent's */
    long fd_limit;                    /* close-one-by-one bound, if close_range is missing */
    _Atomic int err;                  /* the child's errno, 0 if it reached exec */
} child_ctx;

/* ---- the child ------------------------------------------------------------------------- */

CHILD_CODE static void default_action(int sig)
{
    struct ksigaction dfl;
    dfl.handler = SIG_DFL;
    dfl.flags = 0;
    dfl.restorer = NULL;
    dfl.mask = 0;
    syscall(SYS_rt_sigaction, sig, &dfl, NULL, KSIGSET);
}

/* Fallback only: puts every handled signal back to its default (ignored ones stay). */
CHILD_CODE static void reset_handlers(void)
{
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        struct ksigaction old;
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, KSIGSET) != 0) continue;
        if (old.handler != SIG_DFL && old.handler != SIG_IGN) default_action(sig);
    }
}

/* Closes [lo, hi]; one by one up to fd_limit where close_range is missing (Linux < 5.9). */
CHILD_CODE static void close_span(unsigned lo, unsigned hi, long fd_limit)
{
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0) return;
    for (long fd = lo; fd <= (long)hi && fd < fd_limit; fd++) syscall(SYS_close, fd);
}

/* Every descriptor >= 3 but the gaps (passed fds, the error pipe). */
CHILD_CODE static void close_others(const child_ctx *c)
{
    unsigned lo = 3;
    for (size_t i = 0; i < c->ngaps; i++) {
        unsigned k = (unsigned)c->gaps[i];
        if (k > lo) close_span(lo, k - 1, c->fd_limit);
        lo = k + 1;
    }
    close_span(lo, ~0u, c->fd_limit);
}

/* Puts the requested descriptors at 0, 1, 2. A source that is itself 0, 1 or 2 (a pipe
 * made while the parent's stdin was closed, "stdout to my stderr", 2>&1 with stdout
 * inherited) is first copied above 2, so no dup over 0..2 can destroy a source still to
 * be used. Returns 0 or an errno. */
CHILD_CODE static int setup_stdio(const weft__spawn_req *r)
{
    int src[3] = { r->src[0], r->src[1], r->src[2] };
    int devnull = -1;
    for (int i = 0; i < 3; i++) {
        if (src[i] != WEFT__SRC_DEVNULL) continue;
        if (devnull < 0) {
            devnull = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
            if (devnull < 0) return errno;
        }
        src[i] = devnull;
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
            int fd = (int)syscall(SYS_fcntl, src[i], F_DUPFD, 3);
            if (fd < 0) return errno;
            src[i] = fd;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] == i) {
            if (syscall(SYS_fcntl, i, F_SETFD, 0) < 0) return errno;  /* inheritable */
        } else if (src[i] >= 0 && syscall(SYS_dup3, src[i], i, 0) < 0) {
            return errno;
        }
    }
    return 0;
}

/* Everything before the exec. Returns 0 or an errno. */
CHILD_CODE static int child_setup(const child_ctx *c)
{
    const weft__spawn_req *r = c->req;
    if (c->reset_handlers) reset_handlers();
    /* Python's restore_signals: weft ignores SIGPIPE once it adopts a pipe, and a child
     * that inherited the ignore would not die writing to a closed pipe (`yes | head`). */
    default_action(SIGPIPE);
    default_action(SIGXFSZ);
    if (r->new_session && syscall(SYS_setsid) < 0) return errno;
    if (r->process_group >= 0 && syscall(SYS_setpgid, 0, r->process_group) < 0) return errno;
    int e = setup_stdio(r);
    if (e) return e;
    if (r->cwd && syscall(SYS_chdir, r->cwd) < 0) return errno;
    close_others(c);
    for (size_t i = 0; i < r->nkeep; i++) syscall(SYS_fcntl, r->keep[i], F_SETFD, 0);
    uint64_t none = 0;                /* the program starts with no signal blocked */
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, KSIGSET) < 0) return errno;
    return 0;
}

/* execve, or execvpe's search: EACCES is remembered and the search goes on; the errors
 * that mean "not in this directory" go on; any other stops it. Returns the errno. */
CHILD_CODE static int child_exec(const child_ctx *c)
{
    const weft__spawn_req *r = c->req;
    char *const *argv = (char *const *)r->argv;
    char *const *envp = (char *const *)r->envp;
    if (!c->cands) {
        syscall(SYS_execve, r->argv[0], argv, envp);
        return errno;
    }
    bool eacces = false;
    for (const char *const *p = c->cands; *p; p++) {
        syscall(SYS_execve, *p, argv, envp);
        switch (errno) {
        case EACCES:
            eacces = true;
            break;
        case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT:
            break;
        default:
            return errno;
        }
    }
    return eacces ? EACCES : ENOENT;
}

CHILD_CODE static int child_main(void *arg)
{
    child_ctx *c = arg;
    int e = child_setup(c);
    if (!e) e = child_exec(c);
    atomic_store_explicit(&c->err, e, memory_order_relaxed);
    if (c->errfd >= 0) syscall(SYS_write, c->errfd, &e, sizeof e);
    syscall(SYS_exit, 127);
    return 127;
}

/* ---- the parent ------------------------------------------------------------------------ */

/* The PATH to search: the child's environment's (the caller's when envp is the caller's),
 * else /bin:/usr/bin (Python's os.get_exec_path, glibc's default). */
static const char *search_path(const char *const *envp, bool own_env)
{
    const char *path = NULL;
    if (own_env) {
        path = getenv("PATH");
    } else {
        for (const char *const *e = envp; *e; e++)
            if (strncmp(*e, "PATH=", 5) == 0) { path = *e + 5; break; }
    }
    return path ? path : "/bin:/usr/bin";
}

/* "dir/file" for each directory of path (an empty one is the working directory), in one
 * allocation: the pointer array first, then the strings. NULL: -ENOMEM. */
static const char **candidates(const char *path, const char *file)
{
    size_t ndirs = 1, flen = strlen(file), plen = strlen(path);
    for (const char *s = path; *s; s++) ndirs += *s == ':';
    size_t ptrs = (ndirs + 1) * sizeof(char *);
    char **v = weft__malloc(ptrs + plen + ndirs * (flen + 2));
    if (!v) return NULL;
    char *out = (char *)v + ptrs;
    size_t n = 0;
    for (const char *dir = path;; ) {
        const char *end = strchr(dir, ':');
        size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
        v[n++] = out;
        if (dlen) {
            memcpy(out, dir, dlen);
            out += dlen;
            *out++ = '/';
        }
        memcpy(out, file, flen + 1);
        out += flen + 1;
        if (!end) break;
        dir = end + 1;
    }
    v[n] = NULL;
    return (const char **)v;
}

/* The gaps close_others leaves: the kept fds and the error pipe, sorted. */
static int *make_gaps(const weft__spawn_req *r, int errfd, size_t *n)
{
    int *g = weft__malloc((r->nkeep + 1) * sizeof *g);
    if (!g) return NULL;
    size_t k = 0;
    bool placed = errfd < 0;
    for (size_t i = 0; i < r->nkeep; i++) {
        if (!placed && errfd < r->keep[i]) { g[k++] = errfd; placed = true; }
        g[k++] = r->keep[i];
    }
    if (!placed) g[k++] = errfd;
    *n = k;
    return g;
}

/* Reaps a child that failed before its exec (it has exited, or is about to). */
static void reap_failed(pid_t pid, int pidfd)
{
    siginfo_t si;
    int r;
    if (pidfd >= 0) {
        do r = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL); while (r < 0 && errno == EINTR);
    } else {
        do r = waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL); while (r < 0 && errno == EINTR);
    }
}

static long fd_limit(void)
{
    long n = sysconf(_SC_OPEN_MAX);
    return n > 0 ? n : 65536;
}

/* clone3: returns the pid, -errno, or 1 if clone3 cannot be used here (ask the fallback). */
static long spawn_clone3(child_ctx *c, void *stack, int *pidfd)
{
    struct clone_args_v0 a;
    memset(&a, 0, sizeof a);
    a.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | WEFT_CLONE_CLEAR_SIGHAND;
    a.pidfd = (uint64_t)(uintptr_t)pidfd;
    a.exit_signal = SIGCHLD;
    a.stack = (uint64_t)(uintptr_t)stack;
    a.stack_size = CHILD_STACK;
    long pid = weft__clone3_run(&a, sizeof a, child_main, c);
    /* Refused as a whole: a seccomp filter, an old kernel (no clone3: ENOSYS; no
     * CLEAR_SIGHAND: EINVAL), an emulator. Not EAGAIN, ENOMEM, EMFILE: those are real. */
    if (pid == -ENOSYS || pid == -EPERM || pid == -EINVAL || pid == -E2BIG) return 1;
    return pid;
}

/* The clone system call, with all signals blocked and an error pipe. Returns the pid or
 * -errno. */
static long spawn_clone(child_ctx *c, void *stack, int method, int *pidfd)
{
    int ep[2];
    /* Registered (core/parent_fd.c): a process another thread forks meanwhile must not
     * keep the write end, or the read below waits for that process's end. Above 2: the
     * child's dups onto 0..2 must not hit it. */
    int rc = weft__parent_pipe(ep, O_CLOEXEC, 3);
    if (rc) return rc;
    c->errfd = ep[1];
    c->reset_handlers = true;
    size_t ngaps;
    int *gaps = make_gaps(c->req, ep[1], &ngaps);
    if (!gaps) { weft__parent_fd_close(ep[0]); weft__parent_fd_close(ep[1]); return -ENOMEM; }
    const int *old_gaps = c->gaps;
    size_t old_ngaps = c->ngaps;
    c->gaps = gaps;
    c->ngaps = ngaps;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (method == WEFT__SPAWN_CLONE ? CLONE_PIDFD : 0);
    long pid = weft__clone_run((unsigned long)flags, (char *)stack + CHILD_STACK, pidfd,
                               child_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    weft__parent_fd_close(ep[1]);
    c->gaps = old_gaps;
    c->ngaps = old_ngaps;
    weft__free(gaps);
    if (pid < 0) { weft__parent_fd_close(ep[0]); return pid; }
    /* Memory may not be shared (emulators): the errno comes through the pipe, which
     * reads end of file once the child's exec has closed its end. */
    int err = 0;
    size_t got = 0;
    while (got < sizeof err) {       /* the whole errno, whatever interrupts the reads */
        ssize_t n = read(ep[0], (char *)&err + got, sizeof err - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    weft__parent_fd_close(ep[0]);
    atomic_store_explicit(&c->err, got == sizeof err ? err : 0, memory_order_relaxed);
    return pid;
}

static long spawn_fallback(child_ctx *c, void *stack, int *pidfd)
{
    int m = atomic_load_explicit(&weft__spawn_method, memory_order_relaxed);
    if (m != WEFT__SPAWN_CLONE_PIDFD_OPEN) {
        long pid = spawn_clone(c, stack, WEFT__SPAWN_CLONE, pidfd);
        if (pid != -EINVAL) {
            if (m != WEFT__SPAWN_CLONE)
                atomic_store_explicit(&weft__spawn_method, WEFT__SPAWN_CLONE, memory_order_relaxed);
            return pid;
        }
        /* CLONE_PIDFD refused (Linux < 5.2, an emulator): pidfd_open after the clone. */
        atomic_store_explicit(&weft__spawn_method, WEFT__SPAWN_CLONE_PIDFD_OPEN,
                              memory_order_relaxed);
    }
    *pidfd = -1;
    long pid = spawn_clone(c, stack, WEFT__SPAWN_CLONE_PIDFD_OPEN, pidfd);
    if (pid < 0) return pid;
    /* Nobody but a foreign waitpid(-1) can have reaped it yet: its PID is still its own. */
    *pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (*pidfd < 0) {
        int e = -errno;
        if (!atomic_load_explicit(&c->err, memory_order_relaxed)) kill((pid_t)pid, SIGKILL);
        reap_failed((pid_t)pid, -1);
        atomic_store_explicit(&c->err, 0, memory_order_relaxed);
        return e;
    }
    return pid;
}

/* Starts the child on the calling thread (see weft__spawn). */
static int spawn_here(const weft__spawn_req *req, pid_t *pid_out, int *pidfd_out)
{
    child_ctx c;
    memset(&c, 0, sizeof c);
    c.req = req;
    c.errfd = -1;
    c.fd_limit = fd_limit();
    c.gaps = req->keep;
    c.ngaps = req->nkeep;
    atomic_init(&c.err, 0);
    const char **cands = NULL;
    if (!strchr(req->argv[0], '/') && req->argv[0][0]) {
        cands = candidates(search_path(req->envp, req->envp == (const char *const *)environ),
                           req->argv[0]);
        if (!cands) return -ENOMEM;
        c.cands = cands;
    }
    void *stack = weft__malloc(CHILD_STACK);
    if (!stack) {
        weft__free(cands);
        return -ENOMEM;
    }
    int pidfd = -1;
    long pid = 1;
    if (atomic_load_explicit(&weft__spawn_method, memory_order_relaxed) <= WEFT__SPAWN_CLONE3) {
        pid = spawn_clone3(&c, stack, &pidfd);
        if (pid == 1)
            atomic_store_explicit(&weft__spawn_method, WEFT__SPAWN_CLONE, memory_order_relaxed);
        else if (atomic_load_explicit(&weft__spawn_method, memory_order_relaxed) == 0)
            atomic_store_explicit(&weft__spawn_method, WEFT__SPAWN_CLONE3, memory_order_relaxed);
    }
    if (pid == 1) pid = spawn_fallback(&c, stack, &pidfd);
    weft__free(stack);
    weft__free(cands);
    if (pid < 0) return (int)pid;
    int err = atomic_load_explicit(&c.err, memory_order_relaxed);
    if (err) {                        /* it failed before its exec, and has exited */
        reap_failed((pid_t)pid, pidfd);
        if (pidfd >= 0) close(pidfd);
        return -err;
    }
    *pid_out = (pid_t)pid;
    *pidfd_out = pidfd;
    return 0;
}

/* ---- from a coroutine: on a thread of the spawn pool ------------------------------------
 * A start blocks its thread from the clone until the child's exec (CLONE_VFORK: some
 * hundreds of microseconds). On a loop that would stop every coroutine of the loop for that
 * long, and the starts of its coroutines would run one after the other on one CPU; on the
 * spawn pool's threads the loop runs meanwhile and several starts proceed at once. */
typedef struct spawn_job {
    const weft__spawn_req *req;
    pid_t pid;
    int pidfd;
} spawn_job;

static int run_spawn_job(void *arg, void **result)
{
    (void)result;
    spawn_job *j = arg;
    return spawn_here(j->req, &j->pid, &j->pidfd);
}

static weft_pool *_Atomic spawn_pool;

int weft__spawn(const weft__spawn_req *req, pid_t *pid_out, int *pidfd_out)
{
    if (!weft_in_coroutine()) return spawn_here(req, pid_out, pidfd_out);
    /* A compact coroutine cannot lend req and j (on its stack) to the spawn thread: it
     * spawns itself, under the same hand-off rule (cancelled: no child). */
    if (weft_in_compact_coroutine()) {
        int rc = weft__handoff_check();
        return rc ? rc : spawn_here(req, pid_out, pidfd_out);
    }
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 8;
    o.name_prefix = "weft-spawn";
    weft_pool *pool = weft__lazy_pool(&spawn_pool, &o);
    if (!pool) return spawn_here(req, pid_out, pidfd_out);
    spawn_job j = { req, -1, -1 };
    int rc = weft_run_in_executor(pool, run_spawn_job, &j, NULL);
    if (rc == 0) {
        *pid_out = j.pid;
        *pidfd_out = j.pidfd;
    }
    return rc;
}
