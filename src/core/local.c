/* core/local.c — weft_local, Python's threading.local: a value per thread, with a destructor.
 *
 * Each weft_local has a small integer id; each thread has an array of entry pointers indexed
 * by id (weft__tls_self.locals), so get and set take no lock. Each entry is also linked into
 * its local's list, so that weft_local_destroy can reach the values of every thread.
 *
 * Locking: one registry mutex guards the ids, every local's entry list, and an entry's
 * owner and value whenever a thread other than the entry's own may look (thread exit,
 * destroy). The entry's own thread reads and writes its value without the lock: the
 * contract of weft_local_destroy (nobody else uses the local meanwhile) keeps those apart.
 * An entry belongs to its thread's slot array for the thread's whole life; destroy only
 * detaches it (owner = NULL), and a later local that reuses the id takes it over.
 */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

struct weft_local {
    uint32_t id;
    void (*dtor)(void *);
    weft__list entries;              /* registry lock */
};

typedef struct local_entry {
    _Atomic(weft_local *) owner;     /* NULL once detached; written under the registry lock */
    void *value;
    weft__list link;                 /* in owner->entries; registry lock */
} local_entry;

struct weft__local_slots {
    uint32_t n;
    local_entry *slot[];
};

static weft__mutex registry = WEFT__MUTEX_INIT;
static uint32_t next_id;             /* registry lock */
static uint32_t *free_ids;           /* registry lock: ids of destroyed locals */
static uint32_t n_free, cap_free;

int weft_local_create(weft_local **out, void (*dtor)(void *))
{
    if (!out) return -EINVAL;
    weft_local *l = weft__malloc(sizeof *l);
    if (!l) return -ENOMEM;
    l->dtor = dtor;
    weft__list_init(&l->entries);
    weft__mutex_lock(&registry);
    l->id = n_free ? free_ids[--n_free] : next_id++;
    weft__mutex_unlock(&registry);
    *out = l;
    return 0;
}

static local_entry *find_entry(const weft_local *l)
{
    struct weft__local_slots *s = weft__tls_self.locals;
    if (!s || l->id >= s->n) return NULL;
    return s->slot[l->id];
}

void *weft_local_get(weft_local *l)
{
    if (!l) return NULL;
    local_entry *e = find_entry(l);
    if (!e || atomic_load_explicit(&e->owner, memory_order_relaxed) != l) return NULL;
    return e->value;
}

/* Grows the calling thread's slot array to hold id. */
static int grow_slots(uint32_t id)
{
    weft__tls *t = weft__tls_get();
    uint32_t old_n = t->locals ? t->locals->n : 0;
    uint32_t n = old_n ? old_n : 8;
    while (n <= id) n *= 2;
    struct weft__local_slots *s =
        weft__malloc(sizeof *s + (size_t)n * sizeof(local_entry *));
    if (!s) return -ENOMEM;
    s->n = n;
    memset(s->slot, 0, (size_t)n * sizeof(local_entry *));
    if (t->locals) {
        memcpy(s->slot, t->locals->slot, (size_t)old_n * sizeof(local_entry *));
        weft__free(t->locals);
    }
    t->locals = s;
    weft__tls_arm_exit_hook();
    return 0;
}

int weft_local_set(weft_local *l, void *value)
{
    if (!l) return -EINVAL;
    local_entry *e = find_entry(l);
    if (!e) {
        if (!value) return 0;
        if (!weft__tls_self.locals || l->id >= weft__tls_self.locals->n) {
            int rc = grow_slots(l->id);
            if (rc) return rc;
        }
        e = weft__calloc(1, sizeof *e);
        if (!e) return -ENOMEM;
        weft__tls_self.locals->slot[l->id] = e;
    }
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) != l) {
        /* New, or left behind by a destroyed local with the same id: adopt it. */
        weft__mutex_lock(&registry);
        e->value = NULL;
        atomic_store_explicit(&e->owner, l, memory_order_relaxed);
        weft__list_push_back(&l->entries, &e->link);
        weft__mutex_unlock(&registry);
    }
    void *old = e->value;
    e->value = value;
    if (old && old != value && l->dtor) l->dtor(old);
    return 0;
}

void weft_local_destroy(weft_local *l)
{
    if (!l) return;
    for (;;) {
        weft__mutex_lock(&registry);
        weft__list *n = weft__list_pop_front(&l->entries);
        if (!n) break;
        local_entry *e = weft__container_of(n, local_entry, link);
        void *value = e->value;
        e->value = NULL;
        atomic_store_explicit(&e->owner, NULL, memory_order_relaxed);
        weft__mutex_unlock(&registry);
        if (value && l->dtor) l->dtor(value);
    }
    /* Still holding the registry lock. */
    if (n_free == cap_free) {
        uint32_t cap = cap_free ? cap_free * 2 : 16;
        uint32_t *ids = weft__realloc(free_ids, cap * sizeof *ids);
        if (ids) { free_ids = ids; cap_free = cap; }
    }
    if (n_free < cap_free) free_ids[n_free++] = l->id;  /* else the id is simply not reused */
    weft__mutex_unlock(&registry);
    weft__free(l);
}

/* Thread exit: every value of this thread goes to its local's destructor. A destructor
 * that sets values again gets a few more rounds, as pthread keys do. */
void weft__locals_thread_exit(void)
{
    weft__tls *t = weft__tls_get();
    for (int round = 0; round < 4 && t->locals; round++) {
        struct weft__local_slots *s = t->locals;
        t->locals = NULL;            /* a destructor's weft_local_set starts a fresh array */
        for (uint32_t i = 0; i < s->n; i++) {
            local_entry *e = s->slot[i];
            if (!e) continue;
            weft__mutex_lock(&registry);
            weft_local *l = atomic_load_explicit(&e->owner, memory_order_relaxed);
            void *value = e->value;
            void (*dtor)(void *) = l ? l->dtor : NULL;
            if (l) weft__list_unlink(&e->link);
            weft__mutex_unlock(&registry);
            weft__free(e);
            if (value && dtor) dtor(value);
        }
        weft__free(s);
    }
}
