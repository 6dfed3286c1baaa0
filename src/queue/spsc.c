/* queue/spsc.c — the single-producer single-consumer ring behind WEFT_QUEUE_SPSC queues.
 *
 * A Lamport ring: tail counts the items ever put, head the items ever taken, slot i % 2^k
 * holds item i. Only the putter writes tail and only the getter writes head, so a put is a
 * plain slot store plus a release store of tail, a get a plain slot load plus a release
 * store of head: no read-modify-write. Each side keeps a copy of the other side's position
 * on its own line (head_cache, tail_cache; rigtorp's SPSCQueue, ck_ring) and reads the
 * other's line only when its copy says full (empty): most operations touch no line that
 * the other side writes, except the one position each side must publish.
 *
 * Binding (misuse detection without a read-modify-write per operation): the first put
 * binds the putter side to the calling thread (one CAS of a thread token: a number given
 * once per thread, never reused, see self_token), the first get the getter side;
 * afterwards each operation compares one word, and an operation from any other thread
 * fails with -EPERM and changes nothing.
 * Any number of coroutines of the bound thread may use their side: an attempt at the ring
 * never parks or yields midway, so two coroutines of one thread never interleave inside
 * one; a put that waits (full) parks only between attempts and re-reads everything after
 * it wakes. The token is the thread's, never reused (self_token): a side whose thread has
 * exited stays bound to it, and any other thread's operation on that side gets -EPERM.
 *
 * No lost wake-up without a locked instruction on the fast path (queue/internal.h states
 * the general argument; this is the SPSC variant). It is Dekker's pattern:
 *     fast side (put):    store tail (release);       F1; load ngetters
 *     waiter (get):       ngetters++ (seq_cst RMW);  F2; load tail
 * If F1 and F2 are both full fences, one of the two loads sees the other side's store: the
 * putter wakes the getter, or the getter finds the item and does not park. The fast side
 * runs on every operation, the waiter side only before a park (which costs a futex or a
 * loop switch anyway), so the fence is made asymmetric: F1 is only a compiler barrier and
 * F2 is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on every
 * CPU that is running a thread of this process (and a thread not running has passed a
 * context switch, a full barrier). So either the putter's F1 point is before the
 * membarrier, and its tail store is visible to the getter's load after it; or it is after,
 * and its ngetters load follows the membarrier's barrier on its CPU and sees the count
 * (the RMW preceded the membarrier). The same holds with put and get swapped (head,
 * nputters). Userspace RCU and Folly's asymmetric barrier use the same pair.
 * If membarrier is unavailable (old kernel, Valgrind, seccomp; or the environment variable
 * WEFT_DEBUG_NO_MEMBARRIER is set when the first SPSC queue is created, which tests use to
 * cover this path) F1 and F2 are both seq_cst fences (correct in the C11 model, slower). TSan models neither membarrier nor fences: in
 * TSan builds the position stores, the position loads that can precede a park, and the
 * count loads are seq_cst operations instead (a total order: Dekker holds without fences).
 *
 * Shutdown: the state word's CLOSED makes puts fail; the putter reads it with a plain
 * (relaxed) load, no RMW. A put that read CLOSED clear must not land after a getter has
 * concluded "shut down and empty" (nobody would take its item: qsize and join would count
 * it for ever), nor after an immediate shutdown read tail to discard what was left. So
 * shutdown waits for the putter to be quiescent, in two phases (weft__spsc_seal, called by
 * weft_queue_shutdown before it takes m):
 *     putter (every attempt): in_put = 1;  F1; load state; [slot, tail (release)];
 *                             in_put = 0 (release)
 *     shutdown:               state |= CLOSED (seq_cst RMW); F2; spin until in_put == 0
 *                             (acquire); state |= SEALED (seq_cst RMW)
 * with the same asymmetric F1 / F2 pair as above (F2 is weft__spsc_waiter_fence). in_put
 * is on the putter's private line (with head_cache, not tail's: see internal.h), so the
 * fast path gains two plain stores to a line no other thread reads per item. Take
 * the point where F2's barrier runs on the putter's CPU (or, with fences, the fence order):
 * the putter's loads after it see CLOSED, so every attempt that found the queue open read
 * state before it; all of those attempts but the last had ended (tail stored, in_put
 * cleared) before it, and so did the last one, or else its in_put = 1 is what shutdown's
 * first load reads, and shutdown spins until it reads the release clear that follows that
 * attempt's tail store (or a later clear, by coherence). Either way, once the spin ends,
 * every put that will ever succeed has stored tail, and that store happens before the
 * SEALED RMW. An attempt never parks or yields midway, so in_put is 1 only for a few
 * instructions (unless the putting thread is preempted: shutdown then sched_yields); a
 * shutdown from the putter's own thread (any coroutine) always finds it 0.
 * A getter that finds the ring empty concludes -ESHUTDOWN only if it reads SEALED
 * (acquire) and then, re-reading tail, finds it still empty; CLOSED without SEALED on an
 * empty ring is treated as an open empty queue (the getter waits, or times out), and
 * shutdown wakes every waiting getter after it sealed, under m (a getter registering later
 * sees SEALED through m). So a put racing a shutdown either fails with -ESHUTDOWN or lands
 * before any getter can see the end. Concurrent shutdowns each wait and seal themselves.
 * Immediate shutdown sets DISCARD after sealing; only the getter may move head, so the
 * items left are dropped by shutdown itself when it runs on the bound getter's thread (or
 * no getter ever bound: shutdown binds a token of its own that makes later gets fail with
 * -ESHUTDOWN), and otherwise by the getter's next get, which then fails with -ESHUTDOWN;
 * tail being final, no put lands after either of these reads it. Until that get, qsize
 * counts those items and join waits for them.
 */
#include "queue/internal.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

#if WEFT_TSAN
#define POS_STORE  memory_order_seq_cst    /* see the header comment */
#define POS_LOAD   memory_order_seq_cst
#define CNT_LOAD   memory_order_seq_cst
#define MARK_STORE memory_order_seq_cst
#define MARK_CLEAR memory_order_seq_cst
#define MARK_LOAD  memory_order_seq_cst
#define STATE_LOAD memory_order_seq_cst
#else
#define POS_STORE  memory_order_release
#define POS_LOAD   memory_order_acquire
#define CNT_LOAD   memory_order_relaxed
#define MARK_STORE memory_order_relaxed
#define MARK_CLEAR memory_order_release
#define MARK_LOAD  memory_order_acquire
#define STATE_LOAD memory_order_relaxed
#endif

/* Thread tokens: a number given to a thread at its first SPSC operation, from a counter,
 * never reused (not the address of a thread-local object: a thread that exits and a new
 * one could share it, and the new one would be taken for the bound one — a newcomer saw a
 * later thread's put accepted 28 times in 50). A side bound to a thread that has exited
 * stays bound to it: other threads get -EPERM. 1 is the getter token an immediate shutdown
 * binds when no getter ever came. */
#define discarded_token ((const void *)(uintptr_t)1)
static _Atomic uintptr_t next_token = 2;
/* initial-exec: a put or get reads it every time, and the default model for a shared
 * library calls __tls_get_addr (measured: the largest cost of an SPSC put). */
static _Thread_local uintptr_t my_token __attribute__((tls_model("initial-exec")));

/* The calling thread's token. Any thread; never blocks. */
static inline const void *self_token(void)
{
    uintptr_t t = my_token;
    if (weft__unlikely(!t))
        t = my_token = atomic_fetch_add_explicit(&next_token, 1, memory_order_relaxed);
    return (const void *)t;
}

static weft__spsc *spsc_of(weft_queue *q) { return &q->store.spsc; }

/* ------------------------------------------------------------- asymmetric fence ----- */

#if !WEFT_TSAN
static int membarrier_sys(int cmd)
{
    return (int)syscall(SYS_membarrier, cmd, 0, 0);
}
#endif

/* Registers this process for private expedited membarriers, once (at the first SPSC
 * queue's creation; each queue records the answer, so that both sides of one queue always
 * agree on the mode). True if they work.
 * Any context (a system call the first time). Concurrent first calls may both register:
 * registering is idempotent. */
static bool asym_available(void)
{
    static _Atomic int state;              /* 0 unknown, 1 available, 2 not */
    int st = atomic_load_explicit(&state, memory_order_acquire);
    if (st) return st == 1;
#if WEFT_TSAN
    st = 2;
#else
    int cmds = getenv("WEFT_DEBUG_NO_MEMBARRIER") ? -1 : membarrier_sys(MEMBARRIER_CMD_QUERY);
    st = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
         membarrier_sys(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 ? 1 : 2;
#endif
    atomic_store_explicit(&state, st, memory_order_release);
    return st == 1;
}

/* F1, the fast side's half: after publishing a position, before reading the waiter count. */
static inline void fast_fence(const weft__spsc *s)
{
#if WEFT_TSAN
    (void)s;                               /* seq_cst operations instead */
#else
    if (weft__likely(s->asym)) atomic_signal_fence(memory_order_seq_cst);
    else atomic_thread_fence(memory_order_seq_cst);
#endif
}

void weft__spsc_waiter_fence(weft_queue *q)
{
#if WEFT_TSAN
    (void)q;
#else
    if (!spsc_of(q)->asym) {
        atomic_thread_fence(memory_order_seq_cst);
        return;
    }
    if (membarrier_sys(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
    /* Defensive: should this process be unregistered (EPERM; this machine's kernel does
     * carry the registration over fork, tested by hand), register and try again. Failing
     * still, a fence here would pair with nothing (the fast side does not fence
     * in this mode): abort rather than risk a lost wake-up. */
    if (membarrier_sys(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
        membarrier_sys(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    weft__fatal("weft_queue: membarrier failed after registration");
#endif
}

/* ------------------------------------------------------------------- the ring ------- */

int weft__spsc_init(weft__spsc *s, size_t cap)
{
    size_t n = 1;
    while (n < cap) n <<= 1;
    s->slots = weft__calloc(n, sizeof *s->slots);
    if (!s->slots) return -ENOMEM;
    s->cap = cap;
    s->mask = n - 1;
    atomic_init(&s->putter, NULL);
    atomic_init(&s->getter, NULL);
    atomic_init(&s->state, 0);
    s->asym = asym_available();
    atomic_init(&s->tail, 0);
    atomic_init(&s->head, 0);
    atomic_init(&s->in_put, 0);
    s->head_cache = 0;
    s->tail_cache = 0;
    return 0;
}

/* The slow half of the binding check: binds side to the calling thread if nobody is bound
 * yet. 0 if the caller is (now) the bound thread, else -EPERM. */
static int bind_slow(_Atomic(const void *) *side)
{
    const void *cur = NULL, *me = self_token();
    if (atomic_compare_exchange_strong_explicit(side, &cur, me,
                                                memory_order_acq_rel, memory_order_acquire))
        return 0;
    return cur == me ? 0 : -EPERM;
}

static inline int check_bound(_Atomic(const void *) *side)
{
    if (weft__likely(atomic_load_explicit(side, memory_order_relaxed) == self_token()))
        return 0;
    return bind_slow(side);
}

/* The store's try_put: 0, FULL, -ESHUTDOWN, -EPERM. The bound putter's thread.
 * always_inline: weft__spsc_put's copy is the hot one (the ops table keeps another). */
static inline __attribute__((always_inline)) int spsc_try_put(weft_queue *q, void *item)
{
    weft__spsc *s = spsc_of(q);
    int rc = check_bound(&s->putter);
    if (weft__unlikely(rc)) return rc;
    /* In a put (Dekker with weft__spsc_seal, see the header comment): mark, F1, state. */
    atomic_store_explicit(&s->in_put, 1, MARK_STORE);
    fast_fence(s);
    if (weft__unlikely(atomic_load_explicit(&s->state, STATE_LOAD))) {
        rc = -ESHUTDOWN;
        goto out;
    }
    uint64_t t = atomic_load_explicit(&s->tail, memory_order_relaxed);   /* our own */
    if (weft__unlikely(t - s->head_cache >= s->cap)) {
        /* acquire: the getter's read of the slot we are about to reuse is done. */
        s->head_cache = atomic_load_explicit(&s->head, POS_LOAD);
        if (t - s->head_cache >= s->cap) {
            rc = WEFT__QUEUE_FULL;
            goto out;
        }
    }
    s->slots[t & s->mask] = item;
    atomic_store_explicit(&s->tail, t + 1, POS_STORE);    /* publishes the slot */
out:
    /* release: a shutdown that reads 0 here sees the tail stored before. */
    atomic_store_explicit(&s->in_put, 0, MARK_CLEAR);
    return rc;
}

/* The getter drops everything left after an immediate shutdown. The bound getter's thread. */
static void drop_rest(weft_queue *q)
{
    weft__spsc *s = spsc_of(q);
    uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
    if (t == h) return;
    atomic_store_explicit(&s->head, t, POS_STORE);
    s->tail_cache = t;
    weft__queue_dropped(q, t - h);
}

/* The store's try_get: 0, EMPTY, -ESHUTDOWN (shut down and empty, or discarded), -EPERM.
 * The bound getter's thread (and weft_queue_shutdown's drain, see weft__spsc_discard). */
static inline __attribute__((always_inline)) int spsc_try_get(weft_queue *q, void **item)
{
    weft__spsc *s = spsc_of(q);
    int rc = check_bound(&s->getter);
    if (weft__unlikely(rc)) {
        if (atomic_load_explicit(&s->getter, memory_order_relaxed) == discarded_token)
            return -ESHUTDOWN;
        return rc;
    }
    if (weft__unlikely(atomic_load_explicit(&s->state, memory_order_acquire) &
                       WEFT__SPSC_DISCARD)) {
        drop_rest(q);
        return -ESHUTDOWN;
    }
    uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);   /* our own */
    if (weft__unlikely(h == s->tail_cache)) {
        s->tail_cache = atomic_load_explicit(&s->tail, POS_LOAD);
        if (h == s->tail_cache) {
            /* Closed but not sealed: a put in progress may still land; wait as on an
             * open queue (the shutdown wakes every getter once it has sealed). */
            if (!(atomic_load_explicit(&s->state, memory_order_acquire) & WEFT__SPSC_SEALED))
                return WEFT__QUEUE_EMPTY;
            /* Sealed (acquire): tail is final; a put may have landed since our read. */
            s->tail_cache = atomic_load_explicit(&s->tail, POS_LOAD);
            if (h == s->tail_cache) return -ESHUTDOWN;
        }
    }
    *item = s->slots[h & s->mask];
    atomic_store_explicit(&s->head, h + 1, POS_STORE);    /* frees the slot */
    return 0;
}

int weft__spsc_put(weft_queue *q, void *item)
{
    int rc = spsc_try_put(q, item);
    if (weft__likely(rc == 0)) {
        fast_fence(spsc_of(q));
        if (weft__unlikely(atomic_load_explicit(&q->ngetters, CNT_LOAD)))
            weft__queue_wake_one(q, &q->getters, &q->ngetters);
    }
    return rc;
}

int weft__spsc_get(weft_queue *q, void **item)
{
    int rc = spsc_try_get(q, item);
    if (weft__likely(rc == 0)) {
        fast_fence(spsc_of(q));
        if (weft__unlikely(atomic_load_explicit(&q->nputters, CNT_LOAD)))
            weft__queue_wake_one(q, &q->putters, &q->nputters);
    }
    return rc;
}

void weft__spsc_seal(weft_queue *q)
{
    weft__spsc *s = spsc_of(q);
    atomic_fetch_or_explicit(&s->state, WEFT__SPSC_CLOSED, memory_order_seq_cst);
    weft__spsc_waiter_fence(q);            /* F2 of the in_put / state Dekker */
    /* acquire: pairs with the putter's release clear of in_put, which follows its tail
     * store. The attempt we wait for never waits: it ends unless its thread is preempted. */
    /* After 64 pauses and 64 yields it sleeps, 1 us doubling to 1 ms: sched_yield alone
     * never lets a preempted putter of lower (real-time) priority run on our CPU. A fork
     * while another thread was mid-put leaves in_put at 1 in the child for ever: a
     * shutdown of that queue in the child does not return (queue.h). */
    long sleep_ns = 1000;
    for (unsigned i = 0; atomic_load_explicit(&s->in_put, MARK_LOAD); i++) {
        if (i < 64) {
            weft__cpu_relax();
        } else if (i < 128) {
            sched_yield();
        } else {
            struct timespec ts = { 0, sleep_ns };
            nanosleep(&ts, NULL);
            if (sleep_ns < 1000000) sleep_ns *= 2;
        }
    }
    atomic_fetch_or_explicit(&s->state, WEFT__SPSC_SEALED, memory_order_seq_cst);
}

/* With m held, after weft__spsc_seal (so tail is final: no put can land after our read). */
uint64_t weft__spsc_discard(weft_queue *q)
{
    weft__spsc *s = spsc_of(q);
    atomic_fetch_or_explicit(&s->state, WEFT__SPSC_CLOSED | WEFT__SPSC_DISCARD,
                             memory_order_seq_cst);
    const void *cur = NULL;
    if (!atomic_compare_exchange_strong_explicit(&s->getter, &cur, discarded_token,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire) &&
        cur != self_token() && cur != discarded_token)
        return 0;                          /* another thread's getter drops them */
    uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
    atomic_store_explicit(&s->head, t, POS_STORE);
    s->tail_cache = t;
    return t - h;
}

/* weft_queue_shutdown has already closed and sealed the ring (weft__spsc_seal, before it
 * took m); this is idempotent. */
static void spsc_close(weft_queue *q)
{
    atomic_fetch_or_explicit(&spsc_of(q)->state, WEFT__SPSC_CLOSED, memory_order_seq_cst);
}

/* A snapshot; any thread. head first: tail only grows, so tail - head never underflows. */
static size_t spsc_size(weft_queue *q)
{
    weft__spsc *s = spsc_of(q);
    uint64_t h = atomic_load_explicit(&s->head, memory_order_seq_cst);
    uint64_t t = atomic_load_explicit(&s->tail, memory_order_seq_cst);
    uint64_t n = t - h;
    return n > s->cap ? s->cap : n;
}

static uint64_t spsc_puts(weft_queue *q)
{
    return atomic_load_explicit(&spsc_of(q)->tail, memory_order_seq_cst);
}

static void spsc_fini(weft_queue *q)
{
    weft__free(spsc_of(q)->slots);
}

const weft__store_ops weft__spsc_ops = {
    spsc_try_put, spsc_try_get, spsc_close, spsc_size, spsc_puts, spsc_fini,
};
