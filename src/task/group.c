/* task/group.c — task groups (asyncio.TaskGroup, Trio's nursery).
 *
 * A group keeps one slot per child, in spawn order, in chunks that never move and double in
 * size (the first inside the group): each slot holds the done callback (embedded, so a spawn
 * allocates nothing but the task, and now and then a chunk) and, once the child ended, its
 * outcome. The group's reference to
 * a child's future is dropped as soon as the child ends, so a long-lived group keeps only
 * the small slot per finished child.
 *
 * Locking: g->m guards every field but the immutable owner (owner_coro is written by the
 * owner's thread only, under g->m; it reads it without). The child
 * callback takes it, records the outcome, and claims the waiters once nothing is pending;
 * it touches nothing of the group after unlocking, so the waiter may free the group as soon
 * as it sees pending == 0. Children are cancelled under g->m: cancelling a task only marks
 * its coroutine and makes it runnable (its callbacks run later, when it ends), and any nested
 * group it owns is locked after ours — locks are taken parent before child, never the other
 * way.
 *
 * Owner: the context (coroutine or thread) that created the group; only it waits for the
 * group. A coroutine owner carries a cancel hook, so that cancelling it cancels the children
 * at once (unless it is inside a shielded scope at that moment; then its weft_group_wait
 * outside the shield does it), and an owner that returns without waiting has its groups
 * cancelled and waited for before its own future completes.
 */
#include "task/internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chunk k holds FIRST << k slots: the first is inside the group, the others are allocated
 * as needed (a group of 1,000 makes 6 allocations). */
#define FIRST 8
#define NCHUNKS 40

typedef struct child {
    weft__cb cb;                      /* fn = child_done, arg = this slot */
    weft_future *f;                   /* NULL once it ended. No reference of the group's:
                                         until its callbacks have run, the loop holds one */
    weft_group *g;
    int err;                          /* its outcome, once ended */
    bool ended;
} child;

struct weft_group {
    weft__mutex m;
    child *chunks[NCHUNKS];           /* chunk k: FIRST << k slots; they never move */
    size_t nchunks;                   /* chunks in place */
    size_t n;                         /* children spawned */
    size_t pending;                   /* spawned and not yet ended */
    size_t failures;
    int first_err;                    /* the first failure, 0 while none */
    bool closing;                     /* refuses new children */
    bool cancelled;                   /* weft_group_cancel or the owner's cancellation */
    bool waited;
    bool hooked;                      /* hook is in owner_coro->cancel_hooks */
    int result;                       /* once waited */
    int cut;                          /* what ended the owner's wait early (-ECANCELED,
                                         -ETIMEDOUT), 0 if nothing did */
    weft__list waiters;               /* weft__wait_node */
    uint64_t owner;                   /* weft__context_id of the creator */
    weft__coro *owner_coro;           /* the creator if a coroutine, else NULL */
    weft__cancel_hook hook;
    child first[FIRST];               /* chunks[0] */
};

/* Slot i is in chunk k = log2(i / FIRST + 1), at i - FIRST * (2^k - 1). */
static inline child *slot(weft_group *g, size_t i)
{
    size_t q = i / FIRST + 1;
    unsigned k = (unsigned)(sizeof(unsigned long) * 8 - 1) - (unsigned)__builtin_clzl(q);
    return &g->chunks[k][i - FIRST * ((1ul << k) - 1)];
}

static inline bool is_failure(int err)
{
    return err < 0 && err != -ECANCELED;
}

/* Closes the group to new children and asks every running child to stop. g->m held. */
static void cancel_children_locked(weft_group *g)
{
    weft__assert_held(&g->m);
    g->closing = true;
    for (size_t i = 0; i < g->n; i++) {
        child *c = slot(g, i);
        if (!c->ended) weft_future_cancel(c->f);
    }
}

static void child_done(weft_future *f, void *arg)
{
    child *c = arg;
    weft_group *g = c->g;
    int err = weft__future_take(f, NULL);    /* the group collects every outcome */
    weft__wakeq q;
    weft__wakeq_init(&q);
    weft__mutex_lock(&g->m);
    c->err = err;
    c->ended = true;
    c->f = NULL;
    if (is_failure(err)) {
        g->failures++;
        if (!g->first_err) {
            g->first_err = err;
            cancel_children_locked(g);       /* the first failure stops the siblings */
        }
    }
    if (--g->pending == 0) {
        weft__list *n;
        while ((n = weft__list_pop_front(&g->waiters)) != NULL)
            weft__wakeq_claim(&q, weft__container_of(n, weft__wait_node, link)->waiter,
                              WEFT__W_WOKEN);
    }
    weft__mutex_unlock(&g->m);
    /* The group may be gone from here on. */
    weft__wakeq_flush(&q);
}

static int leave(weft_group *g);

/* The owner coroutine returned without waiting: cancel the children and wait for them
 * (in the owner, before its own future completes), then forget the owner. */
static void owner_ended(weft__cancel_hook *h)
{
    weft_group *g = weft__container_of(h, weft_group, hook);
    weft_group_cancel(g);
    leave(g);                                /* unlinks the hook, forgets the owner */
}

static void owner_cancelled(weft__cancel_hook *h)
{
    weft_group *g = weft__container_of(h, weft_group, hook);
    /* Its shield count, not its scopes: they live on its stack, which another context must
     * not read (a compact coroutine's frames may be copied out now). */
    if (g->owner_coro->shields) return;      /* its wait outside the shield will do it */
    weft_group_cancel(g);
}

int weft_group_create(weft_group **out)
{
    if (!out) return -EINVAL;
    weft_group *g = weft__malloc(sizeof *g);
    if (!g) return -ENOMEM;
    memset(g, 0, offsetof(weft_group, first));
    g->chunks[0] = g->first;
    g->nchunks = 1;
    g->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&g->waiters);
    g->owner = weft__context_id();
    g->owner_coro = weft__coro_current();
    if (g->owner_coro) {
        g->hook.cancelled = owner_cancelled;
        g->hook.ended = owner_ended;
        weft__list_push_back(&g->owner_coro->cancel_hooks, &g->hook.link);
        g->hooked = true;
        /* Created by a coroutine already cancelled: it can only wind down. */
        if (weft__cancel_pending()) g->closing = g->cancelled = true;
    }
    *out = g;
    return 0;
}

/* Makes room for child n. g->m held. */
static int grow(weft_group *g)
{
    weft__assert_held(&g->m);
    size_t k = g->nchunks;
    if (g->n < FIRST * ((1ul << k) - 1)) return 0;   /* (also after a failed spawn) */
    if (k == NCHUNKS) return -ENOMEM;
    child *c = weft__malloc((FIRST << k) * sizeof *c);
    if (!c) return -ENOMEM;
    g->chunks[k] = c;
    g->nchunks++;
    return 0;
}

int weft_group_spawn(weft_group *g, weft_future **task, const weft_spawn_opts *opts,
                     weft_fn fn, void *arg)
{
    if (!g || !fn) return -EINVAL;
    weft__mutex_lock(&g->m);
    if (g->closing) {
        weft__mutex_unlock(&g->m);
        return -ESHUTDOWN;
    }
    weft_future *f;
    int rc = grow(g);
    if (!rc) rc = weft__task_new(&f, opts, fn, arg, task ? 2 : 1);
    if (rc) {
        weft__mutex_unlock(&g->m);
        return rc;
    }
    child *c = slot(g, g->n);
    c->f = f;
    c->g = g;
    c->err = 0;
    c->ended = false;
    c->cb.fn = child_done;
    c->cb.arg = c;
    g->n++;
    g->pending++;
    /* Not started, so not done and seen by nobody else: the callback is in place before
     * the child can end. */
    weft__future_add_cb_unshared(f, &c->cb);
    weft__mutex_unlock(&g->m);
    weft__task_start(f);
    if (task) *task = f;
    return 0;
}

/* Waits until no child is pending; the first wait that is cut short (the caller cancelled,
 * a deadline scope) cancels the children, and the rest is waited for shielded. Records the
 * outcome. */
static int leave(weft_group *g)
{
    weft__mutex_lock(&g->m);
    while (!g->waited && g->pending > 0) {
        weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
        weft__waiter *w = &p->w;
        weft__waiter_init(w);
        weft__list_push_back(&g->waiters, &p->node.link);
        bool raw = g->cut != 0;
        w->shielded = raw;
        weft__mutex_unlock(&g->m);
        int rc = raw ? weft__waiter_park_raw(w, WEFT__NO_DEADLINE)
                     : weft__waiter_park(w, WEFT__NO_DEADLINE);
        weft__mutex_lock(&g->m);
        if (weft__list_linked(&p->node.link)) weft__list_unlink(&p->node.link);
        if (rc && !g->cut) {
            g->cut = rc;
            cancel_children_locked(g);
        }
    }
    if (!g->waited) {
        g->waited = true;
        g->closing = true;
        g->result = g->first_err ? g->first_err
                  : g->cut       ? g->cut
                  : g->cancelled ? -ECANCELED : 0;
        if (g->hooked) {
            weft__list_unlink(&g->hook.link);
            g->hooked = false;
        }
        g->owner_coro = NULL;
    }
    int rc = g->result;
    weft__mutex_unlock(&g->m);
    return rc;
}

/* True if the calling coroutine is a child of g still running (it is, if it asks). With m
 * held. O(children): for the misuse checks of wait and destroy only. */
static bool caller_is_child_locked(weft_group *g)
{
    weft_future *self = weft_current_task();
    if (!self) return false;
    for (size_t i = 0; i < g->n; i++) {
        child *c = slot(g, i);
        if (!c->ended && c->f == self) return true;
    }
    return false;
}

int weft_group_wait(weft_group *g)
{
    if (!g) return -EINVAL;
    if (weft__context_id() != g->owner) return -EPERM;   /* a child of g among others */
    return leave(g);
}

int weft_group_result(weft_group *g)
{
    if (!g) return -EINVAL;
    weft__mutex_lock(&g->m);
    int rc = g->waited ? g->result : -EBUSY;
    weft__mutex_unlock(&g->m);
    return rc;
}

int weft_group_cancel(weft_group *g)
{
    if (!g) return -EINVAL;
    weft__mutex_lock(&g->m);
    if (!g->waited) {
        g->cancelled = true;
        cancel_children_locked(g);
    }
    weft__mutex_unlock(&g->m);
    return 0;
}

size_t weft_group_size(weft_group *g)
{
    if (!g) return 0;
    weft__mutex_lock(&g->m);
    size_t n = g->n;
    weft__mutex_unlock(&g->m);
    return n;
}

int weft_group_child_result(weft_group *g, size_t i)
{
    if (!g) return -EINVAL;
    weft__mutex_lock(&g->m);
    int rc = i >= g->n ? -EINVAL : slot(g, i)->ended ? slot(g, i)->err : -EBUSY;
    weft__mutex_unlock(&g->m);
    return rc;
}

size_t weft_group_failures(weft_group *g)
{
    if (!g) return 0;
    weft__mutex_lock(&g->m);
    size_t n = g->failures;
    weft__mutex_unlock(&g->m);
    return n;
}

void weft_group_destroy(weft_group *g)
{
    if (!g) return;
    weft__mutex_lock(&g->m);
    bool waited = g->waited;
    weft__coro *owner = g->owner_coro;
    bool own_child = !waited && caller_is_child_locked(g);
    weft__mutex_unlock(&g->m);
    if (own_child) {
        /* It would wait for its children, the caller among them: for ever. */
        fprintf(stderr, "weft: a task group destroyed by one of its own children (it would "
                        "wait for itself)\n");
        abort();
    }
    if (!waited) {
        /* Only the owner's thread may unhook it from the owner coroutine. */
        if (owner && owner->loop != weft__tls_self.loop) {
            fprintf(stderr, "weft: a task group destroyed, not waited for, by a thread other "
                            "than its owner's\n");
            abort();
        }
        weft_group_cancel(g);
        leave(g);
    }
    for (size_t k = 1; k < g->nchunks; k++) weft__free(g->chunks[k]);
    weft__free(g);
}
