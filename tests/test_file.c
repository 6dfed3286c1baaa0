/* weft_file_*: open/read/write (file position and pread/pwrite offsets)/stat/fstat/sync/
 * close/read_all from a plain thread, from coroutines (on the main thread's loop and on
 * another thread's), and from a thread's own context while its loop has coroutines; their
 * errors; a coroutine blocked in a file call (a FIFO) leaves its loop running; read_all of
 * a multi-megabyte, an empty and a /proc file; cancellation of a call that has not started
 * (it never runs) and of one that has (waited for, its result returned), without fd leaks. */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define T5 (5 * WEFT_SEC)

static char dir[64];

static void path_of(char *out, size_t size, const char *name)
{
    CHECK(snprintf(out, size, "%s/%s", dir, name) < (int)size);
}

/* Open descriptors of the process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;                           /* not the directory's own */
}

/* A descriptor number that is surely not open. */
static int bad_fd(void)
{
    int fd = 900000;
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
    return fd;
}

/* ---- contexts --------------------------------------------------------------------------- */

typedef enum { C_THREAD, C_CORO, C_MAIN_LOOP, C_OTHER_LOOP, C_COUNT } ctx;
static const char *const cname[] = { "thread", "coroutine", "thread+loop", "other loop" };

typedef struct {
    void (*body)(ctx c);
    ctx c;
} job;

static int job_in_coroutine(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    j->body(j->c);
    return 0;
}

static int idle_coroutine(void *arg, void **result)
{
    (void)result;
    weft_event *e = arg;
    return weft_event_wait(e, WEFT_FOREVER);
}

static void in_context(void (*body)(ctx c), ctx c)
{
    job j = { body, c };
    switch (c) {
    case C_THREAD:
        body(c);
        break;
    case C_CORO:
        CHECK_OK(weft_run(job_in_coroutine, &j, NULL));
        break;
    case C_MAIN_LOOP: {
        /* A live coroutine on this thread's loop: the thread's own calls must not block
         * it (they go to the file threads while the loop runs). */
        weft_event *e;
        CHECK_OK(weft_event_create(&e));
        weft_future *f;
        CHECK_OK(weft_spawn(&f, idle_coroutine, e));
        CHECK_OK(weft_yield());
        body(c);
        CHECK_OK(weft_event_set(e));
        CHECK_OK(weft_future_result(f, T5, NULL));
        weft_future_release(f);
        weft_event_destroy(e);
        break;
    }
    case C_OTHER_LOOP: {
        loop_job lj = { job_in_coroutine, &j };
        join_and_release(start_loop_thread(&lj));
        break;
    }
    default:
        CHECK(!"context");
    }
}

static void each(void (*body)(ctx c))
{
    for (int c = 0; c < C_COUNT; c++) {
        int64_t t0 = weft_now();
        printf("    %-11s", cname[c]);
        fflush(stdout);
        in_context(body, (ctx)c);
        printf(" %8.1f ms\n", (double)(weft_now() - t0) / 1e6);
    }
}

/* ---- every call ------------------------------------------------------------------------- */

static void body_calls(ctx c)
{
    char path[128], name[32];
    snprintf(name, sizeof name, "calls-%d", (int)c);
    path_of(path, sizeof path, name);
    int fd = weft_file_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK_RC(weft_file_open(path, O_CREAT | O_EXCL | O_RDWR, 0600), -EEXIST);

    /* At the file position, and at offsets (which leave the position alone). */
    CHECK_EQ(weft_file_write(fd, "hello world", 11, -1), 11);
    CHECK_EQ(weft_file_write(fd, "XY", 2, 20), 2);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);
    CHECK_EQ(weft_file_write(fd, "!", 1, -1), 1);
    CHECK_EQ(weft_file_write(fd, NULL, 0, -1), 0);
    CHECK_EQ(weft_file_write(fd, "", 0, 5), 0);
    struct stat st;
    CHECK_OK(weft_file_fstat(fd, &st));
    CHECK_EQ(st.st_size, 22);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600);
    memset(&st, 0, sizeof st);
    CHECK_OK(weft_file_stat(path, &st));
    CHECK_EQ(st.st_size, 22);
    CHECK_OK(weft_file_sync(fd));

    char buf[64];
    memset(buf, '?', sizeof buf);
    CHECK_EQ(weft_file_read(fd, buf, sizeof buf, 0), 22);
    CHECK(memcmp(buf, "hello world!\0\0\0\0\0\0\0\0XY", 22) == 0);
    CHECK_EQ(weft_file_read(fd, buf, 5, 6), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_EQ(weft_file_read(fd, buf, sizeof buf, 100), 0);       /* past the end */
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 12);              /* pread leaves it */
    CHECK_EQ(lseek(fd, 6, SEEK_SET), 6);
    CHECK_EQ(weft_file_read(fd, buf, 5, -1), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);
    CHECK_EQ(weft_file_read(fd, buf, 0, -1), 0);
    CHECK_EQ(weft_file_read(fd, NULL, 0, -1), 0);
    CHECK_EQ(lseek(fd, 0, SEEK_END), 22);
    CHECK_EQ(weft_file_read(fd, buf, sizeof buf, -1), 0);        /* at the end */

    /* A large write in one call, read back at offsets. */
    size_t big = 3 * 1000 * 1000;
    unsigned char *p = malloc(big), *q = malloc(big);
    CHECK(p && q);
    for (size_t i = 0; i < big; i++) p[i] = (unsigned char)(i * 7 + (i >> 12));
    CHECK_EQ(weft_file_write(fd, p, big, 1000), (ssize_t)big);
    CHECK_OK(weft_file_fstat(fd, &st));
    CHECK_EQ(st.st_size, 1000 + big);
    size_t got = 0;
    while (got < big) {
        ssize_t r = weft_file_read(fd, q + got, big - got > 65536 ? 65536 : big - got,
                                   (int64_t)(1000 + got));
        CHECK(r > 0);
        got += (size_t)r;
    }
    CHECK(memcmp(p, q, big) == 0);
    free(p);
    free(q);
    CHECK_OK(weft_file_close(fd));

    /* Errors. */
    int bad = bad_fd();
    char missing[128];
    path_of(missing, sizeof missing, "no-such-file");
    CHECK_RC(weft_file_open(missing, O_RDONLY, 0), -ENOENT);
    CHECK_RC(weft_file_stat(missing, &st), -ENOENT);
    CHECK_RC(weft_file_open(dir, O_WRONLY, 0), -EISDIR);
    CHECK_RC((int)weft_file_read(bad, buf, 1, -1), -EBADF);
    CHECK_RC((int)weft_file_read(bad, buf, 1, 0), -EBADF);
    CHECK_RC((int)weft_file_write(bad, "x", 1, -1), -EBADF);
    CHECK_RC((int)weft_file_write(bad, "x", 1, 0), -EBADF);
    CHECK_RC(weft_file_fstat(bad, &st), -EBADF);
    CHECK_RC(weft_file_sync(bad), -EBADF);
    CHECK_RC(weft_file_close(bad), -EBADF);
    fd = weft_file_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK_RC((int)weft_file_write(fd, "x", 1, -1), -EBADF);     /* not open for writing */
    CHECK_RC((int)weft_file_read(fd, buf, 1, -5), 1);           /* any negative: position */
    CHECK_OK(weft_file_close(fd));

    /* Misuse. */
    CHECK_RC(weft_file_open(NULL, O_RDONLY, 0), -EINVAL);
    CHECK_RC((int)weft_file_read(-1, buf, 1, -1), -EINVAL);
    CHECK_RC((int)weft_file_read(0, NULL, 1, -1), -EINVAL);
    CHECK_RC((int)weft_file_write(-1, "x", 1, -1), -EINVAL);
    CHECK_RC((int)weft_file_write(0, NULL, 1, -1), -EINVAL);
    CHECK_RC(weft_file_stat(NULL, &st), -EINVAL);
    CHECK_RC(weft_file_stat(path, NULL), -EINVAL);
    CHECK_RC(weft_file_fstat(-1, &st), -EINVAL);
    CHECK_RC(weft_file_fstat(0, NULL), -EINVAL);
    CHECK_RC(weft_file_sync(-1), -EINVAL);
    CHECK_RC(weft_file_close(-1), -EINVAL);
    char *data = (char *)1;
    CHECK_RC(weft_file_read_all(NULL, &data, NULL), -EINVAL);
    CHECK_RC(weft_file_read_all(path, NULL, NULL), -EINVAL);
    CHECK_RC(weft_file_read_all(missing, &data, NULL), -ENOENT);
    CHECK_RC(weft_file_read_all(dir, &data, NULL), -EISDIR);
    CHECK_PTR(data, (char *)1);                                 /* untouched on errors */
    CHECK(unlink(path) == 0);
}

static void test_calls(void)
{
    int fds = count_fds();
    each(body_calls);
    CHECK_EQ(count_fds(), fds);
}

/* ---- read_all ----------------------------------------------------------------------------- */

#define FEED (100 * 1000 + 3)

static int fifo_feeder(void *arg, void **result)
{
    (void)arg; (void)result;
    char path[128];
    path_of(path, sizeof path, "feed");
    unsigned char *p = malloc(FEED);
    CHECK(p != NULL);
    for (size_t i = 0; i < FEED; i++) p[i] = (unsigned char)(i % 251);
    int fd = open(path, O_WRONLY | O_CLOEXEC);        /* waits for the reader */
    CHECK(fd >= 0);
    CHECK_EQ(write_all(fd, p, FEED), (ssize_t)FEED);
    close(fd);
    free(p);
    return 0;
}

static void body_read_all(ctx c)
{
    (void)c;
    char path[128];
    path_of(path, sizeof path, "big");
    char *data = NULL;
    size_t len = 1;
    struct stat st;
    CHECK_OK(weft_file_stat(path, &st));
    CHECK_OK(weft_file_read_all(path, &data, &len));
    CHECK_EQ(len, st.st_size);
    CHECK_EQ(data[len], '\0');
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)data[i] != (unsigned char)(i * 13 + (i >> 16))) {
            fprintf(stderr, "byte %zu differs\n", i);
            CHECK(!"read_all content");
        }
    }
    free(data);

    path_of(path, sizeof path, "empty");
    data = NULL;
    len = 1;
    CHECK_OK(weft_file_read_all(path, &data, &len));
    CHECK_EQ(len, 0);
    CHECK(data != NULL);
    CHECK_EQ(data[0], '\0');
    free(data);
    data = NULL;
    CHECK_OK(weft_file_read_all(path, &data, NULL));          /* len may be NULL */
    CHECK(data != NULL && data[0] == '\0');
    free(data);

    /* A FIFO: no size to start from; its content grows the buffer a few times. */
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, fifo_feeder, NULL));
    path_of(path, sizeof path, "feed");
    data = NULL;
    CHECK_OK(weft_file_read_all(path, &data, &len));
    join_and_release(t);
    CHECK_EQ(len, FEED);
    CHECK_EQ(data[len], '\0');
    for (size_t i = 0; i < len; i++) CHECK_EQ((unsigned char)data[i], (unsigned char)(i % 251));
    free(data);

    /* stat says 0 bytes, yet there is content: read until the end. */
    data = NULL;
    CHECK_OK(weft_file_read_all("/proc/self/status", &data, &len));
    CHECK(len > 0);
    CHECK_EQ(strlen(data), len);
    CHECK(strstr(data, "Name:") != NULL);
    free(data);
}

static void test_read_all(void)
{
    char path[128];
    size_t size = (slow_tools() ? 1 : 5) * 1000 * 1000 + 17;
    unsigned char *p = malloc(size);
    CHECK(p != NULL);
    for (size_t i = 0; i < size; i++) p[i] = (unsigned char)(i * 13 + (i >> 16));
    path_of(path, sizeof path, "big");
    int fd = weft_file_open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(weft_file_write(fd, p, size, -1), (ssize_t)size);
    CHECK_OK(weft_file_close(fd));
    free(p);
    path_of(path, sizeof path, "empty");
    fd = weft_file_open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0);
    CHECK_OK(weft_file_close(fd));
    path_of(path, sizeof path, "feed");
    CHECK(mkfifo(path, 0600) == 0);

    int fds = count_fds();
    each(body_read_all);
    CHECK_EQ(count_fds(), fds);
    path_of(path, sizeof path, "big");
    CHECK(unlink(path) == 0);
    path_of(path, sizeof path, "empty");
    CHECK(unlink(path) == 0);
    path_of(path, sizeof path, "feed");
    CHECK(unlink(path) == 0);
}

/* ---- a blocked file call leaves the loop running (a FIFO) ---------------------------------- */

typedef struct {
    char path[128];
    weft_future *reader;
    _Atomic int ticks;
    _Atomic bool done;
} fifo_job;

static int fifo_reader(void *arg, void **result)
{
    (void)result;
    fifo_job *j = arg;
    /* Opening a FIFO for reading blocks until a writer opens it: on a file thread. */
    int fd = weft_file_open(j->path, O_RDONLY, 0);
    CHECK(fd >= 0);
    char buf[16];
    size_t got = 0;
    for (;;) {
        ssize_t r = weft_file_read(fd, buf + got, sizeof buf - got, -1);   /* blocks too */
        CHECK(r >= 0);
        if (r == 0) break;
        got += (size_t)r;
    }
    CHECK_EQ(got, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_OK(weft_file_close(fd));
    atomic_store(&j->done, true);
    return 0;
}

static int fifo_ticker(void *arg, void **result)
{
    (void)result;
    fifo_job *j = arg;
    while (!atomic_load(&j->done)) {
        atomic_fetch_add(&j->ticks, 1);
        CHECK_OK(weft_sleep(WEFT_MS));
    }
    return 0;
}

static int fifo_writer(void *arg, void **result)
{
    (void)result;
    fifo_job *j = arg;
    /* The reader cannot have finished: nobody has opened the write end yet. */
    CHECK(!j->reader || !weft_future_done(j->reader));
    if (j->reader) {
        int t0 = atomic_load(&j->ticks);
        while (atomic_load(&j->ticks) < t0 + 3) CHECK_OK(weft_sleep(WEFT_MS));
        CHECK(!weft_future_done(j->reader));
    }
    int fd = weft_file_open(j->path, O_WRONLY, 0);
    CHECK(fd >= 0);
    CHECK_OK(weft_sleep(2 * WEFT_MS));        /* the reader now waits in read */
    CHECK_EQ(weft_file_write(fd, "pi", 2, -1), 2);
    CHECK_OK(weft_sleep(WEFT_MS));
    CHECK_EQ(weft_file_write(fd, "ng", 2, -1), 2);
    CHECK_OK(weft_file_close(fd));
    return 0;
}

static int fifo_main(void *arg, void **result)
{
    (void)result;
    fifo_job *j = arg;
    weft_future *t, *w;
    CHECK_OK(weft_spawn(&j->reader, fifo_reader, j));
    CHECK_OK(weft_spawn(&t, fifo_ticker, j));
    CHECK_OK(weft_yield());                   /* the reader is in weft_file_open */
    CHECK_OK(weft_spawn(&w, fifo_writer, j));
    CHECK_OK(weft_future_result(j->reader, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(w, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));
    CHECK(atomic_load(&j->ticks) >= 3);
    weft_future_release(j->reader);
    weft_future_release(t);
    weft_future_release(w);
    return 0;
}

static void test_fifo_does_not_block_the_loop(void)
{
    int fds = count_fds();
    fifo_job j;
    memset(&j, 0, sizeof j);
    path_of(j.path, sizeof j.path, "fifo");
    CHECK(mkfifo(j.path, 0600) == 0);
    /* Coroutines: the reader, a ticker and the writer on one loop. */
    CHECK_OK(weft_run(fifo_main, &j, NULL));
    /* Threads: the same calls block their threads. */
    j.reader = NULL;
    atomic_store(&j.done, false);
    weft_thread *r, *w;
    CHECK_OK(weft_thread_start(&r, NULL, fifo_reader, &j));
    CHECK_OK(weft_thread_start(&w, NULL, fifo_writer, &j));
    join_and_release(r);
    join_and_release(w);
    CHECK(unlink(j.path) == 0);
    CHECK_EQ(count_fds(), fds);
}

/* ---- cancellation ------------------------------------------------------------------------ */

/* The file threads (named weft-file-N) now inside open(2) (/proc/self/task/T/syscall), or
 * -1 where that cannot be seen (an emulator reports its host's system calls). */
static int file_threads_in_open(void)
{
    if (under_qemu()) return -1;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[320], comm[32] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;                       /* ended meanwhile */
        if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
        fclose(f);
        if (strncmp(comm, "weft-file-", 10) != 0) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
        f = fopen(p, "r");
        if (!f) {
            closedir(d);
            return -1;
        }
        long nr = -1;
        if (fscanf(f, "%ld", &nr) != 1) nr = -1;
        fclose(f);
#ifdef SYS_open
        if (nr == SYS_open) n++;
#endif
        if (nr == SYS_openat) n++;
    }
    closedir(d);
    return n;
}

/* Waits until n file threads are inside open(2); false if that cannot be seen. */
static bool wait_in_open(int n)
{
    int64_t t0 = weft_now();
    for (;;) {
        int k = file_threads_in_open();
        if (k < 0) return false;
        if (k >= n) return true;
        CHECK(weft_now() - t0 < T5);
        CHECK_OK(weft_sleep(WEFT_MS));
    }
}

typedef struct {
    char path[128];
    int flags;
    _Atomic int result;
    _Atomic bool returned;
} open_job;

static int opener(void *arg, void **result)
{
    (void)result;
    open_job *o = arg;
    int fd = weft_file_open(o->path, o->flags, 0600);
    atomic_store(&o->result, fd);
    atomic_store(&o->returned, true);
    return fd < 0 ? fd : 0;
}

/* A thread opening a FIFO's write end (blocks until a reader is there, as in open(2)). */
static int open_writer(void *arg, void **result)
{
    open_job *o = arg;
    int fd = open(o->path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    *result = (void *)(intptr_t)fd;
    return 0;
}

#define NFIFO 4     /* the file pool's max_workers */

static int cancel_main(void *arg, void **result)
{
    (void)result;
    (void)arg;
    open_job o[NFIFO + 1];
    weft_future *f[NFIFO + 1];
    memset(o, 0, sizeof o);
    for (int i = 0; i < NFIFO; i++) {
        char name[16];
        snprintf(name, sizeof name, "cfifo-%d", i);
        path_of(o[i].path, sizeof o[i].path, name);
        CHECK(mkfifo(o[i].path, 0600) == 0);
        o[i].flags = O_RDONLY;
    }
    /* Every file thread blocked in open: a further call is queued, not started. One at a
     * time, each in open(2) before the next (test_calls_made_together_all_run covers calls
     * made together). */
    bool seen = true;
    for (int i = 0; i < NFIFO; i++) {
        CHECK_OK(weft_spawn(&f[i], opener, &o[i]));
        if (seen) seen = wait_in_open(i + 1);
        if (!seen) CHECK_OK(weft_sleep(20 * WEFT_MS));
    }
    if (seen) {
        path_of(o[NFIFO].path, sizeof o[NFIFO].path, "never-created");
        o[NFIFO].flags = O_CREAT | O_EXCL | O_WRONLY;
        CHECK_OK(weft_spawn(&f[NFIFO], opener, &o[NFIFO]));
        CHECK_OK(weft_sleep(10 * WEFT_MS));
        CHECK(!weft_future_done(f[NFIFO]));
        CHECK_OK(weft_future_cancel(f[NFIFO]));
        CHECK_RC(weft_future_result(f[NFIFO], T5, NULL), -ECANCELED);
        CHECK_RC(atomic_load(&o[NFIFO].result), -ECANCELED);
        weft_future_release(f[NFIFO]);
        struct stat st;
        /* It never ran. (Not weft_file_stat: every file thread is still busy.) */
        CHECK(stat(o[NFIFO].path, &st) < 0 && errno == ENOENT);
    }

    /* Cancel the blocked ones: a started call is waited for. */
    for (int i = 0; i < NFIFO; i++) CHECK_OK(weft_future_cancel(f[i]));
    CHECK_OK(weft_sleep(20 * WEFT_MS));
    if (seen)
        for (int i = 0; i < NFIFO; i++) CHECK(!atomic_load(&o[i].returned));
    /* Open the write ends from other threads; the calls end with their descriptors. */
    weft_thread *w[NFIFO] = { NULL };
    for (int i = 0; i < NFIFO; i++) {
        if (!seen) {
            /* Not observable: a call that never started returned -ECANCELED; one that
             * did waits for a writer, which a non-blocking open finds a reader for. */
            while (!atomic_load(&o[i].returned)) {
                int fd = open(o[i].path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                    CHECK_OK(weft_future_result(f[i], T5, NULL));
                    close(fd);
                    break;
                }
                CHECK(errno == ENXIO);
                CHECK_OK(weft_sleep(WEFT_MS));
            }
            continue;
        }
        CHECK_OK(weft_thread_start(&w[i], NULL, open_writer, &o[i]));
    }
    for (int i = 0; i < NFIFO; i++) {
        int rc = weft_future_result(f[i], T5, NULL);
        int fd = atomic_load(&o[i].result);
        if (seen || fd >= 0) {
            CHECK_OK(rc);
            CHECK(fd >= 0);
            struct stat st;
            CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode));
            CHECK(weft_file_close(fd) == 0);
        } else {
            CHECK_RC(rc, -ECANCELED);
            CHECK_RC(fd, -ECANCELED);
        }
        weft_future_release(f[i]);
        if (w[i]) {
            void *wfd;
            CHECK_OK(weft_thread_join(w[i], T5, &wfd));
            weft_thread_release(w[i]);
            close((int)(intptr_t)wfd);
        }
        CHECK(unlink(o[i].path) == 0);
    }
    return 0;
}

static void test_cancel(void)
{
    /* Warm up: the file threads and this thread's loop exist before the count. */
    open_job o;
    memset(&o, 0, sizeof o);
    path_of(o.path, sizeof o.path, "warm");
    o.flags = O_CREAT | O_WRONLY;
    CHECK_OK(weft_run(opener, &o, NULL));
    CHECK(o.result >= 0);
    close(o.result);
    CHECK(unlink(o.path) == 0);

    int fds = count_fds();
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
    CHECK_EQ(count_fds(), fds);
}

static int stat_dir(void *arg, void **result);

/* ---- file calls made together all get a file thread ----------------------------------------
 * The file threads are a weft_pool (max_workers 4). Calls made together while a file thread
 * is idle (asleep) used to leave all but the first queued behind it (submit saw `idle > 0`
 * and neither started nor woke anyone else): when that first call blocked (a FIFO's open, a
 * slow NFS read) the others waited although the pool could grow, and two calls that needed
 * each other deadlocked (fixed in pool.c by 90fb3b3, grow_for_backlog). Here: 4 coroutines
 * open 4 FIFOs for reading at once; all 4 must reach open(2). The bug lost a race with the
 * worker's wake-up (about 3 times in 4), so it is tried 5 times, in a fresh process
 * (argument "calls-together": one file thread, asleep). */
static int pool_opener(void *arg, void **result)
{
    (void)result;
    int fd = weft_file_open(arg, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK_OK(weft_file_close(fd));
    return 0;
}

static int pool_round(void *arg, void **result)
{
    (void)result;
    char (*paths)[128] = arg;
    weft_future *f[NFIFO];
    for (int i = 0; i < NFIFO; i++) CHECK_OK(weft_spawn(&f[i], pool_opener, paths[i]));
    int64_t t0 = weft_now();
    int n;
    while ((n = file_threads_in_open()) < NFIFO && weft_now() - t0 < WEFT_SEC)
        CHECK_OK(weft_sleep(WEFT_MS));
    /* Let every call finish: open write ends for whichever readers are there (in any
     * order: the pool may run them in any). */
    for (int left = NFIFO; left > 0;) {
        left = 0;
        for (int i = 0; i < NFIFO; i++) {
            if (weft_future_done(f[i])) continue;
            left++;
            int fd = open(paths[i], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) close(fd);
        }
        CHECK(weft_now() - t0 < 3 * T5);
        CHECK_OK(weft_sleep(WEFT_MS));
    }
    for (int i = 0; i < NFIFO; i++) {
        CHECK_OK(weft_future_result(f[i], 0, NULL));
        weft_future_release(f[i]);
    }
    if (n < NFIFO) {
        fprintf(stderr, "%d of %d weft_file_open calls made together reached open(2); the "
                        "others waited behind them in the file pool's queue\n", n, NFIFO);
        return -EDEADLK;
    }
    return 0;
}

static int calls_together_child(void)
{
    struct stat st;
    CHECK_OK(weft_run(stat_dir, &st, NULL));            /* one file thread */
    char paths[NFIFO][128];
    for (int i = 0; i < NFIFO; i++) {
        char name[16];
        snprintf(name, sizeof name, "pfifo-%d", i);
        path_of(paths[i], sizeof paths[i], name);
        CHECK(mkfifo(paths[i], 0600) == 0);
    }
    int rc = 0;
    for (int round = 0; round < 5 && rc == 0; round++) {
        CHECK_OK(weft_sleep(100 * WEFT_MS));            /* the file threads go to sleep */
        rc = weft_run(pool_round, paths, NULL);
    }
    for (int i = 0; i < NFIFO; i++) CHECK(unlink(paths[i]) == 0);
    return rc == 0 ? 0 : 1;
}

static void test_calls_made_together_all_run(void)
{
    /* Re-executes itself; needs /proc's view of system calls: not under an emulator. */
    if (under_qemu()) SKIP("needs /proc's view of system calls: not under an emulator");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);  /* Valgrind: the test's */
    CHECK(n > 0);
    self[n] = '\0';
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char *args[] = { self, (char *)"calls-together", dir, NULL };
        execv(self, args);
        _exit(127);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(rmdir(dir) == 0);                   /* the last test: clean up before failing */
    dir[0] = '\0';
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

static int stat_dir(void *arg, void **result)
{
    (void)result;
    return weft_file_stat(dir, arg);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "calls-together") == 0) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return calls_together_child();
    }
    strcpy(dir, "/tmp/weft-test-file-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    /* This thread's loop and the file threads exist before any descriptor count. */
    struct stat st;
    CHECK_OK(weft_run(stat_dir, &st, NULL));
    CHECK(S_ISDIR(st.st_mode));
    RUN(test_calls);
    RUN(test_read_all);
    RUN(test_fifo_does_not_block_the_loop);
    RUN(test_cancel);
    RUN(test_calls_made_together_all_run);
    if (dir[0]) CHECK(rmdir(dir) == 0);
    return check_done();
}
