/* dist/internal.h — what libweft_dist's files share: a list, a byte buffer, Redis URLs,
 * and blocking socket helpers for the I/O threads. Uses weft's public API only. */
#ifndef WEFT_DIST_INTERNAL_H
#define WEFT_DIST_INTERNAL_H

#include <weft.h>
#include <weft/redis.h>
#include <weft/dist.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- an intrusive doubly linked list ---------------------------------------------------- */

typedef struct dlist {
    struct dlist *prev, *next;
} dlist;

#define dlist_entry(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static inline void dlist_init(dlist *l) { l->prev = l->next = l; }
static inline bool dlist_empty(const dlist *l) { return l->next == l; }

static inline void dlist_push_back(dlist *l, dlist *n)
{
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}

static inline void dlist_unlink(dlist *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static inline dlist *dlist_pop_front(dlist *l)
{
    dlist *n = l->next;
    dlist_unlink(n);
    return n;
}

/* ---- a growable byte buffer: bytes [off, len) are pending ------------------------------- */

typedef struct dbuf {
    char *p;
    size_t len, cap, off;
} dbuf;

/* Appends n bytes: 0 or -ENOMEM (the buffer unchanged). */
int dbuf_append(dbuf *b, const void *data, size_t n);

/* ---- Redis URLs --------------------------------------------------------------------------- */

typedef struct dist_url {
    char *host;                      /* NULL for a Unix socket */
    uint16_t port;
    char *path;                      /* the Unix socket's path, or NULL */
    char *user, *password;           /* NULL if absent */
    int db;
} dist_url;

/* Parses redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]: 0, -EINVAL,
 * -ENOMEM. */
int dist_url_parse(dist_url *u, const char *url);
void dist_url_free(dist_url *u);

/* ---- blocking socket helpers (the I/O threads; from a coroutine the connect parks) ------- */

/* Connects to u within timeout: *fd a non-blocking, close-on-exec descriptor. 0 or the
 * connect's error. */
int dist_connect(const dist_url *u, int64_t timeout, int *fd);
/* Writes all n bytes (poll between partial writes) within timeout: 0 or -errno. */
int dist_write_all(int fd, const void *p, size_t n, int64_t timeout);
/* Reads what is there (waiting until the absolute deadline on weft_now's clock): bytes
 * read, 0 at end of file, or -errno (-ETIMEDOUT). */
ssize_t dist_read_some(int fd, void *p, size_t n, int64_t deadline);

/* ---- the connection's internal calls (dist/redis.c) ------------------------------------- */

/* Told a command's outcome on the connection's I/O thread (or the closer's): err 0 and the
 * reply (an error reply included; valid during the call), or an error and NULL. Must not
 * block. */
typedef void (*dist_reply_cb)(void *arg, int err, const weft_redis_reply *reply);
/* weft_redis_send without a future for the caller: cb gets the outcome. Never blocks. */
int dist_redis_send_cb(weft_redis *r, int argc, const char *const *argv, const size_t *lens,
                       dist_reply_cb cb, void *arg);
/* A command sent on every new connection before anything else (SCRIPT LOAD: a restarted
 * server has lost the scripts, and an EVALSHA on a connection is always preceded by them).
 * Its error reply fails the connection attempt. */
int dist_redis_add_init(weft_redis *r, int argc, const char *const *argv);

/* Parses n bytes of RESP as one reply, with the connection's reply functions and the
 * max_reply limit (for the fuzzer and tests): 0 and *out (free it), -EAGAIN (not whole),
 * -EMSGSIZE (over max_reply), -EPROTO (not RESP). Any context. */
int dist_reply_parse(const char *buf, size_t n, size_t max_reply, weft_redis_reply **out);

/* ---- task messages as a worker reads them (dist/message.c) ------------------------------
 * Everything a worker takes from the server goes through these two decoders before use:
 * every field's type, size and syntax checked. A message that fails is dead-lettered by
 * the caller (recorded as WEFT_EBADTASK or -EMSGSIZE), never half used. */

enum { DIST_ID_MAX = 95,             /* a task id: 1..95 printable ASCII bytes, no space */
       DIST_NAME_MAX = 256,          /* a task name: 1..256 bytes, no NUL */
       DIST_MSGID_MAX = 47 };        /* a stream entry id ("<ms>-<seq>") */

/* A stream entry of the queue: its stream id, and the task id it carries. */
typedef struct dist_entry {
    char msgid[DIST_MSGID_MAX + 1];
    char id[DIST_ID_MAX + 1];        /* "" if the entry is malformed */
} dist_entry;

/* Decodes a stream entry ([msgid, [field, value...]]): 0 with *e filled — e->id empty
 * when the fields are not exactly {id: <task id>} (the caller dead-letters it) — or
 * -EPROTO when it has no usable stream id (nothing can be done with it: left pending). */
int dist_decode_entry(const weft_redis_reply *entry, dist_entry *e);

/* What the START script gave for a task to run. name and arg point into the reply. */
typedef struct dist_start {
    long long attempt;               /* this run's number (1...) */
    long long failures;              /* runs that returned an error */
    long long timeout_ms;            /* 0: none */
    const char *name;                /* NUL-terminated, no NUL inside */
    const void *arg;
    size_t arg_len;                  /* <= max_message */
} dist_start;

/* Decodes START's reply: 1 (run it: *s filled), 0 (it has a result already: acknowledge
 * only), or the outcome to record instead of a run: WEFT_EBADTASK (gone, malformed: a
 * field of the wrong type, a name too long or with a NUL, a number that is not a plain
 * decimal in range), -EMSGSIZE (the argument is over max_message). */
int dist_decode_start(const weft_redis_reply *r, size_t max_message, dist_start *s);

#endif /* WEFT_DIST_INTERNAL_H */
