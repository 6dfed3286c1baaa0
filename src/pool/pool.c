/* pool/pool.c — the thread pool executor.
 *
 * Queue. Submitters push jobs onto an intrusive lock-free stack (`inbox`: one exchange,
 * never a lock). Workers take jobs from a FIFO under `qm`; when the FIFO is empty, the
 * worker holding qm takes the whole inbox with one exchange and reverses it onto the FIFO,
 * so jobs run in submission order. Submitters and workers never wait for each other's lock.
 *
 * Sleep. An idle worker spins a little, then counts itself in `sleepers`, re-checks the
 * queue and sleeps on the futex word `seq`. A submitter, after its push, wakes one sleeper
 * only if it sees sleepers > 0 (the push and the count are sequentially consistent on both
 * sides, so a job is never left with every worker asleep).
 *
 * Workers. Started lazily by submit while no worker is idle, up to max_workers "active"
 * ones; a worker that waits (weft_future_result) on a job of its own pool does not count
 * as active (future ops `blocking`), so a recursive fan-out starts compensating workers up
 * to max_workers + max_extra instead of deadlocking; when the wait ends, surplus workers
 * retire after their current job (and those in hand). Other waits (sleep, locks, I/O) start
 * nobody.
 *
 * Items. The queue holds items: a function, its argument and a state (QUEUED → RUNNING, or
 * QUEUED → CANCELLED: one atomic, so a cancel and a worker's start are decided by one CAS).
 * A submit that keeps the future queues a job (an item with a future around it; the queue
 * holds one reference until a worker is done with it). A detached submit (no future asked
 * for) queues a bare item of 32 bytes: no future to initialise, lock and complete, and the
 * worker that runs it frees it; a failure it returns is still reported as an unread one.
 *
 * Lifetime. The pool is reference-counted: the creator's reference and one per worker
 * thread; shutdown(wait) waits until the worker count is zero. A submit is either refused
 * or its job runs: an accepted submit has pushed its job before `stopping` is set, so a
 * worker leaves only after a look at the queue taken after it saw the flag (stopping_now),
 * and the last worker of a stopping pool, deciding under m, stays while anything is queued
 * (leave_worker) — also one that idled out or retired as surplus. What the last worker's
 * drain still finds can only be refused jobs.
 */
#include "future/internal.h"
#include "sync/internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { QUEUED, RUNNING, CANCELLED };

#define SPIN_NS (20 * 1000)              /* an idle worker spins this long before sleeping */
#define EAGER_NS (2 * 1000)              /* ...looking at every pause for the first part: a
                                            pause is 20-50 ns here, and a submitter waiting
                                            on its last job resubmits within ~1 us */
#define MAX_PAUSE 64                     /* then less and less often, up to every 64 pauses
                                            (every 64 from the start while caller_runs
                                            waiters help: see next_job) */
#define DEFAULT_IDLE (60 * WEFT_SEC)

typedef struct item {
    /* In the inbox: the item below (LINKING while its push completes). Once a worker has
     * taken the inbox: the FIFO / in-hand link (qm, or the worker's own hand), through
     * next_of / set_next. One field for both keeps a job in 112 bytes; atomic (relaxed
     * after the inbox) because a submitter's unpush may still read it as a worker turns it
     * into a FIFO link (its CAS then fails: the item is no longer the inbox's head). */
    _Atomic(struct item *) link;
    weft_fn fn;
    void *arg;
    _Atomic int state;                /* jobs only (a bare item is nobody's to cancel) */
    _Atomic bool cancel;              /* jobs only: a running job was asked to stop */
    bool bare;                        /* no future: a detached submit */
    bool helpable;                    /* jobs only: of a caller_runs pool (job_help reads
                                         this, not the pool, before it has claimed the job) */
    _Atomic bool settled;             /* jobs only: whoever claimed it outside run_job (a
                                         helping waiter or worker) holds the pool alive on
                                         its own now (see job_help) */
} item;

typedef struct job {
    weft_future fut;
    item it;
    weft_pool *pool;
} job;

static inline item *next_of(const item *it)
{
    return atomic_load_explicit(&((item *)it)->link, memory_order_relaxed);
}

static inline void set_next(item *it, item *next)
{
    atomic_store_explicit(&it->link, next, memory_order_relaxed);
}

struct weft_pool {
    /* One line for what a submit writes (inbox) and reads (whether a worker is looking):
     * the exchange that pushes a job brings the line over, the reads that follow are then
     * free; the worker that takes the job owns the line when it drops and retakes the spin
     * token and changes `idle`, so a round trip moves this line once each way. (Workers write
     * the counts only when they go idle or to sleep, rare under load.) */
    _Alignas(64) _Atomic(item *) inbox; /* newest first */
    _Atomic int spinning;             /* the spin token: 1 while a worker holds it */
    _Atomic int idle;                 /* workers looking for work (spinning or asleep) */
    _Atomic uint32_t sleepers;        /* workers asleep (or about to be) on seq */
    _Atomic uint32_t wake_pending;    /* a wake-up was sent and no worker has gone to
                                         sleep or woken since */
    _Atomic int submitting;           /* submits in progress (shutdown waits for them) */
    /* References: the creator's, one per worker thread, and, in the upper half (HELPER),
     * one per waiter running a job it claimed (caller_runs: job_help), which
     * shutdown(wait) also waits for. One word, so that a helper takes and drops both with
     * one read-modify-write each; on this line, which its unpush takes anyway. */
    _Atomic uint64_t refs;
    _Atomic bool helped;              /* caller_runs: a waiter has helped since the spinner
                                         last began to look (it then looks lazily) */
    /* Futex word, bumped to wake sleepers: a line of its own (sleepers read it). */
    _Alignas(64) _Atomic uint32_t seq;
    /* Workers' side. */
    _Alignas(64) weft__mutex qm;
    item *fifo;                       /* qm: oldest first */
    size_t fifo_len;                  /* qm */
    _Atomic size_t backlog;           /* fifo_len, readable without qm */
    _Atomic(item *) fifo_peek;        /* fifo, readable without qm (for spinning) */
    /* Bookkeeping, under m. */
    _Alignas(64) weft__mutex m;
    int max_workers;
    int max_extra;
    _Atomic int workers;              /* threads alive (changed under m) */
    _Atomic int blocked;              /* of them, waiting on this pool's own jobs (changed
                                         under m) */
    int started;                      /* ever (for names) */
    _Atomic bool shutdown;            /* submits are refused */
    _Atomic bool stopping;            /* ...and every submit that was not has queued its
                                         job: workers leave once the queue is empty */
    _Atomic bool cancel_all;          /* shutdown(cancel_futures) was called */
    bool ended;                       /* m: shut down and the last worker has left: no
                                         worker may start again */
    _Atomic int broken;               /* the initializer's error, 0 if none */
    weft_event *exited;               /* set when shut down and workers == 0 */
    char *prefix;
    int (*initializer)(void *);
    void *initializer_arg;
    void (*finalizer)(void *);
    void *finalizer_arg;
    int64_t idle_timeout;
    bool caller_runs;
};

static job *job_of(weft_future *f) { return weft__container_of(f, job, fut); }

static void drain(weft_pool *p, int err);

#define HELPER ((uint64_t)1 << 32)            /* a helper's share of refs */

/* Drops `amount` of p's references (1, or a helper's HELPER + 1); frees p with the last. */
static void pool_release(weft_pool *p, uint64_t amount)
{
    if (atomic_fetch_sub_explicit(&p->refs, amount, memory_order_acq_rel) != amount) return;
    drain(p, -ECANCELED);                      /* jobs a racing submit left behind */
    weft_event_destroy(p->exited);
    weft__free(p->prefix);
    weft__free(p);
}

static void pool_unref(weft_pool *p)
{
    pool_release(p, 1);
}

/* ---- jobs ------------------------------------------------------------------------------ */

static int job_cancel(weft_future *f)
{
    item *j = &job_of(f)->it;
    int s = QUEUED;
    if (atomic_compare_exchange_strong(&j->state, &s, CANCELLED)) {
        atomic_store_explicit(&f->cancel_requested, 1, memory_order_relaxed);
        weft__future_complete_owned(f, -ECANCELED, NULL);
        return 0;
    }
    if (s == RUNNING && !weft__future_is_done(f)) {
        atomic_store(&j->cancel, true);      /* weft_cancelled() in the job sees it */
        return 0;
    }
    /* CANCELLED by a shutdown or a submit taking it back, its future about to complete:
     * the cancel is on its way, as for a second cancel. */
    if (s == CANCELLED && !weft__future_is_done(f)) return 0;
    return -EBUSY;
}

static void job_free(weft_future *f)
{
    weft__block_put(job_of(f), sizeof(job));
}

static void start_worker_if_needed(weft_pool *p, bool compensating);

/* Claims j for the calling thread, which is not the worker that popped it (a waiter that
 * helps): true if it had not started. The queue keeps its reference; a worker that pops
 * the job later skips it, once the claimer has set `settled` (wait_settled). */
static bool claim(job *j)
{
    int s = QUEUED;
    return atomic_compare_exchange_strong(&j->it.state, &s, RUNNING);
}

/* A worker (or the drain) has met a job that a helper claimed: it waits, before it drops
 * the queue's reference or goes on to leave, until the claimer holds the pool alive on its
 * own (a few instructions after its claim: job_help). While the job is queued or in a
 * worker's hand, the pool cannot end (its last worker stays while anything is queued), so
 * the claimer may still take its reference. */
static void wait_settled(item *it)
{
    for (unsigned i = 0; !atomic_load_explicit(&it->settled, memory_order_acquire); i++) {
        if (i < 256) weft__cpu_relax();
        else sched_yield();                  /* the claimer was preempted */
    }
}

/* A job a thread runs as its waiter (run_claimed), linked to the one it runs inside, if
 * any: a job of pool P may wait on a job of pool Q and run that one too. */
typedef struct inline_job {
    weft_pool *pool;
    struct inline_job *outer;
} inline_job;

/* Runs j, claimed by the calling thread. While it runs, the thread counts as running a job
 * of the pool (weft__tls.inline_jobs, walked by in_own_job: a shutdown(wait) of this pool,
 * or of any whose job it runs inside, is -EDEADLK, as from a worker). */
static void run_claimed(job *j)
{
    weft__tls *t = weft__tls_get();
    const _Atomic bool *outer = t->job_cancel;
    inline_job frame = { j->pool, t->inline_jobs };
    t->job_cancel = &j->it.cancel;
    t->inline_jobs = &frame;
    void *result = NULL;
    int err = j->it.fn(j->it.arg, &result);
    t->job_cancel = outer;
    t->inline_jobs = frame.outer;
    weft__future_complete_owned(&j->fut, err, result);
}

/* A thread waits on a job's future. A worker of that job's pool first runs the job itself
 * if it has not started (Java's ForkJoin "helping": a recursive fan-out needs no extra
 * thread); else it stops counting as active while it waits, and a worker may start in its
 * place. */
static void job_blocking(weft_future *f, int delta)
{
    job *j = job_of(f);
    weft_pool *p = j->pool;
    weft__tls *t = weft__tls_get();
    if (t->pool != p) return;
    if (delta > 0 && claim(j)) {            /* done: the wait that follows returns at once */
        atomic_store_explicit(&j->it.settled, true, memory_order_release);  /* a worker */
        run_claimed(j);
        return;
    }
    if (delta < 0 && !t->pool_blocked) return;
    weft__mutex_lock(&p->m);
    atomic_fetch_add(&p->blocked, delta);
    weft__mutex_unlock(&p->m);
    t->pool_blocked += delta;
    if (delta > 0) start_worker_if_needed(p, true);
}

static bool job_help(weft_future *f);

static const weft__future_ops job_ops = { job_cancel, job_free, NULL, job_blocking, job_help, NULL };

/* ---- the queue ------------------------------------------------------------------------- */

#define LINKING ((item *)(uintptr_t)1)

/* One exchange, never a retry loop: the node is published first and linked to the old head
 * right after; a worker that takes the stack meanwhile waits for that link (a few
 * instructions). */
static void push(weft_pool *p, item *j)
{
    atomic_store_explicit(&j->link, LINKING, memory_order_relaxed);
    item *old = atomic_exchange_explicit(&p->inbox, j, memory_order_seq_cst);
    weft__perturb(WEFT__PP_POOL_PUSH);
    atomic_store_explicit(&j->link, old, memory_order_release);
}

/* The oldest queued job, or NULL. With a backlog (8 or more) and `more` non-NULL, up to 3
 * more jobs are handed out at once in *more (linked through next): under load, a worker
 * takes the queue's lock a quarter as often. */
#define BATCH_FROM 8
#define BATCH_EXTRA 3

static item *pop_more(weft_pool *p, item **more)
{
    weft__mutex_lock(&p->qm);
    item *j = p->fifo;
    if (!j) {
        item *list = atomic_exchange_explicit(&p->inbox, NULL, memory_order_seq_cst);
        size_t n = 0;
        while (list) {                         /* newest first → oldest first */
            item *next;
            while ((next = atomic_load_explicit(&list->link, memory_order_acquire)) == LINKING)
                weft__cpu_relax();
            set_next(list, j);
            j = list;
            list = next;
            n++;
        }
        p->fifo_len = n;
    }
    if (j) {
        p->fifo = next_of(j);
        p->fifo_len--;
        if (more && p->fifo_len >= BATCH_FROM) {
            item *first = p->fifo, *last = first;
            for (int k = 1; k < BATCH_EXTRA; k++) last = next_of(last);
            p->fifo = next_of(last);
            p->fifo_len -= BATCH_EXTRA;
            set_next(last, NULL);
            *more = first;
        }
    }
    atomic_store_explicit(&p->fifo_peek, p->fifo, memory_order_seq_cst);
    atomic_store_explicit(&p->backlog, p->fifo_len, memory_order_relaxed);
    weft__mutex_unlock(&p->qm);
    return j;
}

static item *pop(weft_pool *p)
{
    return pop_more(p, NULL);
}

/* Takes j back out of the inbox if it is still the newest item there (its submitter,
 * waiting on it at once, usually finds it so): then no worker ever sees it. Safe against
 * ABA because an item enters the inbox once only (nothing is ever pushed back: a worker
 * retires with an empty hand): while the inbox's head is j, j's link is the
 * one its push wrote. */
static bool unpush(weft_pool *p, item *j)
{
    item *below = atomic_load_explicit(&j->link, memory_order_acquire);
    if (below == LINKING) return false;
    item *top = j;
    return atomic_compare_exchange_strong_explicit(&p->inbox, &top, below,
                                                   memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* future ops `help`: with caller_runs, a plain thread about to wait with no time limit runs
 * the job if no worker has started it: claimed by its state (as a worker's helping does),
 * then taken back out of the inbox if it is still on top, so that no worker meets it.
 * Workers of the pool have their own helping (job_blocking). */
static bool job_help(weft_future *f)
{
    job *j = job_of(f);
    /* Nothing of the pool is read before the claim: the job may have completed, and the
     * pool have been shut down and destroyed, since the caller looked (j->pool is only
     * compared here). */
    if (!j->it.helpable || weft__tls_get()->pool == j->pool) return false;
    if (!claim(j)) return false;              /* a worker's, or cancelled: wait for it */
    /* Claimed and not run, so the pool is alive (wait_settled): hold it, and count this
     * run for shutdown(wait), before any worker may go on past the job. */
    weft_pool *p = j->pool;
    atomic_fetch_add_explicit(&p->refs, HELPER + 1, memory_order_seq_cst);
    atomic_store_explicit(&j->it.settled, true, memory_order_release);
    if (!atomic_load_explicit(&p->helped, memory_order_relaxed))
        atomic_store_explicit(&p->helped, true, memory_order_relaxed);
    bool off_queue = unpush(p, &j->it);       /* usually: it is the inbox's newest */
    run_claimed(j);
    if (off_queue) weft_future_release(&j->fut);   /* the queue's reference */
    pool_release(p, HELPER + 1);
    return true;
}

static void wake_one(weft_pool *p);

/* After taking a job: wake another worker only if a few more are waiting (a wake-up costs
 * a system call and a CPU the submitters may need). */
static void wake_for_backlog(weft_pool *p)
{
    if (atomic_load_explicit(&p->backlog, memory_order_relaxed) >= 4 ||
        atomic_load_explicit(&p->inbox, memory_order_relaxed) != NULL)
        wake_one(p);
}

static bool queue_looks_empty(weft_pool *p)
{
    return !atomic_load_explicit(&p->inbox, memory_order_seq_cst) &&
           !atomic_load_explicit(&p->fifo_peek, memory_order_seq_cst);
}

/* After a push: a spinning worker will see the job; else wake a sleeper, if any, unless a
 * wake-up is already on its way. */
static void wake_one(weft_pool *p)
{
    if (atomic_load_explicit(&p->spinning, memory_order_seq_cst) != 0) return;
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) == 0) return;
    uint32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&p->wake_pending, &zero, 1,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
    weft__futex_wake(&p->seq, 1);
}

static void wake_all(weft_pool *p)
{
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
    weft__futex_wake(&p->seq, INT32_MAX);
}

/* ---- workers --------------------------------------------------------------------------- */

/* Runs j (unless it was cancelled first). A worker without the spin token tries to take it
 * before completing the job's future, so that a submitter woken by that completion, which
 * submits again at once, finds a worker already looking (no wake-up system call). */
static void report_bare_failure(int err);

static void run_job(weft_pool *p, item *it, bool *token)
{
    int s = QUEUED;
    if (it->bare) {
        /* Nobody holds it, so nothing can cancel it or race for it: no state to claim, and
         * no cancel flag for its waits to look at (job_cancel stays NULL). */
        void *result = NULL;
        int err = it->fn(it->arg, &result);
        if (weft__unlikely(err < 0 && err != -ECANCELED)) report_bare_failure(err);
        weft__block_put(it, sizeof *it);
        return;
    }
    job *j = weft__container_of(it, job, it);
    if (atomic_compare_exchange_strong(&it->state, &s, RUNNING)) {
        weft__tls *t = weft__tls_get();
        t->job_cancel = &it->cancel;
        void *result = NULL;
        int err = it->fn(it->arg, &result);
        t->job_cancel = NULL;
        /* Only when the queue is empty (the worker will search next): a busy pool leaves
         * the token's line alone. */
        if (!*token && atomic_load_explicit(&p->spinning, memory_order_relaxed) == 0 &&
            queue_looks_empty(p)) {
            int zero = 0;
            *token = atomic_compare_exchange_strong(&p->spinning, &zero, 1);
        }
        weft__future_complete_owned(&j->fut, err, result);
    } else if (s == RUNNING) {
        wait_settled(it);                      /* a helper's: see job_help */
    }
    weft_future_release(&j->fut);              /* the queue's reference */
}

/* Fails a job taken off the queue that has not started (err: -ECANCELED, or a broken
 * pool's error), and drops the queue's reference. */
static void cancel_queued(item *it, int err)
{
    if (it->bare) {
        weft__block_put(it, sizeof *it);
        return;
    }
    job *j = weft__container_of(it, job, it);
    int s = QUEUED;
    if (atomic_compare_exchange_strong(&it->state, &s, CANCELLED))
        weft__future_complete_owned(&j->fut, err, NULL);
    else if (s == RUNNING)
        wait_settled(it);                      /* a helper's: see job_help */
    weft_future_release(&j->fut);
}

/* A detached job failed: nobody can read its outcome, so it is reported as an unread
 * failure (weft_set_unretrieved_hook), through a plain future made for the purpose. */
static void report_bare_failure(int err)
{
    weft_future *f;
    if (weft_future_create(&f) != 0) {
        fprintf(stderr, "weft: a detached pool job failed with %s (%s)\n",
                weft_errname(err), weft_strerror(err));
        return;
    }
    weft__future_complete(f, err, NULL);
    weft_future_release(f);
}

/* Fails every queued job with err (a broken pool) or -ECANCELED. */
static void drain(weft_pool *p, int err)
{
    item *j;
    while ((j = pop(p)) != NULL) cancel_queued(j, err);
}

/* Gives up the spin token, if held. */
static void drop_token(weft_pool *p, bool *token)
{
    if (!*token) return;
    *token = false;
    atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
}

/* A worker has just taken a job and stopped being idle. If jobs still wait, somebody must
 * come for them now: the submits of those jobs saw an idle worker and neither woke another
 * (one wake-up was on its way) nor started one, so a job that blocks (a FIFO's open, a slow
 * read) would leave them queued behind it. Wake a sleeper, or grow the pool. */
static void grow_for_backlog(weft_pool *p)
{
    if (queue_looks_empty(p)) return;
    if (atomic_load_explicit(&p->idle, memory_order_seq_cst) > 0)
        wake_one(p);
    else if (atomic_load_explicit(&p->workers, memory_order_relaxed) -
             atomic_load_explicit(&p->blocked, memory_order_relaxed) < p->max_workers)
        start_worker_if_needed(p, false);
}

/* True if the pool is stopping; then *j is one more look at the queue, taken after that
 * read. Every submit that was accepted pushed its job before `stopping` was set
 * (weft_pool_submit), so a worker that has seen the flag and then finds the queue empty
 * knows no accepted job is left; a look taken before reading the flag proves nothing (a
 * submit and the shutdown may both have happened in between: the worker then left, and
 * the last one's drain cancelled an accepted job, issue 11 bug 2). */
static bool stopping_now(weft_pool *p, item **j, item **more)
{
    weft__perturb(WEFT__PP_POOL_NEXT_EMPTY);
    if (!atomic_load_explicit(&p->stopping, memory_order_seq_cst)) return false;
    *j = pop_more(p, more);
    return true;
}

/* Waits for work: with the spin token (at most one worker holds it, as Go's scheduler keeps
 * one spinning thread: more would take the CPU from the submitters), spins, then sleeps on
 * seq. A worker that finds a job while more are queued wakes another (the wake-up travels
 * from worker to worker, not from every submit). Returns a job, or NULL when the worker
 * should end: the pool is stopping and the queue was empty at a look taken after seeing
 * so (stopping_now), or it has been idle too long. */
static item *next_job(weft_pool *p, bool *token, item **more)
{
    item *j = pop_more(p, more);
    if (j) {
        drop_token(p, token);
        wake_for_backlog(p);
        grow_for_backlog(p);
        return j;
    }
    atomic_fetch_add(&p->idle, 1);
    int64_t idle_since = 0;                 /* read when it first goes to sleep */
    for (;;) {
        if (!*token) {
            int zero = 0;
            *token = atomic_compare_exchange_strong(&p->spinning, &zero, 1);
        }
        if (*token) {
            int64_t now = weft_now(), spin_end = now + SPIN_NS, eager_end = now + EAGER_NS;
            unsigned pause = 1;
            /* With caller_runs, a submitter that waits runs its job itself (job_help), and
             * takes it back with one CAS on a line it already holds: a worker looking at
             * every pause takes that line away after each push and often the job too, a
             * cross-CPU hand-off each way (a submit-and-wait took 140-290 ns in the slow
             * mode, 71-119 ns with this). So while waiters help (`helped`: one has come
             * since the last spin began) the spinner looks lazily; a job nobody helps
             * with then waits at most one such gap (a few us: still far less than waking
             * a sleeper). Coroutines' and timed waits never help: the spin after them is
             * eager, as in any pool. */
            if (atomic_load_explicit(&p->helped, memory_order_relaxed) &&
                atomic_exchange_explicit(&p->helped, false, memory_order_relaxed)) {
                eager_end = now;
                pause = MAX_PAUSE;
            }
            for (unsigned i = 1;; i++) {
                if (!queue_looks_empty(p) && (j = pop_more(p, more)) != NULL) break;
                if (atomic_load_explicit(&p->stopping, memory_order_acquire)) break;
                /* The clock every 16 looks, or every look once they are 16 pauses or more
                 * apart (else a lazy spin would run 1.5-2x SPIN_NS). */
                if ((i & 15) == 0 || pause >= 16) {
                    now = weft_now();
                    if (now >= spin_end) break;
                    /* Past the eager window, look less and less often: each look takes
                     * the inbox's line from the submitters. */
                    if (now >= eager_end && pause < MAX_PAUSE) pause *= 2;
                }
                for (unsigned k = 0; k < pause; k++) weft__cpu_relax();
            }
            drop_token(p, token);
            if (j) {
                wake_for_backlog(p);
                break;
            }
            if (stopping_now(p, &j, more)) break;
        }
        /* Sleep. A submitter wakes a sleeper if, after its push, it sees nobody spinning
         * and no wake-up on its way; counts, flags and queue are sequentially consistent. */
        atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
        atomic_store_explicit(&p->wake_pending, 0, memory_order_seq_cst);
        weft__store_load_fence();   /* pairs with wake_one: push, then wake_pending's CAS */
        uint32_t s = atomic_load_explicit(&p->seq, memory_order_seq_cst);
        if (!queue_looks_empty(p) || atomic_load(&p->stopping)) {
            atomic_fetch_sub(&p->sleepers, 1);
            if ((j = pop(p)) != NULL || stopping_now(p, &j, more)) break;
            continue;
        }
        if (!idle_since) idle_since = weft_now();
        int64_t deadline = p->idle_timeout == WEFT_FOREVER
                         ? WEFT__NO_DEADLINE : idle_since + p->idle_timeout;
        int r = weft__futex_wait(&p->seq, s, deadline);
        atomic_fetch_sub(&p->sleepers, 1);
        atomic_store_explicit(&p->wake_pending, 0, memory_order_seq_cst);
        weft__store_load_fence();   /* as above, before the queue is read again */
        if ((j = pop(p)) != NULL) {
            wake_for_backlog(p);
            break;
        }
        if (stopping_now(p, &j, more)) break;
        /* Idle too long: leave (worker_main makes sure the last worker leaves nothing
         * queued behind it). */
        if (r == -ETIMEDOUT && weft_now() >= deadline) break;
    }
    atomic_fetch_sub(&p->idle, 1);
    if (j) grow_for_backlog(p);
    return j;
}

/* A worker leaves (uncount: it is still counted). True if it was the last one of a pool
 * that is shut down: from then on no worker may start (the caller sets `exited`). For a
 * worker thread that could not be started; running workers leave through leave_worker. */
static bool uncount_worker(weft_pool *p, bool uncount)
{
    weft__mutex_lock(&p->m);
    if (uncount) atomic_fetch_sub(&p->workers, 1);
    bool last = p->workers == 0 && atomic_load(&p->stopping);
    if (last) p->ended = true;
    weft__mutex_unlock(&p->m);
    return last;
}

enum { LEAVE, LEAVE_LAST, STAY };

/* A running worker is about to end (counted: it is still counted in `workers`). LEAVE;
 * LEAVE_LAST if it is the last worker of a stopping pool: from then on no worker may start
 * (the caller drains the queue and sets `exited`); or, if may_stay, STAY (counted again):
 * it would be that last worker but jobs are still queued. Those were accepted (a refused
 * submit's job, taken back, is skipped when popped): every accepted submit pushed before
 * `stopping` was set and this look comes after reading it, so a worker that idled out, or
 * saw the flag before a job came, still runs them rather than leave them to the drain. */
static int leave_worker(weft_pool *p, bool counted, bool may_stay)
{
    weft__mutex_lock(&p->m);
    int left = p->workers - (counted ? 1 : 0);
    int how = LEAVE;
    if (left == 0 && atomic_load(&p->stopping)) {
        if (may_stay && !queue_looks_empty(p)) {
            how = STAY;
            if (!counted) atomic_fetch_add(&p->workers, 1);
        } else {
            how = LEAVE_LAST;
            p->ended = true;
        }
    }
    if (how != STAY && counted) atomic_fetch_sub(&p->workers, 1);
    weft__mutex_unlock(&p->m);
    return how;
}

static int worker_main(void *arg, void **result)
{
    (void)result;
    weft_pool *p = arg;
    weft__tls *t = weft__tls_get();
    t->pool = p;
    int rc = p->initializer ? p->initializer(p->initializer_arg) : 0;
    if (rc) {
        int err = rc < 0 ? rc : -EIO;
        int none = 0;
        atomic_compare_exchange_strong(&p->broken, &none, err);
        drain(p, err);
    }
    bool counted_out = false;               /* retired as surplus: already uncounted */
    bool token = false;                     /* holds the spin token */
    item *more = NULL;                      /* jobs handed out with the last one */
    int how;
    do {
        while (!rc) {
            item *j;
            if (more) {
                j = more;
                more = next_of(j);
                /* shutdown(cancel_futures) since: these had not started, so they never
                 * do. */
                if (atomic_load_explicit(&p->cancel_all, memory_order_acquire)) {
                    cancel_queued(j, -ECANCELED);
                    continue;
                }
            } else if ((j = next_job(p, &token, &more)) == NULL) {
                break;
            }
            run_job(p, j, &token);
            /* Surplus once a wait on the pool's own jobs has ended: retire, with no job in
             * hand (the hand would have to go back to the queue, behind the back of a
             * worker that may just have looked at it and left). Only ever possible above
             * max_workers threads: checked without the lock first. */
            if (weft__unlikely(!more && atomic_load_explicit(&p->workers, memory_order_relaxed) >
                                        p->max_workers)) {
                weft__mutex_lock(&p->m);
                if (p->workers - p->blocked > p->max_workers) {
                    atomic_fetch_sub(&p->workers, 1);
                    counted_out = true;
                }
                weft__mutex_unlock(&p->m);
                if (counted_out) break;
            }
        }
        weft__perturb(WEFT__PP_POOL_LEAVE);
        how = leave_worker(p, !counted_out, !rc);
        if (how == STAY) counted_out = false;
    } while (how == STAY);
    wake_one(p);
    drop_token(p, &token);
    if (p->finalizer && !rc) p->finalizer(p->finalizer_arg);
    t->pool = NULL;
    if (how == LEAVE_LAST) {
        /* Only jobs whose submit was refused can be queued now (taken back, or pushed
         * after this look): their references go. A broken pool fails what is queued. */
        int broken = atomic_load(&p->broken);
        drain(p, broken ? broken : -ECANCELED);
        weft_event_set(p->exited);
    } else if (!queue_looks_empty(p)) {
        start_worker_if_needed(p, false);    /* a job arrived as this one retired */
    }
    pool_unref(p);
    return 0;
}

/* Starts a worker if none is idle and the pool may grow. */
static void start_worker_if_needed(weft_pool *p, bool compensating)
{
    if (atomic_load_explicit(&p->idle, memory_order_relaxed) > 0 && !compensating) return;
    weft__mutex_lock(&p->m);
    int active = p->workers - p->blocked;
    bool go = !p->ended && (!atomic_load(&p->stopping) || !queue_looks_empty(p)) &&
              !p->broken &&
              active < p->max_workers && p->workers < p->max_workers + p->max_extra &&
              (compensating ? atomic_load(&p->idle) == 0 : true);
    int n = 0;
    if (go) {
        atomic_fetch_add(&p->workers, 1);
        n = ++p->started;
        atomic_fetch_add(&p->refs, 1);
    }
    weft__mutex_unlock(&p->m);
    if (!go) return;
    char name[64];
    snprintf(name, sizeof name, "%s-%d", p->prefix, n);
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.name = name;
    o.daemon = true;
    weft_thread *t;
    if (weft__thread_start_quiet(&t, &o, worker_main, p) == 0) {
        weft_thread_release(t);
        return;
    }
    if (uncount_worker(p, true)) weft_event_set(p->exited);
    pool_unref(p);
}

/* ---- the API --------------------------------------------------------------------------- */

static int default_workers(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    return cpus + 4 < 32 ? (int)cpus + 4 : 32;
}

int weft_pool_create_ex(weft_pool **out, const weft_pool_opts_ex *o)
{
    if (!out) return -EINVAL;
    weft_pool_opts_ex d = WEFT_POOL_OPTS_EX_INIT;
    if (!o) o = &d;
    if (o->max_workers < 0 || o->max_extra_workers < 0 ||
        (o->idle_timeout < 0 && o->idle_timeout != WEFT_FOREVER))
        return -EINVAL;
    weft_pool *p = weft__aligned_alloc(64, sizeof *p);   /* its fields are line-aligned */
    if (!p) return -ENOMEM;
    memset(p, 0, sizeof *p);
    const char *prefix = o->name_prefix ? o->name_prefix : "pool";
    p->prefix = weft__malloc(strlen(prefix) + 1);
    int rc = p->prefix ? weft_event_create(&p->exited) : -ENOMEM;
    if (rc) {
        weft__free(p->prefix);
        weft__free(p);
        return rc;
    }
    strcpy(p->prefix, prefix);
    p->qm = (weft__mutex)WEFT__MUTEX_INIT;
    p->m = (weft__mutex)WEFT__MUTEX_INIT;
    atomic_init(&p->refs, 1);
    p->max_workers = o->max_workers ? o->max_workers : default_workers();
    p->max_extra = o->max_extra_workers ? o->max_extra_workers
                 : (4 * p->max_workers > 16 ? 4 * p->max_workers : 16);
    p->initializer = o->initializer;
    p->initializer_arg = o->initializer_arg;
    p->finalizer = o->finalizer;
    p->finalizer_arg = o->finalizer_arg;
    p->idle_timeout = o->idle_timeout ? o->idle_timeout : DEFAULT_IDLE;
    p->caller_runs = o->caller_runs;
    *out = p;
    return 0;
}

int weft_pool_create(weft_pool **out, const weft_pool_opts *opts)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    if (opts) o.max_workers = opts->max_workers;
    return weft_pool_create_ex(out, &o);
}

/* Whether a worker can be counted on to reach a job queued now: one is alive, or could be
 * started. */
static bool ensure_worker(weft_pool *p)
{
    if (atomic_load_explicit(&p->workers, memory_order_relaxed) > 0) return true;
    start_worker_if_needed(p, false);
    return atomic_load(&p->workers) > 0;
}

/* After a push: a worker may start if none is idle and fewer than max_workers are active. */
static void wake_or_grow(weft_pool *p)
{
    wake_one(p);
    if (atomic_load_explicit(&p->idle, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&p->workers, memory_order_relaxed) -
        atomic_load_explicit(&p->blocked, memory_order_relaxed) < p->max_workers)
        start_worker_if_needed(p, false);
}

/* A detached submit: a bare item, which the worker frees. Its submit cannot take it back
 * once queued (a worker may already have run and freed it), so a worker is made sure of
 * first. */
static int submit_bare(weft_pool *p, weft_fn fn, void *arg)
{
    if (!ensure_worker(p)) return -EAGAIN;
    item *it = weft__block_get(sizeof *it);
    if (!it) return -ENOMEM;
    it->fn = fn;
    it->arg = arg;
    it->bare = true;                          /* state and cancel: jobs' only */
    push(p, it);
    wake_or_grow(p);
    return 0;
}

static int submit_job(weft_pool *p, weft_future **f, weft_fn fn, void *arg)
{
    job *j = weft__block_get(sizeof *j);
    if (!j) return -ENOMEM;
    weft__future_init(&j->fut, &job_ops, 2);
    j->pool = p;
    j->it.fn = fn;
    j->it.arg = arg;
    atomic_init(&j->it.state, QUEUED);
    atomic_init(&j->it.cancel, false);
    j->it.bare = false;
    j->it.helpable = p->caller_runs;
    atomic_init(&j->it.settled, false);
    push(p, &j->it);
    weft__perturb(WEFT__PP_POOL_SUBMIT);
    wake_or_grow(p);
    /* Shut down meanwhile (the workers may have left), or nobody to run it (no thread
     * could start and none is alive): take it back rather than leave its future pending
     * for ever. The caller's reference keeps the job alive for this look. */
    int rc = atomic_load(&p->shutdown) ? -ESHUTDOWN
           : atomic_load(&p->workers) == 0 ? -EAGAIN : 0;
    if (weft__unlikely(rc)) {
        int s = QUEUED;
        if (atomic_compare_exchange_strong(&j->it.state, &s, CANCELLED)) {
            atomic_store_explicit(&j->fut.retrieved, 1, memory_order_relaxed);
            weft__future_complete_owned(&j->fut, rc, NULL);
            weft_future_release(&j->fut);   /* the queue's goes with the queue */
            return rc;
        }
        /* CANCELLED: a drain (the last worker's, or cancel_futures) got to it first and
         * completes it -ECANCELED; it never runs, so the submit is refused all the same
         * (returning 0 would accept a job that will not run). Unless the drain was a
         * broken pool's: its future gets the initializer's error, as queued jobs do
         * (weft_pool_create_ex), and the submit stands. RUNNING: a worker took it; it
         * runs, the submit is accepted. */
        if (s == CANCELLED && !atomic_load(&p->broken)) {
            atomic_store_explicit(&j->fut.retrieved, 1, memory_order_relaxed);
            weft_future_release(&j->fut);   /* the drain holds the queue's reference */
            return rc;
        }
    }
    *f = &j->fut;
    return 0;
}

/* A submit racing with shutdown is either refused (-ESHUTDOWN) or its job runs (unless
 * cancel_futures), as with Python's submit and shutdown, which share a lock. A job with a
 * future is checked after its push and taken back if it has not started. A bare item
 * cannot be: its submit is counted in `submitting` from before it reads the shutdown flag
 * until the item is queued (sequentially consistent with shutdown's store and read), and
 * shutdown lets the workers leave only once that count is zero. */
int weft_pool_submit(weft_pool *p, weft_future **f, weft_fn fn, void *arg)
{
    if (!p || !fn) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    if (f) {
        if (atomic_load_explicit(&p->shutdown, memory_order_acquire)) return -ESHUTDOWN;
        int broken = atomic_load_explicit(&p->broken, memory_order_relaxed);
        return broken ? broken : submit_job(p, f, fn, arg);
    }
    atomic_fetch_add_explicit(&p->submitting, 1, memory_order_seq_cst);
    int rc;
    if (atomic_load_explicit(&p->shutdown, memory_order_seq_cst))
        rc = -ESHUTDOWN;
    else if ((rc = atomic_load_explicit(&p->broken, memory_order_relaxed)) != 0)
        ;
    else
        rc = submit_bare(p, fn, arg);
    atomic_fetch_sub_explicit(&p->submitting, 1, memory_order_release);
    return rc;
}

/* Whether the calling thread runs a job of p now (as a worker, or as a caller_runs
 * waiter): a shutdown(wait) would wait for itself. */
static bool in_own_job(weft_pool *p)
{
    weft__tls *t = weft__tls_get();
    if (t->pool == p) return true;
    for (const inline_job *f = t->inline_jobs; f; f = f->outer)
        if (f->pool == p) return true;
    return false;
}

int weft_pool_shutdown(weft_pool *p, bool wait, bool cancel_futures)
{
    if (!p) return -EINVAL;
    if (wait && in_own_job(p)) return -EDEADLK;
    atomic_store_explicit(&p->shutdown, true, memory_order_seq_cst);
    weft__store_load_fence();       /* pairs with a submit's submitting++, then shutdown read */
    /* Detached submits in progress finish first (a few hundred ns; a thread start at
     * worst): their items are queued before the workers may leave. */
    for (unsigned i = 0; atomic_load_explicit(&p->submitting, memory_order_seq_cst); i++) {
        if (i < 1000) weft__cpu_relax();
        else sched_yield();
    }
    weft__perturb(WEFT__PP_POOL_STOPPING);
    atomic_store_explicit(&p->stopping, true, memory_order_seq_cst);
    if (cancel_futures) {
        atomic_store(&p->cancel_all, true);  /* for jobs workers hold in hand */
        drain(p, -ECANCELED);
    }
    wake_all(p);
    if (atomic_load(&p->workers) == 0 && !queue_looks_empty(p))
        start_worker_if_needed(p, false);    /* queued jobs still run */
    weft__mutex_lock(&p->m);
    bool none = p->workers == 0;
    if (none) p->ended = true;
    weft__mutex_unlock(&p->m);
    if (none) {
        drain(p, -ECANCELED);                /* nobody will run what is left */
        weft_event_set(p->exited);
    }
    if (!wait) return 0;
    /* Shielded: a cancelled caller still waits for the workers, so the pool can go. */
    weft_scope s;
    weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    int rc = weft_event_wait(p->exited, WEFT_FOREVER);
    /* caller_runs: waiters may still be running jobs they claimed (job_help counts itself
     * right after its claim, before a worker may go past the job: wait_settled; and none
     * can claim one now: nothing is queued). Rare and short of a job's length: polled, 1 us
     * doubling to 1 ms, in any context. */
    for (int64_t d = WEFT_US; rc == 0 && atomic_load(&p->refs) >= HELPER;
         d = d < WEFT_MS ? 2 * d : d)
        rc = weft_sleep(d);
    weft_scope_leave(&s);
    return rc;
}

void weft_pool_destroy(weft_pool *p)
{
    if (!p) return;
    weft_pool_shutdown(p, !in_own_job(p), false);
    pool_unref(p);
}

int weft_pool_workers(weft_pool *p)
{
    if (!p) return 0;
    weft__mutex_lock(&p->m);
    int n = p->workers;
    weft__mutex_unlock(&p->m);
    return n;
}
