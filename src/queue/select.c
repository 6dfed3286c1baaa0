/* queue/select.c — weft_select: wait on several queues at once, complete exactly one case.
 *
 * One waiter, one node per case, each linked into its queue's getters or putters list (so
 * any of those queues' wakers may claim the one waiter). Round: try every case once,
 * starting at a random one (fairness); if none can complete, register all nodes, try them
 * all again (no lost wake-up: the same register-then-retry argument as a plain get), park,
 * unregister, repeat.
 *
 * A queue's waker wakes one waiter per item (or slot). If it woke this select but the
 * select then completed another case (or none), that item would be left with sleepers on
 * its queue: so for every node a waker took off and whose case did not complete, the
 * select passes the wake-up on to that queue's next waiter. A wake-up passed on in vain
 * costs a retry, never an item.
 */
#include "queue/internal.h"

#include <stdlib.h>

#define SELECT_MAX 1024
#define STACK_CASES 16

static unsigned next_random(void)
{
    /* initial-exec: no __tls_get_addr call per select. */
    static _Thread_local uint32_t x __attribute__((tls_model("initial-exec")));
    if (!x) x = (uint32_t)(weft_now() ^ (uintptr_t)&x) | 1u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

static int try_case(weft_select_case *c)
{
    if (c->op == WEFT_SELECT_PUT) return weft__queue_try_put(c->queue, c->item);
    return weft__queue_try_get(c->queue, &c->item);
}

/* One pass over the cases from start: the index of the one that completed, or -1. */
static int try_all(weft_select_case *cases, size_t n, size_t start)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        weft_select_case *c = &cases[i];
        if (!c->queue) continue;
        int rc = try_case(c);
        if (rc != -EAGAIN) {
            c->rc = rc;
            return (int)i;
        }
    }
    return -1;
}

static weft__list *list_of(weft_select_case *c)
{
    return c->op == WEFT_SELECT_PUT ? &c->queue->putters : &c->queue->getters;
}

static _Atomic uint32_t *count_of(weft_select_case *c)
{
    return c->op == WEFT_SELECT_PUT ? &c->queue->nputters : &c->queue->ngetters;
}

typedef struct select_slot {
    weft__wait_node node;
    bool taken;                        /* a waker took the node off its list */
} select_slot;

static void register_all(weft_select_case *cases, size_t n, select_slot *slots,
                         weft__waiter *w)
{
    weft_queue *spsc = NULL;           /* an SPSC queue among the cases, if any */
    for (size_t i = 0; i < n; i++) {
        weft_select_case *c = &cases[i];
        slots[i].node.waiter = w;
        slots[i].node.link.next = NULL;
        slots[i].taken = false;
        if (!c->queue) continue;
        weft__mutex_lock(&c->queue->m);
        weft__list_push_back(list_of(c), &slots[i].node.link);
        atomic_fetch_add_explicit(count_of(c), 1, memory_order_seq_cst);
        weft__mutex_unlock(&c->queue->m);
        /* Prefer a queue in membarrier mode: the system call is also a full barrier on
         * this thread, so it serves a queue in fence mode too, not the other way round. */
        if (c->queue->kind == WEFT_QUEUE_SPSC && (!spsc || c->queue->store.spsc.asym))
            spsc = c->queue;
    }
    /* An SPSC queue's fast side does not fence: the waiter does (spsc.c), once after all
     * its registrations and before it re-tries the cases. One fence serves every SPSC
     * queue: a membarrier orders all of this process's CPUs, and in the fallback mode
     * (seq_cst fences on both sides) one fence orders every count increment before it.
     * Each queue records its own mode; they differ only if a registration failed for
     * one (asym_available), and then the membarrier queue's fence serves both. */
    if (spsc) weft__spsc_waiter_fence(spsc);
}

/* Takes every node still listed off its list, noting those a waker took off first. */
static void unregister_all(weft_select_case *cases, size_t n, select_slot *slots)
{
    for (size_t i = 0; i < n; i++) {
        weft_select_case *c = &cases[i];
        if (!c->queue) continue;
        weft__mutex_lock(&c->queue->m);
        if (weft__list_linked(&slots[i].node.link)) {
            weft__list_unlink(&slots[i].node.link);
            atomic_fetch_sub_explicit(count_of(c), 1, memory_order_relaxed);
        } else {
            slots[i].taken = true;
        }
        weft__mutex_unlock(&c->queue->m);
    }
}

/* Passes on the wake-ups meant for this select to the next waiter of each queue whose node
 * a waker took off, except the queue of the case that completed (it used its wake-up). */
static void pass_on(weft_select_case *cases, size_t n, select_slot *slots, int fired)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i].taken && (int)i != fired)
            weft__queue_wake_one(cases[i].queue, list_of(&cases[i]), count_of(&cases[i]));
}

static int select_wait(weft_select_case *cases, size_t n, select_slot *slots, int64_t deadline)
{
    for (;;) {
        /* The waiter: a compact coroutine's own record (its nodes are on the heap). */
        weft__park local, *p = weft__park_get(&local);
        weft__waiter *w = &p->w;
        weft__waiter_init(w);
        register_all(cases, n, slots, w);
        int fired = try_all(cases, n, next_random() % n);
        int park_rc = 0;
        if (fired < 0) park_rc = weft__waiter_park(w, deadline);
        unregister_all(cases, n, slots);
        /* No node is listed now: the waiter's state is final. Claimed without having
         * parked: consume the wake-up on its way. */
        if (fired >= 0 && (atomic_load_explicit(&w->state, memory_order_acquire) &
                           WEFT__W_STATUS))
            weft__waiter_park_raw(w, WEFT__NO_DEADLINE);
        if (fired < 0 && park_rc == 0) fired = try_all(cases, n, next_random() % n);
        pass_on(cases, n, slots, fired);
        if (fired >= 0) return fired;
        if (park_rc) return park_rc;       /* timed out or cancelled: nothing was done */
    }
}

int weft_select(weft_select_case *cases, size_t n, int64_t timeout)
{
    if (!cases || n == 0 || n > SELECT_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (cases[i].op != WEFT_SELECT_GET && cases[i].op != WEFT_SELECT_PUT) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    int fired = try_all(cases, n, next_random() % n);
    if (fired >= 0) return fired;
    if (timeout == 0) return -ETIMEDOUT;
    /* The nodes are linked into the queues' lists while parked: never on a compact
     * coroutine's stack, whose frames move meanwhile. */
    select_slot stack_slots[STACK_CASES];
    select_slot *slots = n <= STACK_CASES && !weft__in_compact()
                         ? stack_slots : weft__malloc(n * sizeof *slots);
    if (!slots) return -ENOMEM;
    rc = select_wait(cases, n, slots, deadline);
    if (slots != stack_slots) weft__free(slots);
    return rc;
}
