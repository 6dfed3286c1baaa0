/* proc/process.c — processes running a function (weft/process.h).
 *
 * fork, then pidfd_open in the parent: the child is a zombie at worst until we reap it, so
 * its PID cannot be recycled in between, and every later wait and signal goes through the
 * pidfd (the subprocess machinery: weft__subprocess_adopt). Raw clone3 would give the pidfd
 * at once but skip glibc's fork handlers, and with them malloc's safety in the child.
 *
 * Fork safety (core/fork.c, for every fork of the process): weft's global locks are held
 * across the fork (the allocation depot, the thread registry, the lazy pools, the signal
 * router's state, this file's registry), so the child's copies are consistent, and the
 * child drops what belongs to the parent's threads (weft's pools, the router, the thread
 * registry). Here the child's thread-local block is cleared too: the child of
 * weft_process_start starts as a plain thread that never used weft (a program's own fork
 * continues where it was).
 *
 * The registry (reg_lock) holds every handle not yet released plus the released children
 * still running; at normal exit (atexit) daemon children are killed and all are reaped.
 */
#include "proc/internal.h"
#include "pool/internal.h"

#include <weft/process.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct weft_process {
    weft_subprocess *sp;
    bool daemon;
    bool released;                   /* by the user: reaped at exit if still running */
    struct weft_process *next;       /* registry, under reg_lock */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_process *registry;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

/* fork (core/fork.c, registered with the first process): reg_lock is held over every fork
 * of the process; the parent's children are not the child's (the records stay reachable,
 * on left_behind, unfreed). */
static weft_process *left_behind;

static void fork_prepare(void) { pthread_mutex_lock(&reg_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&reg_lock); }
static void fork_child(void)
{
    pthread_mutex_init(&reg_lock, NULL);
    if (registry) {
        weft_process *tail = registry;
        while (tail->next) tail = tail->next;
        tail->next = left_behind;
        left_behind = registry;
    }
    registry = NULL;
}

/* Waits for sp's child with plain poll(2): at exit, no loop or coroutine is involved. */
static void reap_blocking(weft_subprocess *sp)
{
    while (weft__subprocess_try_reap(sp) == -EAGAIN) {
        struct pollfd pf = { .fd = weft_subprocess_pidfd(sp), .events = POLLIN };
        poll(&pf, 1, -1);
    }
}

/* With reg_lock held: frees the released children that have ended (a program that starts
 * and releases many keeps no record of the finished ones). */
static void sweep_locked(void)
{
    for (weft_process **link = &registry; *link;) {
        weft_process *p = *link;
        if (p->released && weft__subprocess_try_reap(p->sp) != -EAGAIN) {
            *link = p->next;
            weft_subprocess_destroy(p->sp);
            weft__free(p);
        } else {
            link = &p->next;
        }
    }
}

/* Normal exit: daemon children are killed, every child is reaped (non-daemon ones are
 * waited for, as Python's multiprocessing does). */
static void at_exit(void)
{
    pthread_mutex_lock(&reg_lock);
    weft_process *list = registry;
    registry = NULL;
    pthread_mutex_unlock(&reg_lock);
    for (weft_process *p = list; p; p = p->next)
        if (p->daemon) weft_subprocess_kill(p->sp);
    while (list) {
        weft_process *p = list;
        list = p->next;
        reap_blocking(p->sp);
        if (p->released) {
            weft_subprocess_destroy(p->sp);
            weft__free(p);
        }
    }
}

static void setup(void)
{
    weft__fork_hook(WEFT__FORK_PROCESS, fork_prepare, fork_parent, fork_child);
    atexit(at_exit);
}

/* The child: never returns. */
static _Noreturn void child_main(int (*fn)(void *), void *arg, bool daemon, pid_t parent)
{
    if (daemon) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(128 + SIGKILL);     /* the parent died meanwhile */
    }
    memset(weft__tls_get(), 0, sizeof(weft__tls));          /* a thread that never used weft */
    int rc = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc & 0xff);
}

int weft__process_pidfd(const weft_process *p)
{
    return weft_subprocess_pidfd(p->sp);
}

_Atomic long weft__process_fail_next = 0;

/* The test hook: true (and one fewer to fail) while weft__process_fail_next > 0. */
static bool fail_for_test(void)
{
    long n = atomic_load_explicit(&weft__process_fail_next, memory_order_relaxed);
    if (weft__likely(n <= 0)) return false;
    while (n > 0 && !atomic_compare_exchange_weak(&weft__process_fail_next, &n, n - 1)) {}
    return n > 0;
}

int weft_process_start(weft_process **out, const weft_process_opts *opts, int (*fn)(void *),
                       void *arg)
{
    if (!out || !fn) return -EINVAL;
    if (fail_for_test()) return -EAGAIN;      /* as fork says when it cannot */
    pthread_once(&setup_once, setup);
    weft_process *p = weft__calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->daemon = opts && opts->daemon;
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) child_main(fn, arg, p->daemon, parent);
    if (pid < 0) {
        int e = -errno;
        weft__free(p);
        return e;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) p->sp = weft__subprocess_adopt(pid, pidfd);
    if (!p->sp) {
        int e = pidfd < 0 ? -errno : -ENOMEM;
        if (pidfd >= 0) close(pidfd);
        kill(pid, SIGKILL);          /* still ours: not reaped, so not recycled */
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {}
        weft__free(p);
        return e;
    }
    pthread_mutex_lock(&reg_lock);
    sweep_locked();
    p->next = registry;
    registry = p;
    pthread_mutex_unlock(&reg_lock);
    *out = p;
    return 0;
}

int weft_process_join(weft_process *p, int64_t timeout, int *exitcode)
{
    if (!p) return -EINVAL;
    return weft_subprocess_wait(p->sp, timeout, exitcode);
}

bool weft_process_is_alive(weft_process *p)
{
    return p && weft__subprocess_try_reap(p->sp) == -EAGAIN;
}

int weft_process_terminate(weft_process *p)
{
    return p ? weft_subprocess_terminate(p->sp) : -EINVAL;
}

int weft_process_kill(weft_process *p)
{
    return p ? weft_subprocess_kill(p->sp) : -EINVAL;
}

pid_t weft_process_pid(const weft_process *p)
{
    return p ? weft_subprocess_pid(p->sp) : -1;
}

void weft_process_release(weft_process *p)
{
    if (!p) return;
    pthread_mutex_lock(&reg_lock);
    bool running = weft__subprocess_try_reap(p->sp) == -EAGAIN;
    if (running) {
        p->released = true;          /* at_exit reaps it */
        pthread_mutex_unlock(&reg_lock);
        return;
    }
    for (weft_process **link = &registry; *link; link = &(*link)->next)
        if (*link == p) {
            *link = p->next;
            break;
        }
    pthread_mutex_unlock(&reg_lock);
    weft_subprocess_destroy(p->sp);
    weft__free(p);
}
