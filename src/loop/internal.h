/* loop/internal.h — the per-thread loop, its coroutines, and the waiter.
 *
 * A loop belongs to one thread and is touched only by it, except for three things other
 * threads may do to it: push a node on its remote queue (a coroutine to make runnable, a
 * request to cancel one), wake it if it sleeps, and hold a reference to it meanwhile.
 *
 * The waiter is the one park/unpark mechanism every blocking call is built on:
 *   - a coroutine waiter parks by switching away; it is unparked by putting the coroutine
 *     back on its loop's run queue (through the remote queue from another thread);
 *   - a thread waiter parks on a futex — or, if the thread's loop has live coroutines,
 *     runs that loop until it is unparked (the thread's own context is the loop's "main"
 *     pseudo-coroutine, unparked like any other);
 *   - whoever moves the waiter's state from WAITING (a waker, the deadline timer, a cancel)
 *     "claims" it, and exactly one claim succeeds (a CAS; weft__waiter_wake_local for the
 *     one waiter all of whose claimers run on its loop's thread); the claimer alone
 *     delivers the wake-up.
 *
 * How a primitive uses it (event, lock, future...): under the primitive's own mutex, link
 * a node pointing at the waiter into its wait list; unlock; park. A waker, under the same
 * mutex, unlinks waiters and claims them (weft__waiter_claim), then delivers the wake-ups
 * after unlocking (weft__wake_deliver). A waiter whose park returned a timeout or a cancel
 * takes the mutex and unlinks itself if it is still linked: from then on no waker can see
 * it. A waker must not touch a waiter after claiming it (it may be gone): claim copies out
 * what delivery needs.
 */
#ifndef WEFT_LOOP_INTERNAL_H
#define WEFT_LOOP_INTERNAL_H

#include "fiber/internal.h"

#include <pthread.h>
#include <string.h>

typedef struct weft__loop weft__loop;
typedef struct weft__coro weft__coro;
typedef struct weft__waiter weft__waiter;

/* ---- the remote queue: Vyukov's intrusive MPSC queue ----------------------------------- */

typedef struct weft__mpsc_node {
    _Atomic(struct weft__mpsc_node *) next;
    /* What the loop does with the node once it has taken it off the queue. */
    void (*run)(weft__loop *loop, struct weft__mpsc_node *node);
} weft__mpsc_node;

typedef struct weft__mpsc {
    _Atomic(weft__mpsc_node *) head;  /* producers: exchange, then link */
    weft__mpsc_node *tail;            /* the consumer (the loop's thread) only */
    weft__mpsc_node stub;
} weft__mpsc;

/* ---- timers: a binary min-heap per loop, loop thread only ------------------------------ */

typedef struct weft__timer {
    int64_t deadline;                 /* weft_now() clock */
    size_t index;                     /* position in the heap; WEFT__TIMER_IDLE if not armed */
    void (*fire)(weft__loop *loop, struct weft__timer *t);
} weft__timer;
#define WEFT__TIMER_IDLE SIZE_MAX

void weft__timer_add(weft__loop *loop, weft__timer *t);
/* Disarms t; no-op if not armed (inline, below: most waits never armed one). */
static inline void weft__timer_del(weft__loop *loop, weft__timer *t);
void weft__timer_remove(weft__loop *loop, weft__timer *t);   /* t armed */
/* Fires (and disarms) every timer whose deadline is <= now. */
void weft__timers_run(weft__loop *loop, int64_t now);
/* The earliest deadline, or WEFT__NO_DEADLINE. */
int64_t weft__timers_next(const weft__loop *loop);

/* ---- coroutines ------------------------------------------------------------------------ */

/* What the owner of a coroutine (task/) plugs in. */
typedef struct weft__coro_ops {
    void (*body)(weft__coro *c);      /* what it runs; returning ends the coroutine */
    void (*reap)(weft__coro *c);      /* after it has ended (or could not start): the
                                         owner's cleanup, on another context of the loop */
    void (*no_stack)(weft__coro *c);  /* called instead of body when no stack can be had */
    weft_future *(*task)(weft__coro *c);  /* the future this coroutine completes */
} weft__coro_ops;

struct weft__coro {
    /* Hot: every switch touches these. */
    weft__fiber fiber;
    weft__coro *runq_next;            /* run-queue link */
    /* These four in this order: weft_yield's fast path reads them as one 32-bit word
     * (weft__coro_plain, below). */
    bool started;                     /* has a stack and a frame (main: always) */
    bool canary;                      /* its stack has a canary to check at switches */
    bool cancelled;                   /* cancellation requested: sticky */
    bool is_main;                     /* the thread's own context */
    _Atomic bool cancel_asked;        /* set by any thread when it posts a cancel to the
                                         loop: weft_cancelled() sees it before the loop
                                         runs the post (a computation that never yields) */
    bool queued;                      /* main only: on the run queue */
    bool compact;                     /* runs on its loop's shared run stack (cpt) */
    uint32_t stack_size;              /* usable bytes asked for; 0: default */
    uint32_t shields;                 /* shielded deadline scopes it is inside: others read
                                         this, never its scopes (on its stack, which may
                                         be copied out: a compact coroutine's) */
    weft__waiter *waiter;             /* its waiter while parked, else NULL */
    weft__loop *loop;
    union {
        weft__stack *stack;           /* NULL until it first runs; NULL for main */
        struct weft__compact *cpt;    /* compact: its copied frames and park record */
    };
    const weft__coro_ops *ops;
    /* Colder. */
    weft__mpsc_node remote;           /* made runnable from another thread */
    weft__list live_link;             /* in loop->live */
    const char *name;                 /* for reports; may be NULL */
    const void *entry;                /* the user's function: run by the owner, named in
                                         reports */
    struct weft__scope *scope;        /* innermost deadline scope (loop/scope.c) */
    weft__list cancel_hooks;          /* weft__cancel_hook: run when it is cancelled (the
                                         task groups it owns); loop thread only */
    uint64_t id;                      /* 0 until asked for (weft__coro_id) */
#if WEFT_DEBUG
    weft__list held_locks;            /* weft_locks it took and still holds (sync/lock.c,
                                         under its debug registry lock) */
#endif
};

_Static_assert(offsetof(weft__coro, canary) == offsetof(weft__coro, started) + 1 &&
               offsetof(weft__coro, cancelled) == offsetof(weft__coro, started) + 2 &&
               offsetof(weft__coro, is_main) == offsetof(weft__coro, started) + 3,
               "weft__coro_plain reads these four flags as one word");

/* True if c is a started coroutine, not main, not cancelled, without a canary to check:
 * the four flags in one load and compare (they are only written on c's loop thread). */
static inline bool weft__coro_plain(const weft__coro *c)
{
    static const bool plain[4] = { true, false, false, false };
    uint32_t got, want;
    memcpy(&got, (const char *)c + offsetof(weft__coro, started), 4);
    memcpy(&want, plain, 4);
    return got == want;
}

/* Sets up a coroutine on loop (the calling thread's) and counts it live; it starts when it
 * is first picked from the run queue. Returns -ESHUTDOWN if the loop is shutting down. */
int weft__coro_init(weft__coro *c, weft__loop *loop, const weft__coro_ops *ops,
                    uint32_t stack_size);

/* Makes c (just initialised, not yet runnable) a compact coroutine: it will run on its
 * loop's shared run stack, its frames copied out while another compact coroutine needs it
 * (fiber/internal.h). Returns 0, -ENOMEM, or -ENOTSUP where compact stacks are not
 * available (then c stays an ordinary coroutine). Loop thread only. */
int weft__coro_make_compact(weft__coro *c);

/* Undoes weft__coro_init of a coroutine that was never made runnable. Loop thread only. */
void weft__coro_forget(weft__coro *c);

/* True if the caller is a compact coroutine and p points into its loop's run stack: memory
 * that another context must not use while the caller is switched out. Any context. */
static inline bool weft__on_compact_stack(const void *p);

/* The stack c runs on: its own, or its loop's run stack if it is compact; NULL if it has
 * none yet. */
weft__stack *weft__coro_stack(const weft__coro *c);

/* Makes c runnable: appends it to the run queue. Loop thread only. (Inline, below.) */
static inline void weft__loop_ready(weft__loop *loop, weft__coro *c);

/* Asks c to stop (sticky): if it is parked, its park returns -ECANCELED. Loop thread only. */
void weft__coro_cancel(weft__coro *c);

/* The running coroutine, or NULL on a thread (also in a thread whose loop exists). */
static inline weft__coro *weft__coro_current(void);

/* ---- the loop -------------------------------------------------------------------------- */

enum { WEFT__AWAKE = 0, WEFT__SLEEP_FUTEX = 1, WEFT__SLEEP_EPOLL = 2 };

struct weft__loop {
    /* Hot: the scheduler touches these at every switch. */
    weft__coro *current;              /* running: &main while the thread's own code runs */
    weft__coro *runq_head, *runq_tail;
    void *zombie;                     /* a weft__coro that ended; its stack is released by
                                         the next context (a void *: the context switch
                                         reads the slot, fiber/internal.h) */
    int ticks_left;                   /* scheduling decisions until the next periodic poll
                                         (a count down: one decrement in the hot path) */
    size_t nheap;                     /* armed timers */
    size_t nfds;                      /* fd waits in progress: while > 0 the loop sleeps in
                                         epoll_wait instead of on its futex */
    weft__mpsc remote;                /* any thread pushes; the loop pops */
    _Atomic uint32_t sleeping;        /* WEFT__AWAKE or how the loop sleeps: the futex word */
    _Atomic uint32_t main_posted;     /* main's remote node is on the remote queue */
    _Atomic uint32_t refs;            /* the owning thread's + remote wakers' in flight */
    /* Colder. */
    weft__coro main;                  /* the thread's own context */
    weft__timer **heap;               /* timers */
    size_t heap_cap;
    weft__list live;                  /* every coroutine that has not ended */
    size_t nlive;
    weft__waiter *empty_waiter;       /* claimed when nlive drops to 0 (shutdown) */
    bool shutting_down;               /* spawning fails with -ESHUTDOWN */
    bool in_run;                      /* weft_run is active on this loop */
    int epfd, evfd;                   /* -1 until the first fd wait (poll.c) */
    struct weft__fd_watch *fds;       /* indexed by fd (poll.c) */
    size_t fds_cap;
    void *altstack;                   /* signal stack for overflow reports, or NULL */
    struct weft_loop *handle;         /* its handle for other threads' posts (task/remote.c),
                                         or NULL; loop thread only */
    weft__runstack *runstack;         /* compact coroutines' shared stack, made at the
                                         first compact spawn; NULL until then */
};

/* Debug builds: aborts unless the caller runs on l's thread (l is that thread's loop), for
 * the functions whose rule is "loop thread only". */
#define weft__assert_loop_thread(l) \
    weft__assert(weft__tls_self.loop == (l), "loop thread only, called from another thread")

static inline void weft__timer_del(weft__loop *l, weft__timer *t)
{
    weft__assert_loop_thread(l);
    if (t->index != WEFT__TIMER_IDLE) weft__timer_remove(l, t);
}

/* The calling thread's loop, created if needed (NULL: out of memory). */
weft__loop *weft__loop_get(void);

/* Appends c to the run queue; c is not main. */
static inline void weft__runq_append(weft__loop *l, weft__coro *c)
{
    c->runq_next = NULL;
    if (l->runq_tail) l->runq_tail->runq_next = c;
    else l->runq_head = c;
    l->runq_tail = c;
}

static inline void weft__loop_ready(weft__loop *l, weft__coro *c)
{
    if (weft__unlikely(c->is_main)) {
        if (c->queued) return;
        c->queued = true;
    }
    weft__runq_append(l, c);
}

static inline bool weft__on_compact_stack(const void *p)
{
#if WEFT__HAVE_COMPACT
    weft__loop *l = weft__tls_self.loop;
    if (weft__likely(!l || !l->current->compact)) return false;
    const weft__runstack *rs = l->runstack;
    return (const char *)p >= rs->stack->lo && (const char *)p < rs->top;
#else
    (void)p;
    return false;
#endif
}

/* True if the caller is a compact coroutine. Any context. */
static inline bool weft__in_compact(void)
{
    weft__loop *l = weft__tls_self.loop;
    return l && l->current->compact;
}

static inline weft__coro *weft__coro_current(void)
{
    weft__loop *l = weft__tls_self.loop;
    return l && l->current != &l->main ? l->current : NULL;
}

/* Something a coroutine owns that must hear of its cancellation at once, and of its end (a
 * task group cancels its children; one its owner did not wait for is wound up as the owner
 * returns). Linked into weft__coro.cancel_hooks and unlinked by the owner, on its loop's
 * thread. cancelled runs on that thread inside weft__coro_cancel, and must not unlink hooks
 * or run coroutines; ended runs in the owner coroutine after its function returned (it may
 * block), and must unlink its hook. */
typedef struct weft__cancel_hook {
    weft__list link;
    void (*cancelled)(struct weft__cancel_hook *h);
    void (*ended)(struct weft__cancel_hook *h);
} weft__cancel_hook;

/* Runs the ended hooks of the calling coroutine c (task.c, as its function returns). */
void weft__coro_run_end_hooks(weft__coro *c);

/* ---- deadline scopes (scope.c) --------------------------------------------------------- */

/* The inside of a weft_scope (caller-owned storage). Scopes form a stack per context
 * (coroutine, or thread's own context), touched only by that context. */
typedef struct weft__scope {
    int64_t deadline;                 /* WEFT__NO_DEADLINE: none */
    uint32_t flags;                   /* WEFT_SCOPE_SHIELD */
    bool hit;                         /* a wait inside was cut short by this deadline */
    struct weft__scope *outer;
} weft__scope;

/* The calling context's innermost scope slot. */
static inline weft__scope **weft__scope_slot(void)
{
    weft__coro *c = weft__coro_current();
    return c ? &c->scope : &weft__tls_get()->scope;
}

/* What the scopes of the calling context impose on a wait: the earliest deadline up to and
 * including the innermost shielded scope (and which scope it is), and whether a shield
 * keeps cancellation out. */
typedef struct weft__limits {
    int64_t deadline;
    weft__scope *by;                  /* the scope whose deadline that is, or NULL */
    bool shielded;
} weft__limits;

static inline void weft__scope_limits(weft__scope *s, weft__limits *out)
{
    out->deadline = WEFT__NO_DEADLINE;
    out->by = NULL;
    out->shielded = false;
    for (; s; s = s->outer) {
        if (s->deadline < out->deadline) {
            out->deadline = s->deadline;
            out->by = s;
        }
        if (s->flags & 1u) {          /* WEFT_SCOPE_SHIELD */
            out->shielded = true;
            break;
        }
    }
}

/* True if cancellation reaches the calling coroutine now (cancelled and not shielded). */
bool weft__cancel_pending(void);

/* For waits that do not go through the waiter (a thread's plain sleep or poll): the
 * earlier of deadline and the calling context's scope deadline; *by is the scope whose
 * deadline that is (mark it hit if the wait times out), or NULL. */
int64_t weft__scope_clamp(int64_t deadline, weft__scope **by);

/* A fresh id, never 0, for coroutines and threads (one counter: ids never collide). */
uint64_t weft__new_id(void);

/* c's id, given at the first request (c's loop thread only). */
static inline uint64_t weft__coro_id(weft__coro *c)
{
    if (weft__unlikely(!c->id)) c->id = weft__new_id();
    return c->id;
}

/* The calling context's identity: its coroutine's id, or its thread's. Owners of
 * reentrant locks, runners of once-functions. */
static inline uint64_t weft__context_id(void)
{
    weft__coro *c = weft__coro_current();
    if (c) return weft__coro_id(c);
    weft__tls *t = weft__tls_get();
    if (!t->id) t->id = weft__new_id();
    return t->id;
}

void weft__loop_ref(weft__loop *loop);
void weft__loop_unref(weft__loop *loop);

/* From any thread: queue node for loop and wake it. The caller holds a reference to the
 * loop (taken while it knew the loop alive), which this call consumes. */
void weft__loop_post(weft__loop *loop, weft__mpsc_node *node);

/* Wakes the loop if it sleeps. Any thread; the caller holds a reference. */
void weft__loop_poke(weft__loop *loop);

/* Cancels every live coroutine of the calling thread's loop and runs the loop until they
 * have all ended. Spawning fails with -ESHUTDOWN meanwhile; if `forever`, also afterwards,
 * and first the loop's handle (if any) is closed to other threads' posts.
 * Call from the thread's own context (not a coroutine). */
void weft__loop_drain(weft__loop *loop, bool forever);

/* task/remote.c's, set when it makes a loop's handle: closes l->handle for good (refusing
 * what was posted and not yet taken) and clears it. Called by weft__loop_drain(forever) on
 * the loop's thread; the loop layer knows nothing else of handles. */
extern void (*weft__loop_close_hook)(weft__loop *loop);

/* The scheduler's half of a park: gives the CPU to the next runnable coroutine (or, in the
 * thread's own context, runs the loop) until w is claimed. */
void weft__sched_park(weft__loop *loop, weft__waiter *w);

/* If the calling coroutine's loop has another coroutine ready to run, lets it run once (as
 * weft_yield, without the cancellation check) and returns true; else false at once (also
 * on a thread). For waits that are about to register: the partner may be one yield away. */
bool weft__yield_if_others(void);

/* poll.c: waits for fd readiness (epoll) until the absolute deadline (0: do not wait),
 * waking the waiters of ready fds. Called by the scheduler when l->nfds > 0. */
void weft__loop_poll(weft__loop *l, int64_t deadline);

/* A descriptor registered for good with one loop, edge-triggered (sockets, net/): see
 * poll.c. `loop` is claimed (one CAS from NULL: exactly one loop wins when coroutines of
 * several loops first wait at once) by that loop's thread when a coroutine there first
 * waits (until then, and for contexts of other threads and loops, waits go through plain
 * readiness polling or their own loop's one-shot registration); `ready`, `hangup`, rd and
 * wr belong to that thread. The owner keeps the struct alive, and the
 * descriptor open, until weft__pollfd_detach has run on the loop's thread. */
typedef struct weft__pollfd {
    int fd;
    unsigned ready;                   /* WEFT_IO_READ/WRITE: an edge seen since the last
                                         EAGAIN or short transfer in that direction */
    unsigned hangup;                  /* directions a hang-up or error has made ready until
                                         an EAGAIN: end of stream is a state, not bytes, and
                                         a short read that took the last bytes leaves it
                                         pending with no edge to come */
    _Atomic(weft__loop *) loop;       /* the loop it is registered with, or NULL */
    weft__waiter *rd, *wr;            /* parked in weft__pollfd_wait */
} weft__pollfd;

/* Waits (any context) until p may be ready for `events` or the absolute deadline; the
 * caller has just seen EAGAIN (or a short transfer) and cleared the ready bits (below).
 * Returns the ready events (> 0), -ETIMEDOUT, -ECANCELED, -EBUSY (another waiter of this
 * loop on the same direction) or an error from registering. */
int weft__pollfd_wait(weft__pollfd *p, unsigned events, int64_t deadline);

/* True if the caller is a coroutine of p's loop and p is known not to be ready for dir: it
 * should wait before trying the transfer (which would only say EAGAIN). */
static inline bool weft__pollfd_known_idle(const weft__pollfd *p, unsigned dir)
{
    weft__loop *l = weft__tls_self.loop;
    return l && atomic_load_explicit(&p->loop, memory_order_relaxed) == l &&
           l->current != &l->main && !((p->ready | p->hangup) & dir);
}

/* Records that a transfer in dir came back short: its ready bit goes, a hang-up stays (the
 * end of the stream may still be pending behind the bytes just read). Any context. */
static inline void weft__pollfd_drained(weft__pollfd *p, unsigned dir)
{
    weft__loop *l = weft__tls_self.loop;
    if (l && atomic_load_explicit(&p->loop, memory_order_relaxed) == l) p->ready &= ~dir;
}

/* Records that a transfer in dir said EAGAIN (or a connect is starting again): nothing is
 * ready in dir, a hang-up or error included — an error already reported, a FIFO reopened by
 * a new writer, a socket connecting again. Both bits go, so the next wait parks instead of
 * returning at once (a loop of EAGAIN and "ready" would spin its coroutine for ever). */
static inline void weft__pollfd_idle(weft__pollfd *p, unsigned dir)
{
    weft__loop *l = weft__tls_self.loop;
    if (l && atomic_load_explicit(&p->loop, memory_order_relaxed) == l) {
        p->ready &= ~dir;
        p->hangup &= ~dir;
    }
}

/* Wakes p's parked waiters (they re-check their socket: closed). p's loop thread only. */
void weft__pollfd_wake_all(weft__pollfd *p);

/* Removes p's registration (p's loop thread; nothing parked on it); unref: also drop the
 * reference to the loop the registration held (not when a post consumed it). */
void weft__pollfd_detach(weft__pollfd *p, bool unref);

/* A release on a thread other than p's loop's (nothing parked on p, no call in progress,
 * the loop perhaps not running at all): removes p's registration from that loop's epoll at
 * once (EPOLL_CTL_DEL, allowed from any thread), so the caller may close the descriptor
 * now; p->loop becomes NULL. Returns the loop it was registered with (NULL: none), whose
 * reference the registration held and the caller still holds: the caller posts to it a
 * job that calls weft__pollfd_forget and only then frees p — an epoll_wait of that loop
 * that began before the DEL may still report p's last event, which its thread dispatches
 * to p before it runs the post. Any thread; never blocks. */
weft__loop *weft__pollfd_detach_remote(weft__pollfd *p);

/* On l's thread (or in l's final unref, its thread gone), after
 * weft__pollfd_detach_remote(p) returned l: drops l's fd table entry
 * for p if it still points at p (the number may have been registered afresh meanwhile). */
void weft__pollfd_forget(weft__loop *l, weft__pollfd *p);

/* Stack-overflow reports: installs the SIGSEGV handler (once) and this thread's signal
 * stack. overflow.c. */
void weft__overflow_setup(weft__loop *loop);
void weft__overflow_teardown(weft__loop *loop);
/* Called at a switch away from c in canary mode. */
void weft__overflow_check_canary(weft__coro *c);

/* ---- the waiter ------------------------------------------------------------------------ */

enum {
    WEFT__W_WAITING   = 0,
    WEFT__W_WOKEN     = 1,
    WEFT__W_TIMEDOUT  = 2,
    WEFT__W_CANCELLED = 3,
    WEFT__W_STATUS    = 3,            /* mask of the above */
    WEFT__W_SLEEPING  = 4,            /* flag: a thread sleeps on the futex (thread waiters) */
};

struct weft__waiter {
    _Atomic uint32_t state;           /* WEFT__W_*: the futex word of a thread waiter */
    bool shielded;                    /* cancellation does not interrupt this wait */
    bool no_spin;                     /* a thread waiter sleeps at once (no spin first) */
    bool cut;                         /* set by park: a deadline scope, not the call's own
                                         timeout, ended the wait (-ETIMEDOUT) */
    weft__coro *coro;                 /* NULL: a thread parked on the futex */
    weft__loop *loop;                 /* coro's loop */
    weft__timer timer;                /* the deadline, for coroutine waits */
    void *data;                       /* for the primitive (hand-off slots and the like) */
};

/* What a claimer needs to deliver a wake-up, copied out of the waiter at claim time. */
typedef struct weft__wake {
    weft__coro *coro;                 /* make this runnable on loop... */
    weft__loop *loop;                 /* (referenced if it belongs to another thread) */
    _Atomic uint32_t *futex;          /* ...or wake a thread sleeping on this word */
} weft__wake;

/* Whether a wait by the calling context t parks on its loop (a coroutine, or a thread whose
 * loop has live coroutines, which it runs meanwhile) rather than blocking the thread. */
static inline bool weft__waits_on_loop(const weft__tls *t)
{
    const weft__loop *l = t->loop;
    return l && !t->thread_wait && (l->current != &l->main || l->nlive > 0);
}

/* Binds w to the calling context: the running coroutine; else the thread's own context if
 * its loop has live coroutines; else the thread itself (futex). Not shielded. */
void weft__waiter_init(weft__waiter *w);

/* Parks until w is claimed or the absolute deadline passes. Returns 0 (woken by a waker),
 * -ETIMEDOUT or -ECANCELED (the coroutine was cancelled; at once if it already was). */
int weft__waiter_park(weft__waiter *w, int64_t deadline);

/* weft__waiter_park without the deadline scopes: for waits that must not be cut short
 * (consuming a wake-up on its way, waiting for cancelled work to end). */
int weft__waiter_park_raw(weft__waiter *w, int64_t deadline);

/* Tries to move w from WAITING to `why` (WEFT__W_WOKEN, ...). On success fills wk and
 * returns true: the caller must then call weft__wake_deliver(wk) exactly once. */
bool weft__waiter_claim(weft__waiter *w, uint32_t why, weft__wake *wk);

/* Delivers a claimed wake-up. Any thread; may be called with a primitive's mutex held. */
void weft__wake_deliver(const weft__wake *wk);

/* Claim + deliver in one step, for wakers that need no batching. */
static inline bool weft__waiter_wake(weft__waiter *w, uint32_t why)
{
    weft__wake wk;
    if (!weft__waiter_claim(w, why, &wk)) return false;
    weft__wake_deliver(&wk);
    return true;
}

/* weft__waiter_wake for a coroutine waiter of the calling thread's loop that nothing off
 * this thread can claim (its waker, its timer and its cancellation all run here: a task's
 * joiner, task/task.c): a plain load and store instead of the claim's compare-and-swap.
 * Loop thread only; never blocks. */
static inline bool weft__waiter_wake_local(weft__waiter *w, uint32_t why)
{
    weft__assert(w->coro != NULL, "a local wake-up of a thread waiter");
    weft__assert_loop_thread(w->loop);
    if (atomic_load_explicit(&w->state, memory_order_relaxed) & WEFT__W_STATUS) return false;
    atomic_store_explicit(&w->state, why, memory_order_relaxed);
    weft__loop_ready(w->loop, w->coro);
    return true;
}

/* A small batch of claimed wake-ups, delivered after the primitive's mutex is released.
 * When full, weft__wakeq_claim delivers the batch at once (under the mutex). */
typedef struct weft__wakeq {
    int n;
    weft__wake w[16];
} weft__wakeq;

static inline void weft__wakeq_init(weft__wakeq *q) { q->n = 0; }

static inline void weft__wakeq_flush(weft__wakeq *q)
{
    for (int i = 0; i < q->n; i++) weft__wake_deliver(&q->w[i]);
    q->n = 0;
}

static inline bool weft__wakeq_claim(weft__wakeq *q, weft__waiter *w, uint32_t why)
{
    if (q->n == (int)(sizeof q->w / sizeof q->w[0])) weft__wakeq_flush(q);
    if (!weft__waiter_claim(w, why, &q->w[q->n])) return false;
    q->n++;
    return true;
}

/* A waiter's entry in a primitive's wait list. */
typedef struct weft__wait_node {
    weft__list link;
    weft__waiter *waiter;
} weft__wait_node;

/* What a blocking call parks with: the waiter and its node in the primitive's wait list.
 * Normally a local of the blocking call; a compact coroutine's frames do not stay put
 * while it is switched out (another compact coroutine may take the run stack), so it parks
 * with the record in its own block instead (weft__park_get). A coroutine parks at most
 * once at a time, so one record per coroutine is enough. */
typedef struct weft__park {
    weft__waiter w;
    weft__wait_node node;
} weft__park;

/* A compact coroutine's own state (malloc'd; coro->cpt). */
typedef struct weft__compact {
#if WEFT__HAVE_COMPACT
    weft__cfiber cf;
#endif
    weft__park park;
} weft__compact;

/* The park record for a blocking call of the calling context: `local` (the caller's own
 * stack), or the calling compact coroutine's own. Any context; never blocks. The node is
 * cleared and points at the waiter; the waiter is not yet initialised. */
static inline weft__park *weft__park_get(weft__park *local)
{
    weft__loop *l = weft__tls_self.loop;
    weft__park *p = local;
    if (weft__unlikely(l && l->current->compact)) {
        p = &l->current->cpt->park;
        weft__assert(!weft__list_linked(&p->node.link) && !l->current->waiter,
                     "a compact coroutine's park record is still in use by another wait");
    }
    memset(&p->node, 0, sizeof p->node);
    p->node.waiter = &p->w;
    return p;
}

#endif /* WEFT_LOOP_INTERNAL_H */
