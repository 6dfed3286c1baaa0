/* loop/sched.c — who runs next: the run queue, switching, idling, coroutine start and end.
 *
 * Loop thread only. The thread's own context ("main") is where the loop idles: a coroutine
 * that parks or yields switches straight to the next runnable coroutine, and only when
 * none is left does it switch to main, which then sleeps until a timer, a remote post or an
 * fd wakes it. Main itself runs coroutines only while it is blocked in a weft call
 * (main_run), so coroutines never run behind the back of the thread's own code.
 *
 * Every scheduling decision (pick) first takes what other threads posted; every 64th also
 * fires due timers, so busy coroutines that only yield cannot starve sleepers.
 * A coroutine that ends cannot free its own stack: it leaves itself as the loop's zombie
 * and the context it switches to releases it: the context switch itself, on the resumed
 * stack (weft__ctx_reap, called from fiber/switch_<arch>.S), or after_switch in the
 * sanitizer builds, which must finish their switch annotations first.
 */
#include "loop/internal.h"
#include "loop/mpsc.h"

#include <sched.h>

static inline weft__coro *runq_pop(weft__loop *l)
{
    weft__coro *c = l->runq_head;
    if (!c) return NULL;
    l->runq_head = c->runq_next;
    if (!l->runq_head) l->runq_tail = NULL;
    if (weft__unlikely(c->is_main)) c->queued = false;
    return c;
}

static void drain_remote(weft__loop *l)
{
    weft__mpsc_node *n;
    while ((n = weft__mpsc_pop(&l->remote)) != NULL) n->run(l, n);
}

/* Every 64th decision: due timers, and fds if any are watched. */
static __attribute__((noinline)) void periodic(weft__loop *l)
{
    if (l->nheap) weft__timers_run(l, weft_now());
    if (l->nfds) weft__loop_poll(l, 0);
}

#define PERIODIC_EVERY 64

static inline weft__coro *pick(weft__loop *l)
{
    if (weft__unlikely(!weft__mpsc_empty(&l->remote))) drain_remote(l);
    if (weft__unlikely(--l->ticks_left < 0)) {    /* 0 at first (calloc): polls at once */
        l->ticks_left = PERIODIC_EVERY - 1;
        periodic(l);
    }
    return runq_pop(l);
}

static void reap_zombie(weft__loop *l)
{
    weft__coro *z = l->zombie;
    l->zombie = NULL;
#if WEFT__HAVE_COMPACT
    if (z->compact) {
        weft__cfiber_release(&z->cpt->cf);
        weft__free(z->cpt);
        z->cpt = NULL;
        z->compact = false;
    } else
#endif
    {
        weft__stack_put(z->stack);
        z->stack = NULL;
    }
    weft__fiber_destroy(&z->fiber);
    z->ops->reap(z);
}

/* Called by the context switch itself on the resumed context when the loop has a zombie
 * (WEFT__CTX_REAPS; fiber/internal.h): reap is &loop->zombie. */
int weft__ctx_reap(void **reap)
{
    reap_zombie(weft__container_of(reap, weft__loop, zombie));
    return 0;
}

/* After a switch, on the resumed context: its zombie, unless the switch reaped it. */
static inline void after_switch(weft__loop *l)
{
    if (!WEFT__CTX_REAPS && l->zombie) reap_zombie(l);
}

/* The switch itself, inlined into the yield paths: a yield to a coroutine that also
 * yielded returns through the same call site, so the `ret` is still predicted (see
 * fiber/switch_x86_64.S), and the extra call level costs ~10% of a switch. */
static inline __attribute__((always_inline)) void switch_inline(weft__loop *l,
                                                                weft__coro *from,
                                                                weft__coro *to, bool exiting)
{
    if (weft__unlikely(from->canary)) weft__overflow_check_canary(from);
    l->current = to;
#if WEFT__HAVE_COMPACT
    if (weft__unlikely(to->compact) && weft__cfiber_needs_copy(&to->cpt->cf)) {
        weft__cfiber_switch_in(&from->fiber, &to->cpt->cf, &l->zombie);
        return;                       /* reaped by the switch (no sanitizers here) */
    }
#endif
    weft__fiber_switch(&from->fiber, &to->fiber, exiting, &l->zombie);
    after_switch(l);
}

/* Every other switch of the scheduler (parks, main, a coroutine's end) goes through this
 * one function. (Where the switch reaps, nothing follows it here, and the compiler makes
 * it a tail call at -O2: the switch's `ret` then lands in switch_to's callers — main_run,
 * weft__sched_park, coro_entry —, no longer in one place.) */
static __attribute__((noinline)) void switch_to(weft__loop *l, weft__coro *from,
                                                weft__coro *to, bool exiting)
{
    switch_inline(l, from, to, exiting);
}

static void coro_end(weft__loop *l, weft__coro *c)
{
    weft__list_unlink(&c->live_link);
    if (--l->nlive == 0 && l->empty_waiter) weft__waiter_wake(l->empty_waiter, WEFT__W_WOKEN);
}

weft__coro *weft__sched_next(weft__loop *l);

static void coro_entry(void *p)
{
    weft__coro *c = p;
    weft__loop *l = c->loop;
    after_switch(l);
    c->ops->body(c);
    coro_end(l, c);
#if WEFT__HAVE_COMPACT
    if (c->compact) weft__cfiber_end(&c->cpt->cf);   /* its frames need no saving */
#endif
    l->zombie = c;
    switch_to(l, c, weft__sched_next(l), true);
    weft__fatal("an ended coroutine was resumed");
}

/* Gives c a stack and a first frame: it has never run. False if that failed: then c has
 * been ended (its no_stack hook told its owner) and must be skipped. */
static __attribute__((noinline)) bool start(weft__loop *l, weft__coro *c)
{
#if WEFT__HAVE_COMPACT
    if (c->compact) {   /* never "started": weft_yield's fast path leaves it to the slow one */
        if (c->cpt->cf.rs == NULL)
            weft__cfiber_init(&c->cpt->cf, &c->fiber, l->runstack, coro_entry, c);
        return true;
    }
#endif
    c->stack = weft__stack_get(c->stack_size);
    if (!c->stack) {
        c->ops->no_stack(c);
        coro_end(l, c);
        c->ops->reap(c);
        return false;
    }
    c->canary = (c->stack->flags & WEFT__STACK_CANARY) != 0;
    c->started = true;
    weft__fiber_init(&c->fiber, c->stack, coro_entry, c);
    return true;
}

static inline bool prepare(weft__loop *l, weft__coro *c)
{
    return weft__likely(c->started) || start(l, c);
}

/* For a coroutine giving up the CPU: the next runnable one, or main (the idler). */
weft__coro *weft__sched_next(weft__loop *l)
{
    for (;;) {
        weft__coro *c = pick(l);
        if (!c) return &l->main;
        if (prepare(l, c)) return c;
    }
}

/* Main has nothing to run: sleep until a timer is due or another thread posts. */
static void idle(weft__loop *l)
{
    int64_t next = weft__timers_next(l);
    if (next != WEFT__NO_DEADLINE) {
        int64_t now = weft_now();
        if (next <= now) { weft__timers_run(l, now); return; }
    }
    /* Spin a while (WEFT__SPIN_NS, not past the next timer) watching the remote queue: a
     * wake-up from another thread that lands now costs no system call on either side.
     * Not while fds are watched: their events come through epoll_wait, and a server
     * waiting for its clients would burn that CPU at every turn. */
    int64_t spin_end = l->nfds ? 0 : weft_now() + WEFT__SPIN_NS;
    if (spin_end > next) spin_end = next;
    for (unsigned i = 0; spin_end; i++) {
        if (!weft__mpsc_empty(&l->remote)) return;
        if ((i & 31) == 31 && weft_now() >= spin_end) break;
        weft__cpu_relax();
    }
    uint32_t how = l->nfds ? WEFT__SLEEP_EPOLL : WEFT__SLEEP_FUTEX;
    atomic_store_explicit(&l->sleeping, how, memory_order_seq_cst);
    weft__store_load_fence();       /* pairs with the poster's push, then read of sleeping */
    weft__perturb(WEFT__PP_LOOP_SLEEP);
    if (weft__mpsc_empty(&l->remote)) {
        if (how == WEFT__SLEEP_EPOLL) weft__loop_poll(l, next);
        else weft__futex_wait(&l->sleeping, how, next);
    }
    atomic_store_explicit(&l->sleeping, WEFT__AWAKE, memory_order_seq_cst);
    if (next != WEFT__NO_DEADLINE) weft__timers_run(l, weft_now());
}

/* Main's scheduler: runs coroutines until w is claimed (w == NULL: until main's turn in the
 * run queue comes, for weft_yield). */
static void main_run(weft__loop *l, weft__waiter *w)
{
    weft__coro *self = &l->main;
    for (;;) {
        if (w && (atomic_load_explicit(&w->state, memory_order_acquire) & WEFT__W_STATUS))
            return;
        weft__coro *c = pick(l);
        if (!c) {
            if (!w) return;
            idle(l);
            continue;
        }
        if (c == self) {
            if (!w) return;
            continue;   /* a stale entry: main's state says whether it is really awake */
        }
        if (!prepare(l, c)) continue;
        switch_to(l, self, c, false);
        if (!w) return;   /* yield: main got the CPU back, so its turn has come */
    }
}

void weft__sched_park(weft__loop *l, weft__waiter *w)
{
    weft__assert_no_mutex();
    weft__assert_loop_thread(l);
    weft__coro *self = l->current;
    if (self == &l->main) {
        main_run(l, w);
        return;
    }
    weft__coro *next = weft__sched_next(l);
    if (next != self) switch_to(l, self, next, false);
}

/* weft_yield lives here, not in task/: it is nothing but a scheduling decision, and its
 * path is the hottest in weft (bench/weft_switch.c). */
static __attribute__((noinline)) int yield_thread(weft__loop *l)
{
    if (!l || l->nlive == 0) {
        sched_yield();
        return 0;
    }
    weft__loop_ready(l, &l->main);
    main_run(l, NULL);
    return 0;
}

bool weft__yield_if_others(void)
{
    weft__loop *l = weft__tls_self.loop;
    if (!l || l->current == &l->main) return false;
    weft__coro *self = l->current;
    weft__coro *next;
    do {
        next = pick(l);
        if (!next) return false;
    } while (weft__unlikely(!prepare(l, next)));
    weft__runq_append(l, self);
    switch_inline(l, self, next, false);
    return true;
}

/* weft_yield's general path: also a thread's yield, a cancelled coroutine, posts from other
 * threads, the periodic poll, a coroutine that has not started, a canary stack. */
#if WEFT__CTX_REAPS
static __attribute__((noinline)) int yield_slow(weft__loop *l)
#else
static inline __attribute__((always_inline)) int yield_slow(weft__loop *l)
#endif
{
    if (weft__unlikely(!l || l->current == &l->main)) return yield_thread(l);
    weft__coro *self = l->current;
    if (weft__unlikely(self->cancelled) && weft__cancel_pending()) return -ECANCELED;
    /* Take the next one first: if there is none, self just goes on. */
    weft__coro *next;
    do {
        next = pick(l);
        if (!next) return 0;
    } while (weft__unlikely(!prepare(l, next)));
    weft__runq_append(l, self);
    switch_inline(l, self, next, false);
    return 0;
}

int weft_yield(void)
{
    weft__loop *l = weft__tls_self.loop;
#if WEFT__CTX_REAPS
    /* The fast path: a coroutine, not cancelled, no canary to check, the run queue's head
     * started already, nothing posted by other threads and no periodic poll due -- what
     * yield_slow would do then, with the pop of next and the append of self in one (the
     * queue is known non-empty and next known started: runq_pop + weft__runq_append, whose
     * branches this skips, cost 77.6 instead of 67.8 instructions per switch under
     * callgrind; keep them in step with these lines). The
     * switch is a tail call: it returns 0 to our caller on the resumed side and reaps a
     * zombie there itself (fiber/switch_x86_64.S), so this function has no frame, and each
     * condition is one load and compare (self's four flags in one: weft__coro_plain). */
    if (weft__likely(l != NULL)) {
        weft__coro *self = l->current;
        weft__coro *next = l->runq_head;
        if (weft__likely(weft__coro_plain(self) && next != NULL && next->started
                         && l->ticks_left > 0
                         && weft__mpsc_empty(&l->remote))) {
            l->ticks_left--;
            weft__coro *rest = next->runq_next;
            self->runq_next = NULL;
            if (rest) {
                l->runq_head = rest;
                l->runq_tail->runq_next = self;
            } else {
                l->runq_head = self;
            }
            l->runq_tail = self;
            next->queued = false;     /* main's flag (runq_pop); false on any other */
            l->current = next;
            return weft__ctx_switch(&self->fiber.sp, next->fiber.sp, &l->zombie);
        }
    }
#endif
    return yield_slow(l);
}
