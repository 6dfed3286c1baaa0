/* proc/signal.c — the signal router (weft/signal.h).
 *
 * Why a self-pipe and a router thread rather than signalfd: signalfd only sees signals that
 * are blocked in every thread, and weft cannot block them in the application's threads
 * (nor should it: their masks are theirs). A handler runs in whatever thread the kernel
 * picks, so it does only async-signal-safe work: one atomic increment of the signal's
 * pending count and a one-byte write to a non-blocking pipe (a full pipe is fine: the
 * router is awake already). The router thread (weft's own, all asynchronous signals
 * blocked) reads the pipe, takes each signal's pending count, and puts that many items
 * into the queue of every receiver whose set holds the signal — a weft_queue, so that
 * threads and coroutines wait on it the usual way.
 *
 * Locking: `state_lock` (a pthread mutex: held across sigaction and queue puts, which may
 * take weft's internal mutexes) guards the receivers list, the per-signal interest counts
 * and saved dispositions, and the graceful task. The handler takes no lock. The pending
 * counts and the graceful flags are atomics shared with the handler.
 */
#include "core/internal.h"
#include "future/internal.h"

#include <weft/queue.h>
#include <weft/signal.h>
#include <weft/task.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECEIVER_CAPACITY 65536

struct weft_signal_receiver {
    weft_signal_receiver *next;      /* in `receivers`, under state_lock */
    sigset_t set;
    weft_queue *q;                   /* items: (void *)(intptr_t)signo */
    _Atomic unsigned long dropped;
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_signal_receiver *receivers;
static unsigned interest[NSIG];                  /* receivers (and graceful) per signal */
static struct sigaction saved[NSIG];             /* the dispositions before weft's */
static int pipe_rd = -1, pipe_wr = -1;           /* the self-pipe, made once */
static bool router_started;

static _Atomic unsigned long pending[NSIG];      /* handler -> router */

/* weft_run_graceful: the task to cancel at the first SIGINT / SIGTERM (under state_lock),
 * and what the handler needs for the second one. */
static weft_future *graceful_task;
static _Atomic bool graceful_armed;
static _Atomic unsigned graceful_hits;
static _Atomic int graceful_signo;

/* Signals a receiver may ask for: catchable, asynchronous, not glibc's own. */
static bool valid_signal(int s)
{
    if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP) return false;
    if (s == SIGSEGV || s == SIGBUS || s == SIGFPE || s == SIGILL) return false;
    if (s > 31 && s < SIGRTMIN) return false;    /* glibc's (thread cancellation, setxid) */
    return true;
}

/* The handler: async-signal-safe only. */
static void on_signal(int signo)
{
    int saved_errno = errno;
    if ((signo == SIGINT || signo == SIGTERM) &&
        atomic_load_explicit(&graceful_armed, memory_order_relaxed) &&
        atomic_fetch_add_explicit(&graceful_hits, 1, memory_order_relaxed) >= 1)
        _exit(128 + signo);                      /* the second Ctrl+C: now */
    atomic_fetch_add_explicit(&pending[signo], 1, memory_order_release);
    char b = (char)signo;
    ssize_t r = write(pipe_wr, &b, 1);           /* full (EAGAIN): the router is awake */
    (void)r;
    errno = saved_errno;
}

/* With state_lock held: hands `count` deliveries of signo to its receivers, and the first
 * SIGINT / SIGTERM to the graceful task. */
static void dispatch_locked(int signo, unsigned long count)
{
    for (weft_signal_receiver *rx = receivers; rx; rx = rx->next) {
        if (!sigismember(&rx->set, signo)) continue;
        for (unsigned long k = 0; k < count; k++)
            if (weft_queue_try_put(rx->q, (void *)(intptr_t)signo) != 0)
                atomic_fetch_add_explicit(&rx->dropped, 1, memory_order_relaxed);
    }
    if ((signo == SIGINT || signo == SIGTERM) && atomic_load(&graceful_armed) &&
        !atomic_load(&graceful_signo)) {
        atomic_store(&graceful_signo, signo);
        if (graceful_task) {       /* else graceful_main, about to publish it, cancels it */
            weft_future_cancel(graceful_task);
            weft_future_release(graceful_task);
            graceful_task = NULL;
        }
    }
}

static void *router_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "weft-signals");
    char buf[64];
    for (;;) {
        ssize_t r = read(pipe_rd, buf, sizeof buf);
        if (r < 0 && errno != EINTR && errno != EAGAIN) break;    /* cannot happen */
        /* Whatever bytes came, look at every count: a full pipe may have dropped some. */
        pthread_mutex_lock(&state_lock);
        for (int s = 1; s < NSIG; s++) {
            if (!atomic_load_explicit(&pending[s], memory_order_relaxed)) continue;
            unsigned long n = atomic_exchange_explicit(&pending[s], 0, memory_order_acquire);
            if (n) dispatch_locked(s, n);
        }
        pthread_mutex_unlock(&state_lock);
    }
    return NULL;
}

/* With state_lock held: the self-pipe and the router thread, once. The pipe's read end
 * blocks (the router sleeps in read); its write end does not (the handler never waits). */
static int start_router_locked(void)
{
    if (router_started) return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -errno;
    if (fcntl(p[1], F_SETFL, O_NONBLOCK) != 0) {
        int e = -errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    pipe_rd = p[0];
    pipe_wr = p[1];
    /* The router blocks every signal it could otherwise be picked to handle. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, router_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(pipe_rd);
        close(pipe_wr);
        pipe_rd = pipe_wr = -1;
        return -EAGAIN;
    }
    router_started = true;
    return 0;
}

/* With state_lock held: one more interest in signo (its handler installed at the first). */
static int add_interest_locked(int signo)
{
    if (interest[signo]++ > 0) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(signo, &sa, &saved[signo]) != 0) {
        interest[signo]--;
        return -errno;
    }
    return 0;
}

/* With state_lock held: one interest less; the last puts the old disposition back. */
static void drop_interest_locked(int signo)
{
    if (--interest[signo] > 0) return;
    sigaction(signo, &saved[signo], NULL);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static void register_fork(void)
{
    weft__fork_hook(WEFT__FORK_SIGNAL, fork_prepare, fork_parent, fork_child);
}

int weft_signal_open(weft_signal_receiver **out, const int *signals, size_t n)
{
    if (!out || !signals || n == 0) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!valid_signal(signals[i])) return -EINVAL;
    weft_signal_receiver *rx = weft__calloc(1, sizeof *rx);
    if (!rx) return -ENOMEM;
    sigemptyset(&rx->set);
    for (size_t i = 0; i < n; i++) sigaddset(&rx->set, signals[i]);
    int rc = weft_queue_create(&rx->q, RECEIVER_CAPACITY);
    if (rc) {
        weft__free(rx);
        return rc;
    }
    pthread_once(&fork_once, register_fork);
    pthread_mutex_lock(&state_lock);
    rc = start_router_locked();
    int s = 1;
    for (; rc == 0 && s < NSIG; s++)
        if (sigismember(&rx->set, s) && (rc = add_interest_locked(s)) != 0) break;
    if (rc) {
        for (int k = 1; k < s; k++)          /* s: the one that failed, not added */
            if (sigismember(&rx->set, k)) drop_interest_locked(k);
        pthread_mutex_unlock(&state_lock);
        weft_queue_destroy(rx->q);
        weft__free(rx);
        return rc;
    }
    rx->next = receivers;
    receivers = rx;
    pthread_mutex_unlock(&state_lock);
    *out = rx;
    return 0;
}

int weft_signal_next(weft_signal_receiver *rx, int64_t timeout, int *signo)
{
    if (!rx || !signo) return -EINVAL;
    void *item;
    int rc = weft_queue_get(rx->q, &item, timeout);
    if (rc == 0) *signo = (int)(intptr_t)item;
    return rc;
}

unsigned long weft_signal_dropped(const weft_signal_receiver *rx)
{
    return rx ? atomic_load_explicit(&rx->dropped, memory_order_relaxed) : 0;
}

void weft_signal_close(weft_signal_receiver *rx)
{
    if (!rx) return;
    pthread_mutex_lock(&state_lock);
    for (weft_signal_receiver **p = &receivers; *p; p = &(*p)->next)
        if (*p == rx) {
            *p = rx->next;
            break;
        }
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&rx->set, s)) drop_interest_locked(s);
    pthread_mutex_unlock(&state_lock);
    weft_queue_destroy(rx->q);
    weft__free(rx);
}

int weft_signal_wait(const int *signals, size_t n, int64_t timeout, int *signo)
{
    if (!signo) return -EINVAL;
    weft_signal_receiver *rx;
    int rc = weft_signal_open(&rx, signals, n);
    if (rc) return rc;
    rc = weft_signal_next(rx, timeout, signo);
    weft_signal_close(rx);
    return rc;
}

/* fork (core/fork.c, registered at the first receiver or weft_run_graceful): state_lock is
 * held over the fork. The child has no router thread and none of the parent's receivers:
 * it starts afresh (a receiver opened there starts a router of its own); the signals weft
 * handled keep weft's handler, whose pipe nobody reads until then (the counts wait). The
 * parent's receivers stay reachable from left_behind (a leak checker in the child would
 * otherwise report them). */
static weft_signal_receiver *left_behind;

static void fork_prepare(void) { pthread_mutex_lock(&state_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&state_lock); }
static void fork_child(void)
{
    pthread_mutex_init(&state_lock, NULL);
    if (receivers) {
        weft_signal_receiver *tail = receivers;
        while (tail->next) tail = tail->next;
        tail->next = left_behind;
        left_behind = receivers;
    }
    receivers = NULL;
    router_started = false;
    if (graceful_task) graceful_task = NULL;     /* the parent's task: not ours to cancel */
    atomic_store(&graceful_armed, false);
}

/* ---- handlers that run as ordinary code ------------------------------------------------ */

struct weft_signal_handler {
    weft_signal_receiver *rx;
    weft_signal_fn fn;
    void *arg;
    weft_future *runner;             /* the coroutine's task, or the thread's future */
    weft_thread *thread;             /* NULL for a coroutine */
};

/* The handler's coroutine or thread: each delivery, fn; ends when the receiver's queue is
 * shut down (weft_signal_unhandle). */
static int handler_main(void *arg, void **result)
{
    (void)result;
    weft_signal_handler *h = arg;
    int signo;
    while (weft_signal_next(h->rx, WEFT_FOREVER, &signo) == 0) h->fn(signo, h->arg);
    return 0;
}

int weft_signal_handle(weft_signal_handler **out, const int *signals, size_t n,
                       weft_signal_fn fn, void *arg)
{
    if (!out || !fn) return -EINVAL;
    weft_signal_handler *h = weft__calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->fn = fn;
    h->arg = arg;
    int rc = weft_signal_open(&h->rx, signals, n);
    if (rc == 0) {
        if (weft_in_coroutine()) {
            rc = weft_spawn(&h->runner, handler_main, h);
        } else {
            weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
            o.name = "weft-sighandler";
            o.daemon = true;             /* never holds up exit; unhandle joins it */
            rc = weft_thread_start(&h->thread, &o, handler_main, h);
        }
        if (rc) weft_signal_close(h->rx);
    }
    if (rc) {
        weft__free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void weft_signal_unhandle(weft_signal_handler *h)
{
    if (!h) return;
    void *me = weft_in_coroutine() ? (void *)weft_current_task() : NULL;
    if ((me && me == h->runner) || (h->thread && weft__tls_get()->thread == h->thread)) {
        fprintf(stderr, "weft: weft_signal_unhandle called from the handler it stops\n");
        abort();
    }
    weft_queue_shutdown(h->rx->q, true);        /* the runner's next wait ends */
    if (h->thread) {
        weft_thread_join(h->thread, WEFT_FOREVER, NULL);
        weft_thread_release(h->thread);
    } else {
        weft__future_wait(h->runner, WEFT__NO_DEADLINE, true);
        weft_future_release(h->runner);
    }
    weft_signal_close(h->rx);
    weft__free(h);
}

/* ---- weft_run_graceful ----------------------------------------------------------------- */

typedef struct {
    weft_fn main;
    void *arg;
} graceful_job;

/* The loop's main coroutine: runs the user's main as a task the router can cancel. */
static int graceful_main(void *arg, void **result)
{
    graceful_job *job = arg;
    weft_future *task;
    int rc = weft_spawn(&task, job->main, job->arg);
    if (rc) return rc;
    weft_future_retain(task);
    pthread_mutex_lock(&state_lock);
    if (atomic_load(&graceful_signo)) {          /* the signal came first */
        weft_future_cancel(task);
        weft_future_release(task);
    } else {
        graceful_task = task;                    /* the router's reference */
    }
    pthread_mutex_unlock(&state_lock);
    /* Its outcome, whatever happens to this wait (nothing cancels this coroutine). */
    rc = weft_future_result(task, WEFT_FOREVER, result);
    pthread_mutex_lock(&state_lock);
    if (graceful_task == task) {
        weft_future_release(task);
        graceful_task = NULL;
    }
    pthread_mutex_unlock(&state_lock);
    weft_future_release(task);
    return rc;
}

int weft_run_graceful(weft_fn main, void *arg, void **result)
{
    if (!main) return -EINVAL;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&graceful_armed, &expected, true)) return -EBUSY;
    atomic_store(&graceful_hits, 0);
    atomic_store(&graceful_signo, 0);
    pthread_once(&fork_once, register_fork);
    pthread_mutex_lock(&state_lock);
    int rc = start_router_locked();
    if (rc == 0 && (rc = add_interest_locked(SIGINT)) == 0 &&
        (rc = add_interest_locked(SIGTERM)) != 0)
        drop_interest_locked(SIGINT);
    pthread_mutex_unlock(&state_lock);
    if (rc) {
        atomic_store(&graceful_armed, false);
        return rc;
    }
    graceful_job job = { main, arg };
    rc = weft_run(graceful_main, &job, result);
    pthread_mutex_lock(&state_lock);
    drop_interest_locked(SIGINT);
    drop_interest_locked(SIGTERM);
    pthread_mutex_unlock(&state_lock);
    atomic_store(&graceful_armed, false);
    return rc;
}

int weft_graceful_signal(void)
{
    return atomic_load(&graceful_signo);
}
