/* proc/procpool.c — the process pool (weft/procpool.h).
 *
 * One manager thread per pool owns the workers: it forks them (weft_process_start, daemon),
 * writes tasks into their sockets, reads their results, notices their deaths (the socket's
 * end and the pidfd, in one poll(2)), kills the ones past a task's timeout or running a
 * cancelled task, and starts replacements. Submitters and cancellers only touch the queue.
 *
 * Wire format, over a SOCK_STREAM socketpair, each message a header and its bytes:
 *   task   { id, fn, len } + len bytes       (fn 0: "leave now")
 *   result { id, rc, len } + len bytes       (id 0: the worker's greeting after its
 *                                             initializer, rc its return value)
 * Both directions are bounded by opts.max_message: a larger argument is refused at submit
 * (-EMSGSIZE), a worker replaces a larger result by -EMSGSIZE, and the manager takes a
 * result frame that claims more (a worker whose memory a task has overwritten), or one
 * that is malformed or answers another task than the one running, as that worker's
 * failure: it is killed and its task fails (-EMSGSIZE, -EPROTO); nothing waits for, or
 * allocates, what the header claims.
 * A worker runs its tasks one at a time, in order, and writes each result as soon as the
 * task ends: so every result a worker wrote before dying is read, the oldest task without
 * a result is the one it was running, and the tasks behind it were never begun (they go
 * back to the front of the queue). Up to DEPTH tasks wait in each worker's socket, so that
 * small tasks cost a share of a write and a read, not a round trip each.
 *
 * Locking: `mu` guards the queue, the pool's flags and the tasks' QUEUED -> SENT step;
 * the workers (their sockets, buffers and lists of sent tasks) belong to the manager thread
 * alone. A task's state is atomic: QUEUED (on the queue, under mu), SENT (on a worker's
 * list), DONE. A cancel of a QUEUED task completes it at once (under mu it leaves the
 * queue); of a SENT task it sets cancel_req, which the manager acts on when the task is the
 * one its worker runs (then it kills the worker).
 */
#include "proc/internal.h"
#include "future/internal.h"

#include <weft/process.h>
#include <weft/procpool.h>

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { QUEUED, SENT, DONE };
enum { DEPTH = 64, OUT_HIGH = 256 * 1024, MAX_WORKERS = 256, BOOT_FAILURES = 5 };

typedef struct { uint64_t id, fn, len; } task_hdr;
typedef weft__pp_result_hdr result_hdr;

typedef struct pbytes {
    size_t len;
    unsigned char data[];
} pbytes;

typedef struct ptask {
    weft_future fut;                 /* first: the future is the task */
    weft__list link;                 /* the queue (mu) or a worker's sent list (manager) */
    _Atomic int state;
    _Atomic bool cancel_req;         /* cancelled while SENT */
    weft_procpool *pool;             /* used while not DONE (a pool outlives those) */
    weft_proc_task fn;
    uint64_t id;
    pbytes *res;                     /* the result bytes, once done */
    size_t len;
    unsigned char arg[];             /* the argument's copy */
} ptask;

typedef struct buf {
    unsigned char *p;
    size_t len, cap, off;            /* bytes [off, len) are pending */
} buf;

typedef struct worker {
    weft_process *proc;
    int fd;                          /* the manager's end, non-blocking */
    int pidfd;
    bool ready;                      /* greeted: its initializer succeeded */
    bool leaving;                    /* sent "leave" (max tasks, shutdown) */
    bool dead;
    bool misbehaved;                 /* it broke the protocol: nothing more of it is read
                                        (dead alone — a kill, a timeout, EOF — still lets
                                        bury read the results it wrote before) */
    int kill_reason;                 /* 0, -ETIMEDOUT, -ECANCELED, -EMSGSIZE or -EPROTO
                                        (it broke the protocol): why we killed it */
    const struct ptask *kill_task;   /* the task it was running then */
    weft__list sent;                 /* ptask.link, oldest first */
    int nsent;
    unsigned long total;             /* tasks ever sent to it */
    int64_t head_start;              /* when the oldest sent task began */
    int64_t read_again_at;           /* reading ran out of memory: not polled till then */
    buf out, in;                     /* out always has room for one more header (the
                                        "leave" message needs no allocation) */
} worker;

struct weft_procpool {
    _Atomic long refs;               /* the owner's, and one per future: a late cancel on a
                                        future finds the pool's memory (and mu) alive */
    bool destroy_on_exit;            /* destroyed from the manager thread (a done-callback):
                                        the manager frees the pool as it ends */
    bool destroy_deferred;           /* destroyed from a done-callback that shutdown's own
                                        cancels ran: shutdown finishes the destroy */
    pthread_mutex_t mu;
    weft__list queue;                /* ptask.link: QUEUED, in order */
    bool shutdown, broken;
    bool sleeping, woken;            /* the manager in poll; an eventfd write pending */
    int evfd;
    weft_thread *manager;
    weft_procpool_opts o;
    uint64_t next_id;                /* mu */
    _Atomic int alive;
    _Atomic unsigned long replaced;
    /* the manager's */
    worker *w[MAX_WORKERS];
    int boot_failures;               /* deaths in a row before a greeting */
    int64_t mean_task_ns;            /* a moving mean of task times (0: none yet) */
    int64_t dispatch_again_at;       /* queueing to a worker ran out of memory: retry then */
    weft_event *started;             /* set once the first workers are up (start_rc) */
    int start_rc;
};

/* ---- futures ---------------------------------------------------------------------------- */

/* The pool's memory goes with the last of its owner's and its futures' references. */
static void pool_unref(weft_procpool *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
    pthread_mutex_destroy(&p->mu);
    weft__free(p);
}

static void ptask_free(weft_future *f)
{
    ptask *t = (ptask *)f;
    weft_procpool *p = t->pool;
    weft__free(t->res);
    weft__free(t);
    pool_unref(p);
}

_Atomic unsigned long weft__procpool_memory_retries = 0;

/* The pool whose manager the calling thread is (NULL on any other thread). */
static _Thread_local weft_procpool *managing;
/* The pool whose shutdown is running the done-callbacks of the tasks it cancelled on the
 * calling thread (NULL otherwise). */
static _Thread_local weft_procpool *cancelling;

static void destroy_now(weft_procpool *p);

static int ptask_cancel(weft_future *f);

static const weft__future_ops ptask_ops = { ptask_cancel, ptask_free, NULL, NULL, NULL, NULL };

/* Completes t and drops the pool's reference. Any thread; no lock held. */
static void finish(ptask *t, int err, pbytes *res)
{
    atomic_store(&t->state, DONE);
    t->res = res;
    if (err == -ECANCELED) atomic_store(&t->fut.cancel_requested, 1);
    weft__future_complete(&t->fut, err, res);
    weft_future_release(&t->fut);
}

/* ---- small helpers ------------------------------------------------------------------------ */

static int buf_reserve(buf *b, size_t more)
{
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + more <= b->cap) return 0;
    if (b->off) {                                 /* slide the pending bytes down */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap) return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    unsigned char *p = weft__realloc(b->p, cap);
    if (!p) return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static void wake(weft_procpool *p)                /* with mu held */
{
    if (p->sleeping && !p->woken) {
        p->woken = true;
        uint64_t one = 1;
        ssize_t r = write(p->evfd, &one, sizeof one);
        (void)r;
    }
}

/* ---- the worker process ------------------------------------------------------------------ */

typedef struct boot {
    weft_procpool *pool;
    int fd;                                      /* the worker's end */
    int other;                                   /* the manager's end */
} boot;

static int read_full_fd(int fd, void *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full_fd(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t r = writev(fd, iov, n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        size_t k = (size_t)r;
        while (n > 0 && k >= iov->iov_len) {
            k -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= k;
        }
    }
    return 0;
}

/* A buffered reader over the worker's socket (blocking reads). */
typedef struct reader {
    int fd;
    unsigned char b[65536];
    size_t off, len;
} reader;

static int reader_get(reader *r, void *dst, size_t n)
{
    unsigned char *d = dst;
    while (n > 0) {
        if (r->off == r->len) {
            if (n >= sizeof r->b) return read_full_fd(r->fd, d, n);
            ssize_t k;
            do k = read(r->fd, r->b, sizeof r->b); while (k < 0 && errno == EINTR);
            if (k <= 0) return -1;
            r->off = 0;
            r->len = (size_t)k;
        }
        size_t m = r->len - r->off < n ? r->len - r->off : n;
        memcpy(d, r->b + r->off, m);
        r->off += m;
        d += m;
        n -= m;
    }
    return 0;
}

static int worker_main(void *arg)
{
    boot *b = arg;
    weft_procpool *p = b->pool;
    sigset_t none;                                /* the manager's mask (every asynchronous */
    sigemptyset(&none);                           /* signal blocked) is not the tasks' */
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_IGN);                      /* Ctrl+C is the parent's to handle */
    signal(SIGPIPE, SIG_IGN);                     /* a write to a gone manager fails */
    /* The manager's ends of every pool's sockets are /dev/null here already (core/
     * parent_fd.c): close them, with this pool's pidfds and eventfd, which are the
     * manager's too. */
    for (int i = 0; i < MAX_WORKERS; i++)
        if (p->w[i]) {
            close(p->w[i]->fd);
            close(p->w[i]->pidfd);
        }
    close(b->other);
    close(p->evfd);
    int rc = p->o.initializer ? p->o.initializer(p->o.initarg) : 0;
    result_hdr hello = { 0, rc, 0 };
    struct iovec hv[1] = { { &hello, sizeof hello } };
    if (write_full_fd(b->fd, hv, 1) != 0 || rc != 0) return 1;
    reader *r = malloc(sizeof *r);
    if (!r) return 1;
    r->fd = b->fd;
    r->off = r->len = 0;
    for (;;) {
        task_hdr h;
        if (reader_get(r, &h, sizeof h) != 0 || h.fn == 0) break;
        void *a = malloc(h.len ? h.len : 1);
        if (!a || reader_get(r, a, h.len) != 0) return 1;
        void *out = NULL;
        size_t out_len = 0;
        weft_proc_task fn = (weft_proc_task)(uintptr_t)h.fn;
        int trc = fn(a, h.len, &out, &out_len);
        free(a);
        if (trc >= 0 && out_len > p->o.max_message) {
            trc = -EMSGSIZE;                      /* the manager would refuse it */
            free(out);
            out = NULL;
        }
        result_hdr rh = { h.id, trc, trc < 0 ? 0 : out_len };
        struct iovec v[2] = { { &rh, sizeof rh }, { out, rh.len } };
        int wrc = write_full_fd(b->fd, v, rh.len ? 2 : 1);
        free(out);
        if (wrc != 0) break;
    }
    free(r);
    return 0;
}

/* ---- the manager ------------------------------------------------------------------------ */

/* Starts a worker in slot i. Manager thread. 0 or -errno. */
static int start_worker(weft_procpool *p, int i)
{
    /* Both ends are registered as the parent's (core/parent_fd.c): no other process forked
     * from here keeps them, this pool's workers and other pools' included; the worker's
     * end is left open in the one fork that hands it to the worker. */
    int sv[2];
    int rc = weft__parent_socketpair(sv, SOCK_CLOEXEC);
    if (rc) return rc;
    worker *w = weft__calloc(1, sizeof *w);
    if (w && buf_reserve(&w->out, sizeof(task_hdr)) != 0) {
        weft__free(w);
        w = NULL;
    }
    if (!w) {
        weft__parent_fd_close(sv[0]);
        weft__parent_fd_close(sv[1]);
        return -ENOMEM;
    }
    weft__list_init(&w->sent);
    w->fd = -1;
    boot b = { p, sv[1], sv[0] };
    weft_process_opts po = WEFT_PROCESS_OPTS_INIT;
    po.daemon = true;
    weft__parent_fd_keep_in_child(sv[1]);
    rc = weft_process_start(&w->proc, &po, worker_main, &b);
    weft__parent_fd_keep_in_child(-1);
    weft__parent_fd_close(sv[1]);
    if (rc) {
        weft__parent_fd_close(sv[0]);
        weft__free(w->out.p);
        weft__free(w);
        return rc;
    }
    w->fd = sv[0];
    fcntl(w->fd, F_SETFL, O_NONBLOCK);
    w->pidfd = weft__process_pidfd(w->proc);
    p->w[i] = w;
    atomic_fetch_add(&p->alive, 1);
    return 0;
}

/* Appends task t to w's output, keeping room for one more header. Manager thread. 0 or
 * -ENOMEM. */
static int queue_to_worker(worker *w, ptask *t)
{
    if (buf_reserve(&w->out, 2 * sizeof(task_hdr) + t->len) != 0) return -ENOMEM;
    task_hdr h = { t->id, (uint64_t)(uintptr_t)t->fn, t->len };
    memcpy(w->out.p + w->out.len, &h, sizeof h);
    memcpy(w->out.p + w->out.len + sizeof h, t->arg, t->len);
    w->out.len += sizeof h + t->len;
    return 0;
}

/* Tells w to leave once its tasks are done. Never allocates (out keeps room for it). */
static void send_leave(worker *w)
{
    if (w->leaving) return;
    w->leaving = true;
    if (buf_reserve(&w->out, sizeof(task_hdr)) != 0)
        weft__fatal("procpool: no room kept for the leave message");
    task_hdr h = { 0, 0, 0 };
    memcpy(w->out.p + w->out.len, &h, sizeof h);
    w->out.len += sizeof h;
}

/* How many tasks a worker may hold (running and waiting in its socket): deep for tasks
 * that take microseconds (the pipe's cost is shared), shallow for long ones (a task
 * queued behind a long one on a busy worker would wait while another worker idles).
 * Follows the mean task time, measured as results come in. */
static int depth_for(const weft_procpool *p)
{
    if (p->mean_task_ns == 0) return 1;              /* nothing measured yet */
    if (p->mean_task_ns < 50 * 1000) return DEPTH;
    if (p->mean_task_ns < 1000 * 1000) return 8;
    return 1;
}

static bool can_take(const weft_procpool *p, const worker *w, int depth)
{
    return w && w->ready && !w->leaving && !w->dead && w->nsent < depth &&
           w->out.len - w->out.off < OUT_HIGH &&
           (p->o.max_tasks_per_child == 0 ||
            w->total < (unsigned long)p->o.max_tasks_per_child);
}

/* Moves queued tasks to ready workers, each to the one holding the fewest. Manager, with
 * mu held. Out of memory, the rest stays queued and is tried again 10 ms later. */
static void dispatch_locked(weft_procpool *p, int64_t now)
{
    if (now < p->dispatch_again_at) return;
    int depth = depth_for(p);
    while (!weft__list_empty(&p->queue)) {
        worker *w = NULL;
        for (int i = 0; i < p->o.workers; i++)
            if (can_take(p, p->w[i], depth) && (!w || p->w[i]->nsent < w->nsent)) w = p->w[i];
        if (!w) break;
        ptask *t = weft__container_of(p->queue.next, ptask, link);
        if (queue_to_worker(w, t) != 0) {
            atomic_fetch_add(&weft__procpool_memory_retries, 1);
            p->dispatch_again_at = now + 10 * WEFT_MS;
            break;
        }
        weft__list_unlink(&t->link);
        atomic_store(&t->state, SENT);
        weft__list_push_back(&w->sent, &t->link);
        if (w->nsent++ == 0) w->head_start = now;
        w->total++;
        if (p->o.max_tasks_per_child && w->total >= (unsigned long)p->o.max_tasks_per_child)
            send_leave(w);
    }
}

ssize_t weft__procpool_decode(const void *buf, size_t have, size_t max_len,
                              weft__pp_frame *f)
{
    result_hdr h;
    if (have < sizeof h) return 0;
    memcpy(&h, buf, sizeof h);                    /* (buf need not be aligned) */
    if (h.len > max_len || h.len > (uint64_t)SSIZE_MAX - sizeof h) return -EMSGSIZE;
    if (h.rc < INT_MIN || h.rc > INT_MAX || (h.rc < 0 && h.len)) return -EPROTO;
    if (have - sizeof h < h.len) return 0;
    f->id = h.id;
    f->rc = (int)h.rc;
    f->len = (size_t)h.len;
    f->data = (const unsigned char *)buf + sizeof h;
    return (ssize_t)(sizeof h + h.len);
}

/* w broke the protocol (err: -EMSGSIZE, -EPROTO): it is killed, its running task fails
 * with err. Manager thread. */
static void worker_misbehaved(worker *w, int err)
{
    w->dead = true;
    w->misbehaved = true;
    w->kill_reason = err;
    w->kill_task = weft__list_empty(&w->sent) ? NULL
                                               : weft__container_of(w->sent.next, ptask, link);
}

/* Parses the results in w's input. Manager thread. */
static void take_results(weft_procpool *p, worker *w)
{
    for (;;) {
        if (w->misbehaved) {                      /* nothing more of it is read */
            w->in.off = w->in.len;
            break;
        }
        weft__pp_frame h;
        ssize_t used = weft__procpool_decode(w->in.p + w->in.off, w->in.len - w->in.off,
                                             p->o.max_message, &h);
        if (used == 0) break;
        if (used < 0) {
            worker_misbehaved(w, (int)used);
            continue;
        }
        /* Results come in the order of the tasks sent, after one greeting: anything else
         * is a worker gone wrong. */
        bool ok = h.id == 0 ? !w->ready
                            : w->ready && !weft__list_empty(&w->sent) &&
                                  weft__container_of(w->sent.next, ptask, link)->id == h.id;
        if (!ok) {
            worker_misbehaved(w, -EPROTO);
            continue;
        }
        const unsigned char *data = h.data;
        w->in.off += (size_t)used;
        if (h.id == 0) {                          /* the greeting */
            if (h.rc == 0) {
                w->ready = true;
                p->boot_failures = 0;
            } else {
                pthread_mutex_lock(&p->mu);
                p->broken = true;
                pthread_mutex_unlock(&p->mu);
            }
            continue;
        }
        if (weft__list_empty(&w->sent)) continue;                 /* cannot happen */
        ptask *t = weft__container_of(w->sent.next, ptask, link);
        weft__list_unlink(&t->link);
        w->nsent--;
        int64_t now = weft_now();
        int64_t took = now - w->head_start;
        p->mean_task_ns = p->mean_task_ns ? p->mean_task_ns + (took - p->mean_task_ns) / 8 : took;
        w->head_start = now;
        pbytes *res = NULL;
        int err = h.rc < 0 ? (int)h.rc : 0;
        if (!err && h.len) {
            res = weft__malloc(sizeof *res + h.len);
            if (!res) err = -ENOMEM;
            else {
                res->len = h.len;
                memcpy(res->data, data, h.len);
            }
        }
        finish(t, err, res);
    }
    if (w->in.off == w->in.len) {
        w->in.off = w->in.len = 0;
        if (w->in.cap > (1u << 20)) {            /* after a big result: give it back */
            weft__free(w->in.p);
            w->in.p = NULL;
            w->in.cap = 0;
        }
    }
}

/* Reads what w has sent and settles the tasks whose results are whole. 1: nothing more
 * for now; 0: its end (EOF or an error); -ENOMEM: no memory for the bytes waiting (they
 * stay in the socket). Manager thread. */
static int read_worker(weft_procpool *p, worker *w)
{
    for (;;) {
        if (buf_reserve(&w->in, 65536) != 0) return -ENOMEM;
        ssize_t r = read(w->fd, w->in.p + w->in.len, w->in.cap - w->in.len);
        if (r > 0) {
            w->in.len += (size_t)r;
            take_results(p, w);
            if (w->misbehaved) return 1;          /* killed next, not read */
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return 1;
        return 0;
    }
}

static void write_worker(worker *w)
{
    while (w->out.off < w->out.len) {
        /* MSG_NOSIGNAL: a worker that died must not bring SIGPIPE to the program. */
        ssize_t r = send(w->fd, w->out.p + w->out.off, w->out.len - w->out.off, MSG_NOSIGNAL);
        if (r > 0) {
            w->out.off += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        return;                                   /* EAGAIN, or gone: its death follows */
    }
    w->out.off = w->out.len = 0;
}

/* w has ended (or must): kill it if it still runs, reap it, settle its tasks, free it. */
static void fail_all(weft__list *l, int err);

static void bury(weft_procpool *p, int i)
{
    worker *w = p->w[i];
    weft_process_kill(w->proc);                   /* -ESRCH if it has ended: harmless */
    int code = 0;
    weft_process_join(w->proc, WEFT_FOREVER, &code);
    /* Every result it wrote before dying. Short of memory for them, try for a while; if
     * they still cannot be read, nobody can tell which of its tasks ran: they all fail
     * (run at most once) instead of going back to the queue. */
    int rd;
    for (int tries = 0; (rd = read_worker(p, w)) == -ENOMEM && tries < 100; tries++) {
        atomic_fetch_add(&weft__procpool_memory_retries, 1);
        nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
    }
    bool unread = rd == -ENOMEM;
    weft_process_release(w->proc);
    weft__parent_fd_close(w->fd);
    /* A worker that ended on its own before its greeting (its initializer crashed or
     * exited) counts towards breaking the pool; one killed from outside (SIGKILL: kill -9,
     * the OOM killer, or ourselves) does not: a newborn worker may be killed like any. */
    if (!w->ready && code != -SIGKILL) p->boot_failures++;
    /* The oldest sent task was running: it fails; the others were never begun: back to
     * the front of the queue, in their order — or, cancelled meanwhile, done (the check
     * under mu: a canceller decides by the state under mu too). */
    if (!weft__list_empty(&w->sent)) {
        ptask *t = weft__container_of(weft__list_pop_front(&w->sent), ptask, link);
        /* The kill's reason is that task's only: if its result came in before the kill
         * landed, the one after it was cut short by the kill and simply died. */
        finish(t, w->kill_reason && t == w->kill_task ? w->kill_reason : WEFT_EWORKERDIED,
               NULL);
    }
    weft__list cancelled;
    weft__list_init(&cancelled);
    if (unread) {
        while (!weft__list_empty(&w->sent)) {
            ptask *t = weft__container_of(weft__list_pop_front(&w->sent), ptask, link);
            finish(t, WEFT_EWORKERDIED, NULL);
        }
    }
    pthread_mutex_lock(&p->mu);
    while (!weft__list_empty(&w->sent)) {
        ptask *t = weft__container_of(w->sent.prev, ptask, link);
        weft__list_unlink(&t->link);
        if (atomic_load(&t->cancel_req)) {
            atomic_store(&t->state, DONE);
            weft__list_push_back(&cancelled, &t->link);
        } else {
            atomic_store(&t->state, QUEUED);
            weft__list_push_front(&p->queue, &t->link);
        }
    }
    if (p->boot_failures >= BOOT_FAILURES) p->broken = true;
    pthread_mutex_unlock(&p->mu);
    fail_all(&cancelled, -ECANCELED);
    weft__free(w->out.p);
    weft__free(w->in.p);
    weft__free(w);
    p->w[i] = NULL;
    atomic_fetch_sub(&p->alive, 1);
}

/* With mu held: fails every queued task with err (moved to out, completed after unlock). */
static void drain_queue_locked(weft_procpool *p, weft__list *out)
{
    while (!weft__list_empty(&p->queue)) {
        weft__list *l = weft__list_pop_front(&p->queue);
        atomic_store(&weft__container_of(l, ptask, link)->state, DONE);
        weft__list_push_back(out, l);
    }
}

static void fail_all(weft__list *l, int err)
{
    while (!weft__list_empty(l))
        finish(weft__container_of(weft__list_pop_front(l), ptask, link), err, NULL);
}

static int manager_main(void *arg, void **result)
{
    (void)result;
    weft_procpool *p = arg;
    managing = p;
    /* The first workers, forked by this thread: a daemon worker gets the parent-death
     * signal when the thread that forked it ends, and this one lives as long as the pool. */
    int rc = 0;
    for (int i = 0; i < p->o.workers && rc == 0; i++) rc = start_worker(p, i);
    p->start_rc = rc;
    if (rc) {
        for (int i = 0; i < p->o.workers; i++)
            if (p->w[i]) bury(p, i);
        weft_event_set(p->started);
        return 0;
    }
    weft_event_set(p->started);
    int64_t retry_at = 0;                         /* a failed start is tried again then */
    for (;;) {
        int64_t now = weft_now();
        /* Kill the workers running a task past its timeout, or a cancelled one. */
        for (int i = 0; i < p->o.workers; i++) {
            worker *w = p->w[i];
            if (!w || w->dead || weft__list_empty(&w->sent)) continue;
            ptask *head = weft__container_of(w->sent.next, ptask, link);
            int why = 0;
            if (atomic_load(&head->cancel_req)) why = -ECANCELED;
            else if (p->o.task_timeout > 0 && now - w->head_start >= p->o.task_timeout)
                why = -ETIMEDOUT;
            if (why) {
                w->kill_reason = why;
                w->kill_task = head;
                w->dead = true;
            }
        }
        for (int i = 0; i < p->o.workers; i++)
            if (p->w[i] && p->w[i]->dead) {
                bury(p, i);
                atomic_fetch_add(&p->replaced, 1);
            }
        pthread_mutex_lock(&p->mu);
        bool stopping = p->shutdown;
        weft__list failed;
        weft__list_init(&failed);
        if (p->broken) drain_queue_locked(p, &failed);
        /* Replace the missing workers (not once shutting down with nothing left to do,
         * nor when broken). */
        bool queue_empty = weft__list_empty(&p->queue);
        pthread_mutex_unlock(&p->mu);
        fail_all(&failed, WEFT_EPOOLBROKEN);
        if (!p->broken && !(stopping && queue_empty) && now >= retry_at) {
            for (int i = 0; i < p->o.workers; i++)
                if (!p->w[i] && start_worker(p, i) != 0) {
                    retry_at = now + 50 * WEFT_MS;
                    break;
                }
        }
        pthread_mutex_lock(&p->mu);
        dispatch_locked(p, now);
        queue_empty = weft__list_empty(&p->queue);
        stopping = p->shutdown;
        bool idle = true;
        for (int i = 0; i < p->o.workers; i++)
            if (p->w[i] && p->w[i]->nsent) idle = false;
        if (p->shutdown && queue_empty && idle) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        /* A cancel sets cancel_req under mu and wakes us only if we sleep: look once more
         * under mu before sleeping, or a cancel landing since the check above is lost. */
        bool cancel_pending = false;
        for (int i = 0; i < p->o.workers; i++) {
            worker *w = p->w[i];
            if (w && !w->dead && !weft__list_empty(&w->sent) &&
                atomic_load(&weft__container_of(w->sent.next, ptask, link)->cancel_req))
                cancel_pending = true;
        }
        if (cancel_pending) {
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->sleeping = true;
        pthread_mutex_unlock(&p->mu);

        /* Wait for results, deaths, room to write, submissions, or the next timeout. */
        struct pollfd pf[1 + 2 * MAX_WORKERS];
        int who[1 + 2 * MAX_WORKERS];
        int n = 0;
        pf[n] = (struct pollfd){ .fd = p->evfd, .events = POLLIN };
        who[n++] = -1;
        int64_t wait_ns = -1;
        if (p->dispatch_again_at > now && !queue_empty) wait_ns = p->dispatch_again_at - now;
        for (int i = 0; i < p->o.workers; i++) {
            worker *w = p->w[i];
            if (!w) {
                /* A slot to fill again (not when broken, nor when shutting down with
                 * nothing queued: nothing would fill it, and a 1 ms wake-up would spin). */
                if (!p->broken && !(stopping && queue_empty)) {
                    int64_t d = retry_at > now ? retry_at - now : WEFT_MS;
                    if (wait_ns < 0 || d < wait_ns) wait_ns = d;
                }
                continue;
            }
            if (w->read_again_at > now) {
                /* Out of memory to read into: its socket waits; its death does not. */
                int64_t d = w->read_again_at - now;
                if (wait_ns < 0 || d < wait_ns) wait_ns = d;
            } else {
                short ev = POLLIN;
                if (w->out.off < w->out.len) ev |= POLLOUT;
                pf[n] = (struct pollfd){ .fd = w->fd, .events = ev };
                who[n++] = i;
            }
            pf[n] = (struct pollfd){ .fd = w->pidfd, .events = POLLIN };
            who[n++] = i;
            if (p->o.task_timeout > 0 && w->nsent) {
                int64_t d = w->head_start + p->o.task_timeout - now;
                if (d < 0) d = 0;
                if (wait_ns < 0 || d < wait_ns) wait_ns = d;
            }
        }
        int ms = wait_ns < 0 ? -1 : (int)((wait_ns + WEFT_MS - 1) / WEFT_MS);
        int k = poll(pf, (nfds_t)n, ms);
        pthread_mutex_lock(&p->mu);
        p->sleeping = false;
        p->woken = false;
        pthread_mutex_unlock(&p->mu);
        if (k <= 0) continue;
        if (pf[0].revents) {
            uint64_t v;
            ssize_t r = read(p->evfd, &v, sizeof v);
            (void)r;
        }
        for (int j = 1; j < n; j++) {
            if (!pf[j].revents) continue;
            worker *w = p->w[who[j]];
            if (!w || w->dead) continue;
            if (pf[j].fd == w->pidfd) {
                w->dead = true;                   /* ended: bury reads what it left */
                continue;
            }
            if (pf[j].revents & POLLOUT) write_worker(w);
            if (pf[j].revents & (POLLIN | POLLHUP | POLLERR)) {
                int rd = read_worker(p, w);
                if (rd == 0) w->dead = true;
                else if (rd < 0) {
                    atomic_fetch_add(&weft__procpool_memory_retries, 1);
                    w->read_again_at = weft_now() + 10 * WEFT_MS;
                }
            }
        }
    }
    /* Shutdown: every worker leaves (told so; killed if it will not within 5 s). */
    for (int i = 0; i < p->o.workers; i++) {
        worker *w = p->w[i];
        if (!w) continue;
        send_leave(w);
        int fl = fcntl(w->fd, F_GETFL);
        fcntl(w->fd, F_SETFL, fl & ~O_NONBLOCK);
        write_worker(w);
        shutdown(w->fd, SHUT_WR);
        if (weft_process_join(w->proc, 5 * WEFT_SEC, NULL) != 0) weft_process_kill(w->proc);
        bury(p, i);
    }
    managing = NULL;
    pthread_mutex_lock(&p->mu);
    bool destroy = p->destroy_on_exit;
    pthread_mutex_unlock(&p->mu);
    if (destroy) {                                /* destroyed from a done-callback here */
        weft_thread_release(p->manager);
        close(p->evfd);
        pool_unref(p);
    }
    return 0;
}

/* ---- the public calls ------------------------------------------------------------------- */

static int ptask_cancel(weft_future *f)
{
    ptask *t = (ptask *)f;
    weft_procpool *p = t->pool;
    pthread_mutex_lock(&p->mu);
    int s = atomic_load(&t->state);
    if (s == QUEUED) {
        weft__list_unlink(&t->link);
        atomic_store(&t->state, DONE);
        pthread_mutex_unlock(&p->mu);
        finish(t, -ECANCELED, NULL);
        return 0;
    }
    if (s == SENT) {
        atomic_store(&t->cancel_req, true);
        wake(p);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    pthread_mutex_unlock(&p->mu);
    return -EBUSY;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int weft_procpool_create(weft_procpool **pp, const weft_procpool_opts *opts)
{
    static const weft_procpool_opts defaults = WEFT_PROCPOOL_OPTS_INIT;
    const weft_procpool_opts *o = opts ? opts : &defaults;
    if (!pp || o->workers < 0 || o->workers > MAX_WORKERS || o->max_tasks_per_child < 0 ||
        o->task_timeout < 0)
        return -EINVAL;
    weft_procpool *p = weft__calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->o = *o;
    if (p->o.workers == 0) p->o.workers = cpu_count();
    if (p->o.max_message == 0) p->o.max_message = WEFT_PROCPOOL_MAX_MESSAGE;
    pthread_mutex_init(&p->mu, NULL);
    weft__list_init(&p->queue);
    p->next_id = 1;
    atomic_init(&p->refs, 1);                    /* the owner's */
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->evfd < 0) {
        int e = -errno;
        weft__free(p);
        return e;
    }
    /* The manager starts the first workers; a pool that cannot start them says so now. */
    int rc = weft_event_create(&p->started);
    weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
    to.name = "weft-procpool";
    to.daemon = true;
    if (rc == 0) {
        rc = weft__thread_start_quiet(&p->manager, &to, manager_main, p);
        if (rc) weft_event_destroy(p->started);
    }
    if (rc == 0) {
        weft_scope shield;                        /* the start is not to be cut short */
        weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
        weft_event_wait(p->started, WEFT_FOREVER);
        weft_scope_leave(&shield);
        weft_event_destroy(p->started);
        rc = p->start_rc;
        if (rc) {
            weft_thread_join(p->manager, WEFT_FOREVER, NULL);
            weft_thread_release(p->manager);
        }
    }
    if (rc) {
        close(p->evfd);
        pthread_mutex_destroy(&p->mu);
        weft__free(p);
        return rc;
    }
    *pp = p;
    return 0;
}

/* weft_procpool_submit with the limit on len given (map's chunks: max_message plus their
 * header, which the caller's bytes do not include). */
static int submit_limited(weft_procpool *p, weft_future **f, weft_proc_task fn,
                          const void *arg, size_t len, size_t limit)
{
    if (len > limit) return -EMSGSIZE;
    if (len > SIZE_MAX - sizeof(ptask)) return -ENOMEM;   /* a limit of SIZE_MAX */
    ptask *t = weft__malloc(sizeof *t + len);
    if (!t) return -ENOMEM;
    weft__future_init(&t->fut, &ptask_ops, 2);    /* the caller's, and the pool's */
    t->pool = p;
    weft__list_init(&t->link);
    atomic_init(&t->state, QUEUED);
    atomic_init(&t->cancel_req, false);
    t->fn = fn;
    t->res = NULL;
    t->len = len;
    if (len) memcpy(t->arg, arg, len);
    pthread_mutex_lock(&p->mu);
    int rc = p->shutdown ? -ESHUTDOWN : p->broken ? WEFT_EPOOLBROKEN : 0;
    if (rc) {
        pthread_mutex_unlock(&p->mu);
        weft__free(t);
        return rc;
    }
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);  /* the future's */
    t->id = p->next_id++;
    weft__list_push_back(&p->queue, &t->link);
    wake(p);
    pthread_mutex_unlock(&p->mu);
    *f = &t->fut;
    return 0;
}

int weft_procpool_submit(weft_procpool *p, weft_future **f, weft_proc_task fn,
                         const void *arg, size_t len)
{
    if (!p || !f || !fn || (!arg && len)) return -EINVAL;
    return submit_limited(p, f, fn, arg, len, p->o.max_message);
}

int weft_procpool_result(weft_future *f, int64_t timeout, const void **data, size_t *len)
{
    if (!f || f->ops != &ptask_ops) return -EINVAL;
    void *r = NULL;
    int rc = weft_future_result(f, timeout, &r);
    const pbytes *b = rc == 0 ? r : NULL;
    if (data) *data = b ? b->data : NULL;
    if (len) *len = b ? b->len : 0;
    return rc;
}

/* ---- map: chunks of items as one task each ---------------------------------------------
 * A chunk's argument: { fn, item_size, count } + the items; its result: for each item,
 * { rc, len } + len bytes. The chunk runner is this file's function: its address is the
 * same in the workers. */
typedef struct { uint64_t fn, item_size, count; } chunk_hdr;
typedef struct { int64_t rc; uint64_t len; } item_hdr;

static int run_chunk(const void *arg, size_t len, void **out, size_t *out_len)
{
    chunk_hdr h;
    if (len < sizeof h) return -EINVAL;
    memcpy(&h, arg, sizeof h);
    if (len != sizeof h + h.item_size * h.count) return -EINVAL;
    weft_proc_task fn = (weft_proc_task)(uintptr_t)h.fn;
    const unsigned char *item = (const unsigned char *)arg + sizeof h;
    unsigned char *res = NULL;
    size_t rlen = 0, rcap = 0;
    for (uint64_t i = 0; i < h.count; i++, item += h.item_size) {
        void *o = NULL;
        size_t olen = 0;
        int rc = fn(item, h.item_size, &o, &olen);
        item_hdr ih = { rc, rc < 0 ? 0 : olen };
        if (rlen + sizeof ih + ih.len > rcap) {
            size_t cap = rcap ? rcap : 4096;
            while (cap < rlen + sizeof ih + ih.len) cap *= 2;
            unsigned char *r = realloc(res, cap);
            if (!r) {
                free(o);
                free(res);
                return -ENOMEM;
            }
            res = r;
            rcap = cap;
        }
        memcpy(res + rlen, &ih, sizeof ih);
        if (ih.len) memcpy(res + rlen + sizeof ih, o, ih.len);
        rlen += sizeof ih + ih.len;
        free(o);
    }
    *out = res;
    *out_len = rlen;
    return 0;
}

/* Reports chunk c's items (first..first+count) to each. */
static void report_chunk(weft_future *f, int rc, size_t first, size_t count,
                         weft_procpool_each each, void *arg)
{
    const unsigned char *d = NULL;
    size_t len = 0;
    if (rc == 0) {
        const pbytes *b = f->result;
        d = b ? b->data : NULL;
        len = b ? b->len : 0;
    }
    for (size_t i = 0; i < count; i++) {
        item_hdr ih;
        if (rc != 0 || len < sizeof ih) {
            each(arg, first + i, rc ? rc : -EPROTO, NULL, 0);
            continue;
        }
        memcpy(&ih, d, sizeof ih);
        d += sizeof ih;
        len -= sizeof ih;
        if (ih.len > len) ih.len = len;
        each(arg, first + i, (int)ih.rc, ih.len ? d : NULL, ih.len);
        d += ih.len;
        len -= ih.len;
    }
}

int weft_procpool_map(weft_procpool *p, weft_proc_task fn, const void *items, size_t item_size,
                      size_t n, size_t chunk_size, weft_procpool_each each, void *arg)
{
    if (!p || !fn || !each || (n && (!items || !item_size))) return -EINVAL;
    if (n == 0) return 0;
    if (n > SIZE_MAX / item_size) return -EINVAL;   /* no such array */
    if (chunk_size == 0) chunk_size = 1;
    if (chunk_size > n) chunk_size = n;
    /* The limit is on a chunk's items, as submit's on its argument; the chunk's header
     * is the map's own. */
    if (chunk_size * item_size > p->o.max_message) return -EMSGSIZE;
    size_t limit = p->o.max_message > SIZE_MAX - sizeof(chunk_hdr)
                       ? SIZE_MAX : p->o.max_message + sizeof(chunk_hdr);
    size_t nchunks = (n + chunk_size - 1) / chunk_size;
    weft_future **fs = weft__calloc(nchunks, sizeof *fs);
    unsigned char *buf = weft__malloc(sizeof(chunk_hdr) + item_size * chunk_size);
    if (!fs || !buf) {
        weft__free(fs);
        weft__free(buf);
        return -ENOMEM;
    }
    int rc = 0;
    size_t submitted = 0;
    for (; submitted < nchunks && rc == 0; submitted++) {
        size_t first = submitted * chunk_size;
        size_t count = n - first < chunk_size ? n - first : chunk_size;
        chunk_hdr h = { (uint64_t)(uintptr_t)fn, item_size, count };
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, (const unsigned char *)items + first * item_size,
               count * item_size);
        rc = submit_limited(p, &fs[submitted], run_chunk, buf, sizeof h + count * item_size,
                            limit);
        if (rc) break;
    }
    weft__free(buf);
    /* In order: wait for each chunk and report its items. */
    for (size_t c = 0; c < submitted; c++) {
        if (rc == 0) {
            int r = weft_future_result(fs[c], WEFT_FOREVER, NULL);
            if (r == -ECANCELED && !weft_future_done(fs[c])) rc = r;    /* our wait's */
            else if (r == -ETIMEDOUT && !weft_future_done(fs[c])) rc = r;
            else {
                size_t first = c * chunk_size;
                size_t count = n - first < chunk_size ? n - first : chunk_size;
                report_chunk(fs[c], r, first, count, each, arg);
            }
        }
        if (rc) weft_future_cancel(fs[c]);        /* the chunks not begun never run */
        weft_future_release(fs[c]);
    }
    weft__free(fs);
    return rc;
}

int weft_procpool_shutdown(weft_procpool *p, bool wait, bool cancel_futures)
{
    if (!p) return -EINVAL;
    weft__list cancelled;
    weft__list_init(&cancelled);
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (cancel_futures) drain_queue_locked(p, &cancelled);
    wake(p);                      /* if it is not asleep, it sees `shutdown` under mu first */
    pthread_mutex_unlock(&p->mu);
    weft_procpool *outer = cancelling;
    cancelling = p;
    fail_all(&cancelled, -ECANCELED);             /* runs their done-callbacks here */
    cancelling = outer;
    if (p->destroy_deferred && outer != p) {      /* a callback destroyed the pool */
        p->destroy_deferred = false;
        destroy_now(p);
        return 0;
    }
    if (!wait) return 0;
    if (managing == p) return -EDEADLK;           /* a done-callback on the manager thread */
    return weft_thread_join(p->manager, WEFT_FOREVER, NULL);
}

void weft_procpool_destroy(weft_procpool *p)
{
    if (!p) return;
    if (managing == p) {
        /* From a done-callback, which runs on the manager thread: it cannot wait for
         * itself. Shut down without waiting; the manager frees the pool as it ends. */
        pthread_mutex_lock(&p->mu);
        p->destroy_on_exit = true;
        pthread_mutex_unlock(&p->mu);
        weft_procpool_shutdown(p, false, false);
        return;
    }
    if (cancelling == p) {
        /* From a done-callback that this thread's shutdown is running: that shutdown
         * still uses the pool; it finishes the destroy when its callbacks are done. */
        p->destroy_deferred = true;
        return;
    }
    destroy_now(p);
}

/* Shuts down, waits, frees. Not on the manager thread. */
static void destroy_now(weft_procpool *p)
{
    weft_scope shield;                            /* a cancelled caller still waits */
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_procpool_shutdown(p, true, false);
    weft_scope_leave(&shield);
    weft_thread_release(p->manager);
    close(p->evfd);
    pool_unref(p);
}

int weft_procpool_workers(weft_procpool *p)
{
    return p ? atomic_load(&p->alive) : 0;
}

unsigned long weft_procpool_replaced(weft_procpool *p)
{
    return p ? atomic_load(&p->replaced) : 0;
}
