/* net/file.c — regular-file I/O off the loop (weft/file.h).
 *
 * A coroutine's call is a job on the "weft-file" pool (created on first use, apart from
 * the resolver's pool in addr.c and the user's pools), awaited with weft_run_in_executor,
 * which follows the hand-off protocol (pool/internal.h): a caller already cancelled or past
 * a deadline scope gets -ECANCELED / -ETIMEDOUT and the call is not made; a wait cut short
 * cancels a job that has not started and otherwise waits for it, so the job never writes
 * into memory its caller has given up; a call that was made reports its real result (an
 * open's descriptor is never lost behind an -ECANCELED). A thread without coroutines calls
 * the system directly: it has nothing to keep running; it looks at cancellation (a pool
 * job's) and its deadline scopes first all the same.
 * Close is the exception: it releases the descriptor whatever the caller's cancellation
 * state and deadline scopes (weft_file_close).
 */
#include "net/internal.h"
#include "pool/internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <weft/file.h>

static weft_pool *_Atomic file_pool;

/* The file pool, made on first use (NULL: not now). */
static weft_pool *file_pool_get(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 4;
    o.name_prefix = "weft-file";
    return weft__lazy_pool(&file_pool, &o);
}

enum op { OPEN, READ, WRITE, STAT, FSTAT, SYNC, CLOSE };

typedef struct call {
    enum op op;
    const char *path;
    int fd, flags;
    mode_t mode;
    void *buf;
    size_t n;
    int64_t offset;
    struct stat *st;
    ssize_t result;
} call;

static ssize_t neg(ssize_t r) { return r < 0 ? -errno : r; }

static ssize_t write_all(const call *c)
{
    size_t done = 0;
    while (done < c->n) {
        const char *p = (const char *)c->buf + done;
        ssize_t r = c->offset < 0 ? write(c->fd, p, c->n - done)
                                  : pwrite(c->fd, p, c->n - done, c->offset + (off_t)done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static ssize_t perform(const call *c)
{
    for (;;) {
        ssize_t r;
        switch (c->op) {
        case OPEN:  r = neg(open(c->path, c->flags | O_CLOEXEC, c->mode)); break;
        case READ:  r = neg(c->offset < 0 ? read(c->fd, c->buf, c->n)
                                          : pread(c->fd, c->buf, c->n, c->offset)); break;
        case WRITE: return write_all(c);
        case STAT:  r = neg(stat(c->path, c->st)); break;
        case FSTAT: r = neg(fstat(c->fd, c->st)); break;
        case SYNC:  r = neg(fsync(c->fd)); break;
        case CLOSE: return neg(close(c->fd));   /* never retried: the fd is gone */
        default:    return -EINVAL;
        }
        if (r != -EINTR) return r;
    }
}

static int job(void *arg, void **result)
{
    (void)result;
    call *c = arg;
    c->result = perform(c);
    return 0;
}

/* A caller whose waits would block its thread anyway (no coroutines to keep running) makes
 * the system call itself. Either way, a caller that is cancelled or past a deadline scope
 * makes no call. */
/* For a compact coroutine, whose frames move while it waits: the file thread gets the
 * record on the heap, with copies of whatever else lies on the caller's stack (the path,
 * the bytes to write, room for the bytes read and the stat), and the caller copies the
 * answer back once the job has ended (the hand-off wait returns only then). */
static ssize_t run_compact(weft_pool *pool, const call *c)
{
    bool path_moves = c->path && weft__on_compact_stack(c->path);
    bool buf_moves = (c->op == READ || c->op == WRITE) && c->n && weft__on_compact_stack(c->buf);
    size_t path_len = path_moves ? strlen(c->path) + 1 : 0;
    size_t bytes = buf_moves ? c->n : 0;
    struct bounce { call c; struct stat st; } *b = weft__malloc(sizeof *b + path_len + bytes);
    if (!b) return -ENOMEM;
    b->c = *c;
    char *tail = (char *)(b + 1);
    if (path_moves) b->c.path = memcpy(tail, c->path, path_len);
    if (buf_moves) {
        b->c.buf = tail + path_len;
        if (c->op == WRITE) memcpy(b->c.buf, c->buf, bytes);
    }
    if (c->st) b->c.st = &b->st;
    int rc = weft_run_in_executor(pool, job, &b->c, NULL);
    ssize_t r = rc ? rc : b->c.result;
    if (!rc && buf_moves && c->op == READ && r > 0) memcpy(c->buf, b->c.buf, (size_t)r);
    if (!rc && c->st && r == 0) *c->st = b->st;
    weft__free(b);
    return r;
}

static ssize_t run(call *c)
{
    int rc = weft__handoff_check();
    if (rc) return rc;
    if (!weft__waits_on_loop(weft__tls_get())) return perform(c);
    weft_pool *pool = file_pool_get();
    if (!pool) return -ENOMEM;
    if (weft__unlikely(weft__in_compact())) return run_compact(pool, c);
    rc = weft_run_in_executor(pool, job, c, NULL);
    return rc ? rc : c->result;    /* rc: the job never ran */
}

int weft_file_open(const char *path, int flags, mode_t mode)
{
    if (!path) return -EINVAL;
    call c = { .op = OPEN, .path = path, .flags = flags, .mode = mode };
    return (int)run(&c);
}

ssize_t weft_file_read(int fd, void *buf, size_t n, int64_t offset)
{
    if (fd < 0 || (!buf && n)) return -EINVAL;
    call c = { .op = READ, .fd = fd, .buf = buf, .n = n, .offset = offset };
    return run(&c);
}

ssize_t weft_file_write(int fd, const void *buf, size_t n, int64_t offset)
{
    if (fd < 0 || (!buf && n)) return -EINVAL;
    call c = { .op = WRITE, .fd = fd, .buf = (void *)buf, .n = n, .offset = offset };
    return run(&c);
}

int weft_file_stat(const char *path, struct stat *st)
{
    if (!path || !st) return -EINVAL;
    call c = { .op = STAT, .path = path, .st = st };
    return (int)run(&c);
}

int weft_file_fstat(int fd, struct stat *st)
{
    if (fd < 0 || !st) return -EINVAL;
    call c = { .op = FSTAT, .fd = fd, .st = st };
    return (int)run(&c);
}

int weft_file_sync(int fd)
{
    if (fd < 0) return -EINVAL;
    call c = { .op = SYNC, .fd = fd };
    return (int)run(&c);
}

/* Never refused, never cut short: cancellation and deadline scopes do not apply (a close
 * that did nothing would leak the descriptor; one abandoned halfway would leave its number
 * to be reused under the caller). The wait for the file thread is shielded and unlimited
 * (close(2) is quick); if the call cannot be handed off (no memory, no file thread), the
 * caller closes the descriptor itself. */
int weft_file_close(int fd)
{
    if (fd < 0) return -EINVAL;
    call c = { .op = CLOSE, .fd = fd };
    if (!weft__waits_on_loop(weft__tls_get())) return (int)perform(&c);
    call *cp = &c;                   /* a compact caller lends a copy on the heap (run_compact) */
    if (weft__in_compact() && !(cp = weft__malloc(sizeof *cp))) return (int)perform(&c);
    *cp = c;
    weft_pool *pool = file_pool_get();
    weft_future *f;
    if (!pool || weft_pool_submit(pool, &f, job, cp) != 0) {
        cp->result = perform(cp);
    } else {
        weft__future_wait(f, WEFT__NO_DEADLINE, true);
        if (weft__future_take(f, NULL) != 0) cp->result = perform(cp);  /* never ran (no way now) */
        weft_future_release(f);
    }
    int r = (int)cp->result;
    if (cp != &c) weft__free(cp);
    return r;
}

#define READ_ALL_MAX (1u << 30)

int weft_file_read_all(const char *path, char **data, size_t *len)
{
    if (!path || !data) return -EINVAL;
    int fd = weft_file_open(path, O_RDONLY, 0);
    if (fd < 0) return fd;
    struct stat st;
    int rc = weft_file_fstat(fd, &st);
    size_t cap = rc == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    size_t used = 0;
    char *buf = NULL;
    while (rc == 0) {
        if (cap > READ_ALL_MAX + 1) { rc = -EFBIG; break; }
        char *b = weft__realloc(buf, cap);
        if (!b) { rc = -ENOMEM; break; }
        buf = b;
        /* Full (at the size fstat gave, say): one byte, read into the NUL's place, tells
         * whether the file goes on; only then grow (doubling right away took twice the
         * memory, and refused files over 512 MiB with -EFBIG). */
        size_t room = cap - 1 - used;
        ssize_t r = weft_file_read(fd, buf + used, room ? room : 1, -1);
        if (r < 0) { rc = (int)r; break; }
        if (r == 0) break;
        used += (size_t)r;
        if (used == cap)
            cap = used > READ_ALL_MAX ? READ_ALL_MAX + 2           /* over 1 GiB: -EFBIG */
                : used > READ_ALL_MAX / 2 ? READ_ALL_MAX + 1 : 2 * used;
    }
    weft_file_close(fd);
    if (rc) {
        weft__free(buf);
        return rc;
    }
    if (!buf && !(buf = weft__malloc(1))) return -ENOMEM;
    buf[used] = '\0';
    *data = buf;
    if (len) *len = used;
    return 0;
}
