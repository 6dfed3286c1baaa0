/* shared/queue.c — a bounded queue of byte messages between processes.
 *
 * One mapping: the header, then a ring of `cap` bytes. A message is a record: an 8-byte
 * length, then its bytes, padded to 8 (records, and so lengths, never wrap; bytes may).
 * `pos` packs the offset of the oldest record (low 32 bits) and the bytes in use (high
 * 32 bits) into one word: a put or get commits with one store of pos, after its copy, so a
 * process that dies in the middle of one leaves the ring as it was before it (the message
 * it was putting is not there; the one it was getting is still there). `items` is kept
 * beside it and recounted from the ring by the next taker of a lock whose owner died.
 *
 * Everything changes under the internal robust lock; waiters (for room, for a message)
 * sleep on the sync word by the protocol of shared/internal.h, counted while they still
 * hold the lock, so no change after their look can be missed.
 */
#include "shared/internal.h"

#include <string.h>

struct weft_shared_queue {
    weft__shared_lock_state lock;
    weft__shared_sync sync;
    size_t map_size;
    uint32_t cap;                     /* ring bytes, a multiple of 8 */
    uint32_t max_items;               /* 0: no limit */
    uint32_t max_len;                 /* the longest message: max_bytes - 8 */
    _Atomic uint64_t pos;             /* head | used << 32 */
    _Atomic uint32_t items;
    _Atomic uint32_t shut;            /* 0, 1: shut down */
    char ring[] __attribute__((aligned(64)));
};

static inline uint32_t head_of(uint64_t pos) { return (uint32_t)pos; }
static inline uint32_t used_of(uint64_t pos) { return (uint32_t)(pos >> 32); }
static inline uint64_t make_pos(uint32_t head, uint32_t used)
{
    return head | (uint64_t)used << 32;
}
static inline uint64_t record_size(uint64_t len) { return 8 + ((len + 7) & ~(uint64_t)7); }

int weft_shared_queue_create(weft_shared_queue **q, size_t max_items, size_t max_bytes)
{
    if (!q || max_bytes < 64 || max_bytes > ((size_t)1 << 31) || max_items > UINT32_MAX)
        return -EINVAL;
    size_t cap = (max_bytes + 7) & ~(size_t)7;
    size_t size = sizeof(weft_shared_queue) + cap;
    weft_shared_queue *m = weft__shared_map(size);
    if (!m) return -ENOMEM;
    m->map_size = size;
    m->cap = (uint32_t)cap;
    m->max_items = (uint32_t)max_items;
    m->max_len = (uint32_t)(max_bytes - 8);
    *q = m;
    return 0;
}

static void copy_in(weft_shared_queue *q, uint32_t at, const void *src, size_t n)
{
    if (n == 0) return;                       /* src may be NULL then */
    size_t first = q->cap - at < n ? q->cap - at : n;
    memcpy(q->ring + at, src, first);
    memcpy(q->ring, (const char *)src + first, n - first);
}

static void copy_out(weft_shared_queue *q, uint32_t at, void *dst, size_t n)
{
    if (n == 0) return;                       /* dst may be NULL then */
    size_t first = q->cap - at < n ? q->cap - at : n;
    memcpy(dst, q->ring + at, first);
    memcpy((char *)dst + first, q->ring, n - first);
}

/* After a dead owner: items recounted from the ring (pos is always consistent). */
static void repair(weft_shared_queue *q)
{
    uint64_t pos = atomic_load(&q->pos);
    uint32_t at = head_of(pos), left = used_of(pos), n = 0;
    while (left >= 8) {
        uint64_t len;
        memcpy(&len, q->ring + at, 8);
        uint64_t rec = record_size(len);
        if (rec > left) break;             /* cannot happen: pos is committed last */
        at = (uint32_t)((at + rec) % q->cap);
        left -= (uint32_t)rec;
        n++;
    }
    atomic_store(&q->items, n);
}

/* Takes the internal lock (unbounded: it is held for a copy at most). 0, -ECANCELED. */
static int take(weft_shared_queue *q)
{
    int rc = weft__shared_lock_take(&q->lock, WEFT__NO_DEADLINE);
    if (rc == -EOWNERDEAD) {
        repair(q);
        rc = 0;
    }
    return rc;
}

static void give(weft_shared_queue *q) { weft__shared_lock_give(&q->lock); }

/* After a change, with the lock held: bump seq, let the lock go, wake the sleepers (the
 * wake-up touches no memory of the queue: a caller may have unmapped it by then). */
static void give_and_wake(weft_shared_queue *q)
{
    bool sleepers = weft__shared_bump(&q->sync);
    give(q);
    weft__perturb(WEFT__PP_SHARED_WAKE);
    if (sleepers) weft__shared_wake(&q->sync.seq);
}

/* With the lock held: sleeps (lock let go) until something changes or the deadline. */
static int wait_change(weft_shared_queue *q, int64_t deadline)
{
    atomic_fetch_add_explicit(&q->sync.waiters, 1, memory_order_seq_cst);
    uint32_t seen = atomic_load_explicit(&q->sync.seq, memory_order_seq_cst);
    give(q);
    int rc = weft__shared_wait(&q->sync.seq, seen, deadline);
    atomic_fetch_sub_explicit(&q->sync.waiters, 1, memory_order_relaxed);
    return rc;
}

int weft_shared_queue_put(weft_shared_queue *q, const void *data, size_t len,
                          int64_t timeout)
{
    if (!q || (!data && len)) return -EINVAL;
    if (len > q->max_len) return -EMSGSIZE;   /* before record_size: no wrap-around */
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    uint32_t rec = (uint32_t)record_size(len);
    for (;;) {
        if ((rc = take(q)) != 0) return rc;
        if (atomic_load(&q->shut)) {
            give(q);
            return -ESHUTDOWN;
        }
        uint64_t pos = atomic_load(&q->pos);
        uint32_t items = atomic_load(&q->items);
        if (q->cap - used_of(pos) >= rec && (!q->max_items || items < q->max_items)) {
            uint32_t tail = (uint32_t)((head_of(pos) + used_of(pos)) % q->cap);
            uint64_t len64 = len;
            memcpy(q->ring + tail, &len64, 8);
            copy_in(q, (tail + 8) % q->cap, data, len);
            atomic_store(&q->pos, make_pos(head_of(pos), used_of(pos) + rec));  /* commit */
            atomic_store(&q->items, items + 1);
            give_and_wake(q);
            return 0;
        }
        if ((rc = wait_change(q, deadline)) != 0) return rc;
    }
}

int weft_shared_queue_get(weft_shared_queue *q, void *buf, size_t cap, size_t *len,
                          int64_t timeout)
{
    if (!q || !len || (!buf && cap)) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    for (;;) {
        if ((rc = take(q)) != 0) return rc;
        uint64_t pos = atomic_load(&q->pos);
        if (used_of(pos) > 0) {
            uint64_t n;
            memcpy(&n, q->ring + head_of(pos), 8);
            *len = (size_t)n;
            if (n > cap) {
                give(q);
                return -EMSGSIZE;
            }
            copy_out(q, (head_of(pos) + 8) % q->cap, buf, (size_t)n);
            uint32_t rec = (uint32_t)record_size(n);
            atomic_store(&q->pos, make_pos((head_of(pos) + rec) % q->cap,
                                           used_of(pos) - rec));              /* commit */
            atomic_fetch_sub(&q->items, 1);
            give_and_wake(q);
            return 0;
        }
        if (atomic_load(&q->shut)) {
            give(q);
            return -ESHUTDOWN;
        }
        if ((rc = wait_change(q, deadline)) != 0) return rc;
    }
}

int weft_shared_queue_shutdown(weft_shared_queue *q, bool immediate)
{
    if (!q) return -EINVAL;
    if (weft__shared_lock_take_shielded(&q->lock) == -EOWNERDEAD) repair(q);  /* never cut short */
    atomic_store(&q->shut, 1);
    if (immediate) {
        uint64_t pos = atomic_load(&q->pos);
        atomic_store(&q->pos, make_pos((uint32_t)((head_of(pos) + used_of(pos)) % q->cap), 0));
        atomic_store(&q->items, 0);
    }
    give_and_wake(q);
    return 0;
}

size_t weft_shared_queue_qsize(weft_shared_queue *q)
{
    return q ? atomic_load_explicit(&q->items, memory_order_relaxed) : 0;
}

void weft_shared_queue_destroy(weft_shared_queue *q)
{
    if (q) weft__shared_unmap(q, q->map_size);
}
