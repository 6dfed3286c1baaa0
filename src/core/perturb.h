/* core/perturb.h — schedule perturbation: named points where a perturbation build
 * (meson -Dperturb=true, which defines WEFT_PERTURB) injects random short delays and
 * yields, so that the interleavings a race needs, a few instructions wide in a normal run,
 * happen often enough for the stress tests to see them (as Go's race mode shuffles its
 * scheduler). In any other build weft__perturb(point) is nothing at all.
 *
 * Each point is a line `weft__perturb(WEFT__PP_X);` placed where a pointer is published,
 * right after a claim, at a shutdown flag, around a lock, in the sleep/wake path. Names
 * (for WEFT_PERTURB_POINTS) are "layer.what"; add a point by adding a line to the list.
 *
 * Environment (read once, at the first point reached):
 *   WEFT_PERTURB_SEED    seed of the per-thread generators (default: from the clock;
 *                        printed to stderr once so that a failing run can be repeated)
 *   WEFT_PERTURB_RATE    percent of the passes through a point that are perturbed
 *                        (default 10; 0 turns perturbation off in a perturbation build)
 *   WEFT_PERTURB_POINTS  comma-separated names or name prefixes ("pool.,waiter.claim"):
 *                        only those points perturb (default: all)
 *   WEFT_PERTURB_MAX_US  longest injected sleep, microseconds (default 200)
 * Any thread, any context (also under the internal mutex, also in a signal-free window
 * of a lock-free protocol): a point never takes a lock, never allocates, never suspends a
 * coroutine; it blocks the thread for at most WEFT_PERTURB_MAX_US.
 */
#ifndef WEFT_CORE_PERTURB_H
#define WEFT_CORE_PERTURB_H

/* The points: X(ENUM, "name"). */
#define WEFT__PERTURB_POINTS(X) \
    X(WAITER_CLAIM,       "waiter.claim")        /* after the claim CAS, before loop ref */ \
    X(WAITER_DELIVER,     "waiter.deliver")      /* remote wake: after push, before poke */ \
    X(WAITER_SLEEP,       "waiter.sleep")        /* thread waiter: before it sets SLEEPING */ \
    X(POLL_BIND_SEEN,     "poll.bind.seen")      /* pollfd_wait: read p->loop, not bound yet */ \
    X(POLL_BIND_PUBLISH,  "poll.bind.publish")   /* pollfd_bind: before storing p->loop */ \
    X(POLL_BIND_DONE,     "poll.bind.done")      /* pollfd_bind: after storing p->loop */ \
    X(LOOP_POST,          "loop.post")           /* loop_post: after push, before poke */ \
    X(LOOP_SLEEP,         "loop.sleep")          /* idle: after `sleeping`, before the look */ \
    X(LOOP_EXIT,          "loop.exit")           /* loop_thread_exit: before the last unref */ \
    X(POOL_PUSH,          "pool.push")           /* push: between exchange and link */ \
    X(POOL_NEXT_EMPTY,    "pool.next.empty")     /* next_job: queue looked empty, flag next */ \
    X(POOL_STOPPING,      "pool.stopping")       /* shutdown: before setting `stopping` */ \
    X(POOL_LEAVE,         "pool.leave")          /* worker_main: before leave_worker */ \
    X(SHARED_WAKE,        "shared.wake")         /* shared/: change visible, before wake */ \
    X(POOL_SUBMIT,        "pool.submit")         /* submit: after push, before the flag */ \
    X(FUTURE_OWNED,       "future.owned")        /* owned completion: DONE out, lock next */ \
    X(MUTEX_LOCKED,       "mutex.locked")        /* internal mutex: just taken */ \
    X(MUTEX_UNLOCK,       "mutex.unlock")        /* internal mutex: about to be released */

enum {
#define WEFT__PP_ENUM(e, name) WEFT__PP_##e,
    WEFT__PERTURB_POINTS(WEFT__PP_ENUM)
#undef WEFT__PP_ENUM
    WEFT__PP_COUNT
};

#ifdef WEFT_PERTURB
/* Perhaps delays the calling thread (yield, spin or short sleep), as the environment says. */
void weft__perturb_at(unsigned point);
#define weft__perturb(point) weft__perturb_at(point)
#else
#define weft__perturb(point) ((void)0)
#endif

#endif /* WEFT_CORE_PERTURB_H */
