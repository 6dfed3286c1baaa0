/* queue/ring.c — the lock-free bounded MPMC ring behind bounded FIFO queues.
 *
 * Positions (head, tail) are index + lap, where one_lap is a power of two above 2*cap and
 * mark_bit (half of one_lap) is a flag in the tail that closes the ring. Slot i's stamp is
 * the position at which it may next be written (stamp == tail: free for this lap) or read
 * (stamp == head + 1: holds this lap's item). A put CASes tail forward, writes the item,
 * and publishes it by storing stamp = tail + 1 (release); a get CASes head forward, reads,
 * and frees the slot for the next lap by storing stamp = head + one_lap. Capacity is exact
 * (not rounded to a power of two) because the index wraps at cap, not at one_lap.
 *
 * Ordering: the CASes are seq_cst (the blocking layer pairs them with its waiter counts,
 * see internal.h); a reader that finds a slot not yet stamped looks at the other end
 * after a seq_cst fence to tell "empty"/"full" from "the other side is mid-operation"
 * (then it spins a moment: the other side is a few instructions from done).
 * Our own code after crossbeam's array channel (Rust), which uses the same scheme.
 */
#include "queue/internal.h"

static weft__ring *ring_of(weft_queue *q) { return &q->store.ring; }

int weft__ring_init(weft__ring *r, size_t cap)
{
    uint64_t mark = 1;
    while (mark < cap + 1) mark <<= 1;
    r->cap = cap;
    r->mark_bit = mark;
    r->one_lap = mark << 1;
    r->slots = weft__malloc(cap * sizeof *r->slots);
    if (!r->slots) return -ENOMEM;
    for (size_t i = 0; i < cap; i++) {
        atomic_init(&r->slots[i].stamp, i);
        r->slots[i].item = NULL;
    }
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

static int ring_try_put(weft_queue *q, void *item)
{
    weft__ring *r = ring_of(q);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        if (tail & r->mark_bit) return -ESHUTDOWN;
        uint64_t index = tail & (r->mark_bit - 1);
        uint64_t lap = tail & ~(r->one_lap - 1);
        weft__ring_slot *s = &r->slots[index];
        uint64_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);
        if (tail == stamp) {
            uint64_t next = index + 1 < r->cap ? tail + 1 : lap + r->one_lap;
            if (atomic_compare_exchange_weak_explicit(&r->tail, &tail, next,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                s->item = item;
                atomic_store_explicit(&s->stamp, tail + 1, memory_order_release);
                return 0;
            }
        } else if (stamp + r->one_lap == tail + 1) {
            /* The slot still holds last lap's item: full, unless a get is mid-way. */
            atomic_thread_fence(memory_order_seq_cst);
            uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
            if (head + r->one_lap == tail) return WEFT__QUEUE_FULL;
            weft__cpu_relax();
            tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        } else {
            weft__cpu_relax();             /* another put is writing this slot */
            tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

static int ring_try_get(weft_queue *q, void **item)
{
    weft__ring *r = ring_of(q);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        uint64_t index = head & (r->mark_bit - 1);
        uint64_t lap = head & ~(r->one_lap - 1);
        weft__ring_slot *s = &r->slots[index];
        uint64_t stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);
        if (head + 1 == stamp) {
            uint64_t next = index + 1 < r->cap ? head + 1 : lap + r->one_lap;
            if (atomic_compare_exchange_weak_explicit(&r->head, &head, next,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                *item = s->item;
                atomic_store_explicit(&s->stamp, head + r->one_lap, memory_order_release);
                return 0;
            }
        } else if (stamp == head) {
            /* Nothing written here yet: empty, unless a put is mid-way. */
            atomic_thread_fence(memory_order_seq_cst);
            uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
            if ((tail & ~r->mark_bit) == head)
                return (tail & r->mark_bit) ? -ESHUTDOWN : WEFT__QUEUE_EMPTY;
            weft__cpu_relax();
            head = atomic_load_explicit(&r->head, memory_order_relaxed);
        } else {
            weft__cpu_relax();             /* another get is reading this slot */
            head = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

static void ring_close(weft_queue *q)
{
    atomic_fetch_or_explicit(&ring_of(q)->tail, ring_of(q)->mark_bit, memory_order_seq_cst);
}

static size_t ring_size(weft_queue *q)
{
    weft__ring *r = ring_of(q);
    for (;;) {
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_seq_cst);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_seq_cst);
        if (atomic_load_explicit(&r->tail, memory_order_seq_cst) != tail) continue;
        uint64_t hix = head & (r->mark_bit - 1), tix = tail & (r->mark_bit - 1);
        if (hix < tix) return tix - hix;
        if (hix > tix) return r->cap - hix + tix;
        return (tail & ~r->mark_bit) == head ? 0 : r->cap;
    }
}

/* Items ever put: the tail position counts them, lap by lap (no counter on the put path). */
static uint64_t ring_puts(weft_queue *q)
{
    weft__ring *r = ring_of(q);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_seq_cst) & ~r->mark_bit;
    return (tail / r->one_lap) * r->cap + (tail & (r->mark_bit - 1));
}

static void ring_fini(weft_queue *q)
{
    weft__free(ring_of(q)->slots);
}

const weft__store_ops weft__ring_ops = {
    ring_try_put, ring_try_get, ring_close, ring_size, ring_puts, ring_fini,
};
