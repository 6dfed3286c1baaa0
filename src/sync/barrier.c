/* sync/barrier.c — weft_barrier: threading.Barrier / asyncio.Barrier.
 *
 * Parties arrive under m and wait on the list; the last one runs the action (outside m,
 * while a `releasing` flag makes parties of the next round wait until it is done), then
 * claims every waiter, writing each one's outcome (its index, or -EPIPE) into its waiter's
 * data first. A waiter whose park failed (timeout, cancel) looks at its node under m: if
 * the last party already took it off the list, the round completed and the data holds its
 * outcome; if it is still listed, its failure breaks the barrier for the others. Waiter
 * and node are the caller's park record (weft__park_get: a compact coroutine's own).
 *
 * Locking: m guards every field but parties and the action; user code (the action) never
 * runs under it.
 */
#include "sync/internal.h"

struct weft_barrier {
    unsigned parties;
    int (*action)(void *);
    void *arg;
    weft__mutex m;
    unsigned count;                     /* m: arrived in this round */
    bool broken;                        /* m */
    bool releasing;                     /* m: the last party is running the action */
    bool break_next;                    /* m: a party of the next round left while this
                                           one was being released: break once it is */
    weft__list waiters;                 /* m: the wait nodes of this round */
    weft__list early;                   /* m: next round's arrivals while releasing */
};

int weft_barrier_create(weft_barrier **out, unsigned parties, int (*action)(void *), void *arg)
{
    if (!out || parties == 0) return -EINVAL;
    weft_barrier *b = weft__calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    b->parties = parties;
    b->action = action;
    b->arg = arg;
    b->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&b->waiters);
    weft__list_init(&b->early);
    *out = b;
    return 0;
}

/* With m held: takes every node off list, giving each `outcome` (in its waiter's data),
 * and claims its waiter. */
static void release_all(weft__list *list, int outcome, weft__wakeq *q)
{
    weft__list *p;
    int index = 0;
    while ((p = weft__list_pop_front(list)) != NULL) {
        weft__waiter *w = weft__container_of(p, weft__wait_node, link)->waiter;
        w->data = (void *)(intptr_t)(outcome >= 0 ? index++ : outcome);
        weft__wakeq_claim(q, w, WEFT__W_WOKEN);
    }
}

/* With m held: the barrier breaks; everyone waiting (this round and early) gets -EPIPE. */
static void break_locked(weft_barrier *b, weft__wakeq *q)
{
    weft__assert_held(&b->m);
    b->broken = true;
    b->count = 0;
    release_all(&b->waiters, -EPIPE, q);
    release_all(&b->early, -EPIPE, q);
}

/* Parks on list until taken off it. 0 with the outcome in pk->w.data, or the park's error
 * with the node still listed (m is held again on return in both cases). */
static int park_on(weft_barrier *b, weft__list *list, weft__park *pk, int64_t deadline)
{
    weft__waiter_init(&pk->w);
    weft__list_push_back(list, &pk->node.link);
    weft__mutex_unlock(&b->m);
    int rc = weft__waiter_park(&pk->w, deadline);
    weft__mutex_lock(&b->m);
    if (rc && !weft__list_linked(&pk->node.link)) rc = 0;   /* taken off anyway: outcome set */
    return rc;
}

/* The last arrival: run the action, then let everyone go. Called and returns with m held. */
static int finish_round(weft_barrier *b, weft__wakeq *q)
{
    weft__assert_held(&b->m);
    unsigned index = b->count - 1;
    b->releasing = true;
    int rc = 0;
    if (b->action) {
        weft__mutex_unlock(&b->m);
        rc = b->action(b->arg);
        weft__mutex_lock(&b->m);
    }
    b->releasing = false;
    if (rc < 0 || b->broken) {
        b->break_next = false;
        break_locked(b, q);
        return -EPIPE;
    }
    /* Waiters were listed in arrival order: indices 0 .. parties-2. */
    release_all(&b->waiters, 0, q);
    b->count = 0;
    if (b->break_next) {                   /* see weft_barrier_wait */
        b->break_next = false;
        break_locked(b, q);
    } else {
        release_all(&b->early, 0, q);      /* they retry in the new round */
    }
    return (int)index;
}

int weft_barrier_wait(weft_barrier *b, int64_t timeout)
{
    if (!b) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    weft__wakeq q;
    weft__wakeq_init(&q);
    weft__park local, *pk = weft__park_get(&local);
    weft__mutex_lock(&b->m);
    while (b->releasing && !b->broken) {   /* the previous round is still letting go */
        rc = park_on(b, &b->early, pk, deadline);
        if (rc) {
            /* A party of the next round left: that round cannot fill. The one being
             * released still completes; the barrier breaks right after it. */
            weft__wait_node_forget(&pk->node);
            b->break_next = true;
            weft__mutex_unlock(&b->m);
            return rc;
        }
    }
    if (b->broken) {
        rc = -EPIPE;
    } else if (++b->count == b->parties) {
        rc = finish_round(b, &q);
    } else {
        rc = park_on(b, &b->waiters, pk, deadline);
        if (rc == 0) {
            rc = (int)(intptr_t)pk->w.data;
        } else {
            weft__wait_node_forget(&pk->node);
            break_locked(b, &q);           /* our timeout or cancel breaks it for all */
        }
    }
    weft__mutex_unlock(&b->m);
    weft__wakeq_flush(&q);
    return rc;
}

int weft_barrier_abort(weft_barrier *b)
{
    if (!b) return -EINVAL;
    weft__wakeq q;
    weft__wakeq_init(&q);
    weft__mutex_lock(&b->m);
    break_locked(b, &q);
    weft__mutex_unlock(&b->m);
    weft__wakeq_flush(&q);
    return 0;
}

int weft_barrier_reset(weft_barrier *b)
{
    if (!b) return -EINVAL;
    weft__wakeq q;
    weft__wakeq_init(&q);
    weft__mutex_lock(&b->m);
    break_locked(b, &q);
    b->broken = false;
    b->break_next = false;
    weft__mutex_unlock(&b->m);
    weft__wakeq_flush(&q);
    return 0;
}

bool weft_barrier_broken(weft_barrier *b)
{
    if (!b) return false;
    weft__mutex_lock(&b->m);
    bool broken = b->broken;
    weft__mutex_unlock(&b->m);
    return broken;
}

unsigned weft_barrier_parties(weft_barrier *b)
{
    return b ? b->parties : 0;
}

unsigned weft_barrier_n_waiting(weft_barrier *b)
{
    if (!b) return 0;
    weft__mutex_lock(&b->m);
    unsigned n = b->count;
    weft__mutex_unlock(&b->m);
    return n;
}

void weft_barrier_destroy(weft_barrier *b)
{
    if (!b) return;
    weft__mutex_lock(&b->m);
    if (!weft__list_empty(&b->waiters)) weft__destroy_busy("weft_barrier_destroy", &b->waiters);
    if (!weft__list_empty(&b->early)) weft__destroy_busy("weft_barrier_destroy", &b->early);
    weft__mutex_unlock(&b->m);
    weft__free(b);
}
