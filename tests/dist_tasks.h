/* tests/dist_tasks.h — the task functions the dist tests' workers know (in the test process
 * and in tests/dist_worker). Arguments and results are int64 values unless said. */
#ifndef WEFT_TESTS_DIST_TASKS_H
#define WEFT_TESTS_DIST_TASKS_H

#include <weft/dist.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each run appends its argument to this file if set (the kill -9 test counts runs). */
static int dist_log_fd = -1;

static int64_t dist_int(const void *arg, size_t len)
{
    int64_t v = 0;
    if (len == sizeof v) memcpy(&v, arg, sizeof v);
    return v;
}

static int dist_give_int(int64_t v, void **out, size_t *out_len)
{
    int64_t *r = malloc(sizeof *r);
    if (!r) return -ENOMEM;
    *r = v;
    *out = r;
    *out_len = sizeof *r;
    return 0;
}

static int task_square(const void *arg, size_t len, void **out, size_t *out_len)
{
    int64_t v = dist_int(arg, len);
    if (dist_log_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%lld\n", (long long)v);
        ssize_t k = write(dist_log_fd, line, (size_t)n);
        (void)k;
    }
    return dist_give_int(v * v, out, out_len);
}

/* Sleeps (the argument mod 50) milliseconds, then squares it. */
static int task_slow_square(const void *arg, size_t len, void **out, size_t *out_len)
{
    usleep((useconds_t)(dist_int(arg, len) % 50) * 1000);
    return task_square(arg, len, out, out_len);
}

/* Sleeps the argument's milliseconds, then squares it. */
static int task_sleep_ms(const void *arg, size_t len, void **out, size_t *out_len)
{
    usleep((useconds_t)dist_int(arg, len) * 1000);
    return task_square(arg, len, out, out_len);
}

static int task_fail(const void *arg, size_t len, void **out, size_t *out_len)
{
    (void)arg; (void)len; (void)out; (void)out_len;
    return -EDOM;
}

static int task_echo(const void *arg, size_t len, void **out, size_t *out_len)
{
    void *b = malloc(len ? len : 1);
    if (!b) return -ENOMEM;
    memcpy(b, arg, len);
    *out = b;
    *out_len = len;
    return 0;
}

static int task_hang(const void *arg, size_t len, void **out, size_t *out_len)
{
    (void)arg; (void)len; (void)out; (void)out_len;
    for (;;) pause();
    return 0;
}

static int task_crash(const void *arg, size_t len, void **out, size_t *out_len)
{
    (void)arg; (void)len; (void)out; (void)out_len;
    raise(SIGKILL);
    return 0;
}

/* Fails (-EAGAIN) on its first two runs in a process, then squares. */
static _Atomic int flaky_runs;
static int task_flaky(const void *arg, size_t len, void **out, size_t *out_len)
{
    if (atomic_fetch_add(&flaky_runs, 1) < 2) return -EAGAIN;
    return task_square(arg, len, out, out_len);
}

static int dist_register_all(weft_dist_worker *w)
{
    int rc = weft_dist_worker_register(w, "square", task_square);
    if (!rc) rc = weft_dist_worker_register(w, "slow_square", task_slow_square);
    if (!rc) rc = weft_dist_worker_register(w, "sleep_ms", task_sleep_ms);
    if (!rc) rc = weft_dist_worker_register(w, "fail", task_fail);
    if (!rc) rc = weft_dist_worker_register(w, "echo", task_echo);
    if (!rc) rc = weft_dist_worker_register(w, "hang", task_hang);
    if (!rc) rc = weft_dist_worker_register(w, "crash", task_crash);
    if (!rc) rc = weft_dist_worker_register(w, "flaky", task_flaky);
    return rc;
}

#endif /* WEFT_TESTS_DIST_TASKS_H */
