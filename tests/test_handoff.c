/* The hand-off rule (docs/CANCELLATION.md, "Hand-offs"): a call that hands work to another
 * thread — weft_to_thread, weft_run_in_executor, the file calls, weft_resolve — and returns
 * -ECANCELED or -ETIMEDOUT did not do the work and left nothing behind; when it did the
 * work, it reports how it ended.
 *
 * test_cancel_racing_each_handoff: for each hand-off, a coroutine makes the call while a
 * cancel comes (a) before the call (the coroutine is already cancelled: the call must say
 * -ECANCELED and do nothing), (b) from another coroutine of its loop at a random moment, or
 * (c) from another thread at a random moment. Up to 100,000 tries each (sanitizers and
 * Valgrind: 10,000; each phase also stops after a few seconds), and after every try: a job
 * that ran was reported with its own result, one reported -ECANCELED never ran (and never
 * runs later); for files, an open that returned -ECANCELED left no descriptor open (fds are
 * counted before and after), a write that returned -ECANCELED wrote nothing and one that
 * returned 1 wrote its byte (the file is read back); for weft_resolve, a caller already
 * cancelled makes no lookup at all (getaddrinfo is counted), and every answer a lookup
 * produced is freed, also those of lookups left to finish alone.
 * Before the fixes (issue 12 items 2 and 3), (a) submitted the job first and let it run
 * whenever a worker took it before the cancel did, and a job that finished as the wait was
 * cut was reported -ECANCELED (its result, or an opened descriptor, lost).
 *
 * test_close_whatever_the_cancellation_state: weft_file_close releases the descriptor in a
 * cancelled coroutine, past a deadline scope and in a cancelled pool job (issue 12 item 5:
 * it returned -ECANCELED and closed nothing); read_all in a cancelled coroutine leaks
 * nothing.
 *
 * test_file_calls_cut_do_nothing: file calls by a cancelled caller, or past a deadline scope,
 * return -ECANCELED / -ETIMEDOUT and do nothing (an open with O_CREAT creates no file), from
 * coroutines and threads alike.
 *
 * test_resolve_callback_allocation_fails: issue 20 bug 2. weft_resolve's done-callback could
 * not be added (-ENOMEM): the caller dropped the job's reference to the lookup although the
 * job was queued, and when it then gave up (its timeout) while getaddrinfo ran, it freed the
 * record the resolver thread then wrote into; the answer leaked. Here getaddrinfo takes
 * 30 ms and the caller waits 2 ms, with each of its allocations made to fail in turn
 * (weft__alloc_fail_countdown): every answer produced must be freed (and ASan sees no
 * use-after-free).
 *
 * getaddrinfo and freeaddrinfo are interposed (this file defines them; the real ones are
 * found with dlsym(RTLD_NEXT)) to count lookups, make them slow on demand, and count the
 * answers freed.
 */
#include "check.h"
#include "fault.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>

#define T5 (5 * WEFT_SEC)

/* ---- getaddrinfo, counted ----------------------------------------------------------------- */

static _Atomic long gai_calls, gai_running, gai_answers, gai_freed;
static _Atomic int64_t gai_delay;            /* ns each lookup sleeps first */

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef void (*fai_fn)(struct addrinfo *);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static _Atomic(gai_fn) real;
    gai_fn fn = atomic_load(&real);
    if (!fn) {
        *(void **)&fn = dlsym(RTLD_NEXT, "getaddrinfo");
        CHECK(fn != NULL);
        atomic_store(&real, fn);
    }
    atomic_fetch_add(&gai_calls, 1);
    atomic_fetch_add(&gai_running, 1);
    /* The arguments are read at once (a slow lookup is slow after it has read them). */
    char n[256], sv[32];
    struct addrinfo h = *hints;
    CHECK((!node || strlen(node) < sizeof n) && (!service || strlen(service) < sizeof sv));
    if (node) strcpy(n, node);
    if (service) strcpy(sv, service);
    int64_t d = atomic_load(&gai_delay);
    if (d > 0) {
        struct timespec ts = { d / WEFT_SEC, d % WEFT_SEC };
        while (nanosleep(&ts, &ts) != 0) {}
    }
    int rc = fn(node ? n : NULL, service ? sv : NULL, &h, res);
    if (rc == 0) atomic_fetch_add(&gai_answers, 1);
    atomic_fetch_sub(&gai_running, 1);
    return rc;
}

void freeaddrinfo(struct addrinfo *ai)
{
    static _Atomic(fai_fn) real;
    fai_fn fn = atomic_load(&real);
    if (!fn) {
        *(void **)&fn = dlsym(RTLD_NEXT, "freeaddrinfo");
        CHECK(fn != NULL);
        atomic_store(&real, fn);
    }
    fn(ai);
    atomic_fetch_add(&gai_freed, 1);
}

/* Waits until no lookup runs and every answer produced has been freed (the lookup's record
 * goes, with its answer, when the last of the caller and the job lets go: just after the
 * job's end). False if an answer is still not freed after 2 s. */
static bool answers_all_freed(void)
{
    int64_t t0 = weft_now();
    while (atomic_load(&gai_running) > 0 || atomic_load(&gai_freed) < atomic_load(&gai_answers)) {
        if (weft_now() - t0 > 2 * WEFT_SEC) return false;
        struct timespec ts = { 0, 100 * 1000 };
        nanosleep(&ts, NULL);
    }
    return atomic_load(&gai_freed) == atomic_load(&gai_answers);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static char dir[64];

static void path_of(char *out, size_t size, const char *name)
{
    CHECK(snprintf(out, size, "%s/%s", dir, name) < (int)size);
}

/* Open descriptors of the process that a hand-off could leak: files and sockets. Others are
 * left out because they come and go beside the test: epoll and event descriptors (anon inodes)
 * belong to the loops of pool threads, and the pools grow under this test's load; pipes are
 * ThreadSanitizer's, which starts its symbolizer process the first time a report is matched
 * against tools/tsan.supp (glibc's getaddrinfo cache, see there). */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        char target[256];
        ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (len < 0) continue;              /* closed meanwhile */
        target[len] = '\0';
        if (strncmp(target, "anon_inode:", 11) == 0 || strncmp(target, "pipe:", 5) == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void spin_ns(int64_t ns)
{
    int64_t end = weft_now() + ns;
    while (weft_now() < end) {}
}

/* ---- the race ---------------------------------------------------------------------------- */

typedef enum { H_TO_THREAD, H_EXECUTOR, H_OPEN, H_WRITE, H_RESOLVE, H_COUNT } handoff;
static const char *const hname[] = { "to_thread", "run_in_executor", "file_open",
                                     "file_write", "resolve" };

typedef enum { M_BEFORE, M_SAME_LOOP, M_OTHER_THREAD, M_COUNT } mode;

typedef struct {
    handoff h;
    mode m;
    long index;
    atomic_int ran;              /* the job ran (to_thread, run_in_executor) */
    bool called;                 /* the coroutine ran and made its call */
    int rc;                      /* what the call returned */
    void *res;
} try_t;

static weft_pool *user_pool;
static char open_path[128];
static int write_fd;

static atomic_long jobs_ran;             /* every run of `job`, in all tries */

static int job(void *arg, void **result)
{
    try_t *t = arg;
    atomic_fetch_add(&jobs_ran, 1);
    atomic_fetch_add(&t->ran, 1);
    *result = (void *)(0x1000 + (intptr_t)t->index);
    return 0;
}

/* The coroutine under test: makes the call once (M_BEFORE: once the cancel has reached it). */
static int caller(void *arg, void **result)
{
    (void)result;
    try_t *t = arg;
    if (t->m == M_BEFORE)
        while (!weft_cancelled()) weft_yield();
    t->called = true;
    weft_addr out[4];
    switch (t->h) {
    case H_TO_THREAD:
        t->rc = weft_to_thread(job, t, &t->res);
        break;
    case H_EXECUTOR:
        t->rc = weft_run_in_executor(user_pool, job, t, &t->res);
        break;
    case H_OPEN:
        t->rc = weft_file_open(open_path, O_RDONLY, 0);
        if (t->rc >= 0) CHECK(close(t->rc) == 0);   /* known: not a leak */
        break;
    case H_WRITE:
        t->rc = (int)weft_file_write(write_fd, "x", 1, t->index);
        break;
    case H_RESOLVE:
        t->rc = weft_resolve("localhost", 80, AF_INET, SOCK_STREAM, out, 4, WEFT_FOREVER);
        break;
    default:
        CHECK(!"hand-off");
    }
    return 0;
}

/* Another thread's cancels: on each `req`, `target` is cancelled after `delay` ns; then
 * `ack`. */
static struct {
    weft_future *target;
    int64_t delay;
    weft_sem *req, *ack;
    atomic_int stop;
} canceller;

static int canceller_main(void *arg, void **result)
{
    (void)arg; (void)result;
    for (;;) {
        CHECK_OK(weft_sem_acquire(canceller.req, WEFT_FOREVER));
        if (atomic_load(&canceller.stop)) break;
        spin_ns(canceller.delay);
        weft_future_cancel(canceller.target);
        CHECK_OK(weft_sem_release(canceller.ack));
    }
    return 0;
}

typedef struct {
    handoff h;
    long tries;                  /* made */
    long outcome[M_COUNT][2];    /* [mode][0: done, 1: -ECANCELED] */
    long unstarted;              /* cancelled before the coroutine first ran: no call */
    uint8_t *written;            /* H_WRITE: what each try's write reported (1: written) */
    long max_tries;
    int64_t budget;
} phase;

/* One try: spawn the caller, cancel it as the mode says, wait, check. */
static void one_try(phase *ph, try_t *t, rng *r)
{
    weft_future *f;
    CHECK_OK(weft_spawn(&f, caller, t));
    switch (t->m) {
    case M_BEFORE:
        CHECK_OK(weft_yield());                 /* it runs up to its first yield */
        CHECK_OK(weft_future_cancel(f));
        break;
    case M_SAME_LOOP:
        /* Let it make its call (and park) or not, then cancel after a random pause while
         * the worker races to run the job. */
        for (unsigned k = 1 + below(r, 2); k > 0; k--) CHECK_OK(weft_yield());
        spin_ns((int64_t)below(r, 30000));
        weft_future_cancel(f);
        break;
    case M_OTHER_THREAD:
        canceller.delay = (int64_t)below(r, 40000);
        canceller.target = f;
        CHECK_OK(weft_sem_release(canceller.req));
        break;
    default:
        CHECK(!"mode");
    }
    int fr = weft_future_result(f, WEFT_FOREVER, NULL);
    if (t->m == M_OTHER_THREAD)
        CHECK_OK(weft_sem_acquire(canceller.ack, WEFT_FOREVER));   /* its cancel is done */
    weft_future_release(f);
    if (fr == -ECANCELED) {
        /* Cancelled before it first ran (rule 4): it never made its call. */
        CHECK(t->m == M_OTHER_THREAD && !t->called);
        ph->unstarted++;
        return;
    }
    CHECK_OK(fr);
    CHECK(t->called);

    int ran = atomic_load(&t->ran);
    bool cancelled = t->rc == -ECANCELED;
    if (t->m == M_BEFORE && !cancelled) {
        fprintf(stderr, "%s by an already-cancelled coroutine returned %d (%s) (try %ld)%s\n",
                hname[t->h], t->rc, t->rc < 0 ? weft_errname(t->rc) : "done", t->index,
                ran ? ": its job ran" : "");
        abort();
    }
    switch (t->h) {
    case H_TO_THREAD:
    case H_EXECUTOR:
        if (cancelled ? ran != 0 : (t->rc != 0 || ran != 1 ||
                                    t->res != (void *)(0x1000 + (intptr_t)t->index))) {
            fprintf(stderr, "%s (try %ld, cancel %s) returned %s with its job run %d "
                    "time(s)%s\n", hname[t->h], t->index,
                    t->m == M_BEFORE ? "before" : t->m == M_SAME_LOOP ? "same loop"
                    : "other thread", weft_errname(t->rc), ran,
                    !cancelled && t->rc == 0 ? " and a wrong result" : "");
            abort();
        }
        break;
    case H_OPEN:
        CHECK(cancelled || t->rc >= 0);
        break;
    case H_WRITE:
        CHECK(cancelled || t->rc == 1);
        ph->written[t->index] = t->rc == 1;
        break;
    case H_RESOLVE:
        CHECK(cancelled || t->rc >= 1);
        break;
    default:
        break;
    }
    ph->outcome[t->m][cancelled]++;
}

static int phase_main(void *arg, void **result)
{
    (void)result;
    phase *ph = arg;
    rng r;
    rng_seed(&r, 1000 + (uint64_t)ph->h);
    try_t t;
    long before_calls = 0;
    for (int m = 0; m < M_COUNT; m++) {
        /* (a) first, in a block: no lookup may happen in it. */
        if (m == M_BEFORE) before_calls = atomic_load(&gai_calls);
        long n = m == M_BEFORE ? ph->max_tries / 4 : ph->max_tries * 3 / 8;
        int64_t until = weft_now() + (m == M_BEFORE ? ph->budget / 4 : ph->budget * 3 / 8);
        for (long i = 0; i < n && weft_now() < until; i++) {
            memset(&t, 0, sizeof t);
            t.h = ph->h;
            t.m = (mode)m;
            t.index = ph->tries++;
            one_try(ph, &t, &r);
        }
        if (m == M_BEFORE && ph->h == H_RESOLVE) {
            CHECK(answers_all_freed());
            long made = atomic_load(&gai_calls) - before_calls;
            if (made != 0) {
                fprintf(stderr, "weft_resolve by an already-cancelled coroutine made %ld "
                        "lookup(s) in %ld tries\n", made, ph->outcome[M_BEFORE][1]);
                abort();
            }
        }
    }
    return 0;
}

/* Arguments, if any, name the hand-offs to race (the other tests then do not run). */
static char **only;

static bool selected(handoff h)
{
    if (!only || !*only) return true;
    for (char **a = only; *a; a++)
        if (strcmp(*a, hname[h]) == 0) return true;
    return false;
}

static void test_cancel_racing_each_handoff(void)
{
    long max_tries = slow_tools() ? 10000 : 100000;
    int64_t budget = (slow_tools() ? 8 : 4) * WEFT_SEC;
    weft_pool_opts o = { .max_workers = 2 };
    CHECK_OK(weft_pool_create(&user_pool, &o));
    path_of(open_path, sizeof open_path, "to-open");
    int fd = open(open_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    char wpath[128];
    path_of(wpath, sizeof wpath, "to-write");
    write_fd = open(wpath, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(write_fd >= 0);
    CHECK_OK(weft_sem_create(&canceller.req, 0, false));
    CHECK_OK(weft_sem_create(&canceller.ack, 0, false));
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, canceller_main, NULL));
    /* Warm up: the pools' threads and this thread's loop exist before the count. */
    CHECK_OK(weft_to_thread(job, &(try_t){ 0 }, NULL));
    struct stat st;
    CHECK_OK(weft_file_stat(dir, &st));
    weft_addr a;
    CHECK(weft_resolve("localhost", 80, AF_INET, SOCK_STREAM, &a, 1, T5) >= 1);
    int fds = count_fds();

    for (int h = 0; h < H_COUNT; h++) {
        if (!selected((handoff)h)) continue;
        phase ph;
        memset(&ph, 0, sizeof ph);
        ph.h = (handoff)h;
        ph.max_tries = max_tries;
        ph.budget = budget;
        if (h == H_WRITE) {
            ph.written = calloc((size_t)max_tries, 1);
            CHECK(ph.written != NULL);
        }
        long ran0 = atomic_load(&jobs_ran);
        CHECK_OK(weft_run(phase_main, &ph, NULL));
        if (h == H_TO_THREAD || h == H_EXECUTOR) {
            /* No job reported -ECANCELED runs later either. */
            weft_sleep(20 * WEFT_MS);
            long done = ph.outcome[M_SAME_LOOP][0] + ph.outcome[M_OTHER_THREAD][0];
            CHECK_EQ(atomic_load(&jobs_ran) - ran0, done);
        }
        if (h == H_OPEN) CHECK_EQ(count_fds(), fds);       /* no open went unreported */
        if (h == H_WRITE) {
            /* Each byte is there iff its write said 1. */
            uint8_t *back = calloc((size_t)ph.tries, 1);
            CHECK(back != NULL);
            ssize_t got = pread(write_fd, back, (size_t)ph.tries, 0);
            CHECK(got >= 0);
            for (long i = 0; i < ph.tries; i++) {
                bool there = i < got && back[i] == 'x';
                if (there != (bool)ph.written[i]) {
                    fprintf(stderr, "weft_file_write try %ld returned %s, yet its byte is %s\n",
                            i, ph.written[i] ? "1" : "ECANCELED", there ? "written" : "not");
                    abort();
                }
            }
            free(back);
            free(ph.written);
        }
        if (h == H_RESOLVE) CHECK(answers_all_freed());     /* lookups left alone too */
        printf("    %-15s %6ld tries: already cancelled %ld (all -ECANCELED); cancel from "
               "its loop: %ld done, %ld -ECANCELED; from a thread: %ld done, %ld -ECANCELED, "
               "%ld before it started\n", hname[h], ph.tries, ph.outcome[M_BEFORE][1],
               ph.outcome[M_SAME_LOOP][0], ph.outcome[M_SAME_LOOP][1],
               ph.outcome[M_OTHER_THREAD][0], ph.outcome[M_OTHER_THREAD][1], ph.unstarted);
    }
    atomic_store(&canceller.stop, 1);
    CHECK_OK(weft_sem_release(canceller.req));
    join_and_release(th);
    weft_sem_destroy(canceller.req);
    weft_sem_destroy(canceller.ack);
    CHECK_EQ(count_fds(), fds);
    close(write_fd);
    CHECK(unlink(wpath) == 0);
    CHECK(unlink(open_path) == 0);
    weft_pool_destroy(user_pool);
}

/* ---- close --------------------------------------------------------------------------------- */

static int open_scratch(void)
{
    char p[128];
    path_of(p, sizeof p, "scratch");
    int fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    return fd;
}

static int close_when_cancelled(void *arg, void **result)
{
    (void)result;
    int fd = (int)(intptr_t)arg;
    while (!weft_cancelled()) weft_yield();
    CHECK_OK(weft_file_close(fd));
    CHECK(!fd_is_open(fd));
    int bad = 900000;                           /* surely not open */
    CHECK(!fd_is_open(bad));
    CHECK_RC(weft_file_close(bad), -EBADF);     /* its real outcome, not -ECANCELED */
    /* read_all: its open happens or not; nothing is left open either way. */
    char p[128], *data = NULL;
    path_of(p, sizeof p, "scratch");
    int fds = count_fds();
    CHECK_RC(weft_file_read_all(p, &data, NULL), -ECANCELED);
    CHECK(data == NULL);
    CHECK_EQ(count_fds(), fds);
    return -ECANCELED;
}

/* A loop's main coroutine: spawns c->fn(c->arg), lets it start, cancels it; it must end
 * with -ECANCELED. */
typedef struct {
    weft_fn fn;
    void *arg;
} coro_call;

static int cancel_once_started(void *arg, void **result)
{
    (void)result;
    coro_call *c = arg;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, c->fn, c->arg));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, T5, NULL), -ECANCELED);
    weft_future_release(f);
    return 0;
}

static int close_past_deadline(void *arg, void **result)
{
    (void)result;
    int fd = (int)(intptr_t)arg;
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 0, 0));
    CHECK_OK(weft_file_close(fd));
    CHECK(!fd_is_open(fd));
    CHECK_OK(weft_scope_leave(&s));             /* the close was not cut */
    return 0;
}

static atomic_int job_started;

/* A pool job asked to stop closes its descriptor all the same. */
static int close_in_cancelled_job(void *arg, void **result)
{
    (void)result;
    int fd = (int)(intptr_t)arg;
    atomic_store(&job_started, 1);
    while (!weft_cancelled()) spin_ns(10000);
    CHECK_OK(weft_file_close(fd));
    CHECK(!fd_is_open(fd));
    return -ECANCELED;
}

static void test_close_whatever_the_cancellation_state(void)
{
    int fds = count_fds();
    int fd = open_scratch();
    coro_call c = { close_when_cancelled, (void *)(intptr_t)fd };
    CHECK_OK(weft_run(cancel_once_started, &c, NULL));
    fd = open_scratch();
    CHECK_OK(weft_run(close_past_deadline, (void *)(intptr_t)fd, NULL));   /* coroutine */
    fd = open_scratch();
    CHECK_OK(close_past_deadline((void *)(intptr_t)fd, NULL));           /* thread */
    fd = open_scratch();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, NULL));
    weft_future *f;
    atomic_store(&job_started, 0);
    CHECK_OK(weft_pool_submit(p, &f, close_in_cancelled_job, (void *)(intptr_t)fd));
    while (!atomic_load(&job_started)) sched_yield();
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, T5, NULL), -ECANCELED);
    weft_future_release(f);
    weft_pool_destroy(p);
    CHECK_EQ(count_fds(), fds);
    char path[128];
    path_of(path, sizeof path, "scratch");
    CHECK(unlink(path) == 0);
}

/* ---- file calls cut before they start ------------------------------------------------------ */

/* Every file call but close, made by a caller that is cancelled or past a deadline scope:
 * returns `want` and does nothing. */
static void calls_do_nothing(int want)
{
    char created[128], existing[128];
    path_of(created, sizeof created, "must-not-exist");
    path_of(existing, sizeof existing, "existing");
    int fd = open(existing, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "abc", 3), 3);
    int fds = count_fds();
    CHECK_RC(weft_file_open(created, O_CREAT | O_WRONLY, 0600), want);
    struct stat st;
    CHECK(stat(created, &st) < 0 && errno == ENOENT);
    CHECK_EQ(weft_file_write(fd, "zzz", 3, 0), want);
    char buf[4] = { 0 };
    CHECK_EQ(weft_file_read(fd, buf, 3, 0), want);
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(pread(fd, buf, 3, 0), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);          /* not overwritten */
    CHECK_RC(weft_file_stat(existing, &st), want);
    CHECK_RC(weft_file_fstat(fd, &st), want);
    CHECK_RC(weft_file_sync(fd), want);
    char *data = NULL;
    CHECK_RC(weft_file_read_all(existing, &data, NULL), want);
    CHECK(data == NULL);
    CHECK_EQ(count_fds(), fds);
    CHECK(close(fd) == 0);
    CHECK(unlink(existing) == 0);
}

static int cut_by_cancel(void *arg, void **result)
{
    (void)arg; (void)result;
    while (!weft_cancelled()) weft_yield();
    calls_do_nothing(-ECANCELED);
    return -ECANCELED;
}

static int cut_by_scope(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 0, 0));
    calls_do_nothing(-ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    return 0;
}

static int cut_by_cancel_in_job(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_store(&job_started, 1);
    while (!weft_cancelled()) spin_ns(10000);
    calls_do_nothing(-ECANCELED);
    return -ECANCELED;
}

static void test_file_calls_cut_do_nothing(void)
{
    coro_call c = { cut_by_cancel, NULL };
    CHECK_OK(weft_run(cancel_once_started, &c, NULL));
    CHECK_OK(weft_run(cut_by_scope, NULL, NULL));           /* coroutine */
    CHECK_OK(cut_by_scope(NULL, NULL));                     /* thread */
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, NULL));
    weft_future *f;
    atomic_store(&job_started, 0);
    CHECK_OK(weft_pool_submit(p, &f, cut_by_cancel_in_job, NULL));
    while (!atomic_load(&job_started)) sched_yield();
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, T5, NULL), -ECANCELED);
    weft_future_release(f);
    weft_pool_destroy(p);
}

/* ---- resolve: the done-callback's allocation fails (issue 20 bug 2) ------------------------- */

static void test_resolve_callback_allocation_fails(void)
{
    weft_addr out[4];
    CHECK(weft_resolve("localhost", 80, AF_INET, SOCK_STREAM, out, 4, T5) >= 1);  /* warm */
    CHECK(answers_all_freed());
    atomic_store(&gai_delay, 30 * WEFT_MS);
    int timeouts = 0, failures = 0;
    long k;
    for (k = 1; k < 64; k++) {
        atomic_store(&weft__alloc_fail_countdown, k);
        int rc = weft_resolve("localhost", 80, AF_INET, SOCK_STREAM, out, 4, 2 * WEFT_MS);
        long left = atomic_exchange(&weft__alloc_fail_countdown, 0);
        /* The lookup, if submitted, runs on alone for 30 ms: wait for it, and for its
         * record and answer to go. */
        if (!answers_all_freed()) {
            fprintf(stderr, "with allocation %ld failing, weft_resolve returned %s and a "
                    "lookup's answer was never freed\n", k, weft_errname(rc));
            abort();
        }
        if (rc == -ETIMEDOUT) timeouts++;
        else {
            CHECK(rc == -ENOMEM || rc == -EAGAIN);
            failures++;
        }
        if (left > 0) break;                     /* no allocation failed: all were made */
    }
    CHECK(k < 64);
    CHECK(timeouts >= 1);
    atomic_store(&gai_delay, 0);
    printf("    %ld allocation(s) made to fail: %d failed the call (-ENOMEM/-EAGAIN), %d did "
           "not (the caller timed out as usual)\n", k - 1, failures, timeouts - 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    only = argv + 1;                      /* e.g. test_handoff file_open resolve */
    setvbuf(stdout, NULL, _IOLBF, 0);
    strcpy(dir, "/tmp/weft-test-handoff-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    RUN(test_cancel_racing_each_handoff);
    if (!*only) {
        RUN(test_close_whatever_the_cancellation_state);
        RUN(test_file_calls_cut_do_nothing);
        RUN(test_resolve_callback_allocation_fails);
    }
    CHECK(rmdir(dir) == 0);
    return check_done();
}
