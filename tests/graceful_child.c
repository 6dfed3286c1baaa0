/* graceful_child — the program tests/test_graceful.c sends real signals to. It runs under
 * weft_run_graceful and prints "ready" once its work is under way; then:
 *
 *   graceful_child jobs FILE    200 pool jobs of 10 ms, each appending one 64-byte record
 *                               (index, checksum, payload) to FILE in one write. Cancelled
 *                               by the first SIGINT / SIGTERM, main shuts the pool down
 *                               with cancel_futures (the running jobs finish, the queued
 *                               ones are cancelled), prints "done N cancelled M signal S"
 *                               and exits 3 (cancelled) or 0 (finished first).
 *   graceful_child flood        like jobs, while another thread submits detached jobs as
 *                               fast as it can until the pool refuses them: the shutdown
 *                               must still finish promptly.
 *   graceful_child stubborn     ignores the first signal (a shielded sleep of 30 s): only
 *                               the second SIGINT ends it, with status 130.
 */
#include <weft.h>

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOBS 200

typedef struct {
    uint32_t index;
    uint32_t checksum;
    char payload[56];
} record;

static int out_fd = -1;

static uint32_t checksum_of(const record *r)
{
    uint32_t h = 2166136261u ^ r->index;
    for (size_t i = 0; i < sizeof r->payload; i++) h = (h ^ (uint8_t)r->payload[i]) * 16777619u;
    return h;
}

static int job(void *arg, void **result)
{
    (void)result;
    usleep(10000);                                 /* the work: not interruptible */
    record r;
    memset(&r, 0, sizeof r);
    r.index = (uint32_t)(uintptr_t)arg;
    snprintf(r.payload, sizeof r.payload, "record %u of the graceful test", r.index);
    r.checksum = checksum_of(&r);
    return write(out_fd, &r, sizeof r) == (ssize_t)sizeof r ? 0 : -EIO;
}

static int nothing(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static _Atomic long flooded;

static int flood(void *arg, void **result)
{
    (void)result;
    weft_pool *p = arg;
    while (weft_pool_submit(p, NULL, nothing, NULL) == 0) atomic_fetch_add(&flooded, 1);
    return 0;
}

static int jobs_main(void *arg, void **result)
{
    (void)result;
    bool with_flood = arg != NULL;
    weft_pool *p;
    weft_pool_opts o = { 2 };
    if (weft_pool_create(&p, &o) != 0) return -ENOMEM;
    weft_thread *flooder = NULL;
    if (with_flood && weft_thread_start(&flooder, NULL, flood, p) != 0) return -EAGAIN;
    weft_future *f[JOBS];
    for (int i = 0; i < JOBS; i++)
        if (weft_pool_submit(p, &f[i], job, (void *)(uintptr_t)i) != 0) return -EIO;
    printf("ready\n");
    fflush(stdout);
    int rc = 0;
    for (int i = 0; i < JOBS && rc == 0; i++) rc = weft_future_result(f[i], WEFT_FOREVER, NULL);
    /* Cancelled (or done): shut the pool down, cancelling what has not started, waiting for
     * what runs. Shielded: a cancelled coroutine's waits would end at once. */
    weft_scope s;
    weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_pool_shutdown(p, true, true);
    if (flooder) {
        weft_thread_join(flooder, WEFT_FOREVER, NULL);
        weft_thread_release(flooder);
    }
    int done = 0, cancelled = 0;
    for (int i = 0; i < JOBS; i++) {
        int r = weft_future_result(f[i], WEFT_FOREVER, NULL);
        if (r == 0) done++;
        else if (r == -ECANCELED) cancelled++;
        weft_future_release(f[i]);
    }
    weft_scope_leave(&s);
    weft_pool_destroy(p);
    printf("done %d cancelled %d flooded %ld\n", done, cancelled, atomic_load(&flooded));
    fflush(stdout);
    return rc;
}

static int stubborn_main(void *arg, void **result)
{
    (void)arg; (void)result;
    printf("ready\n");
    fflush(stdout);
    weft_scope s;
    weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_sleep(30 * WEFT_SEC);                     /* the first signal does not stop this */
    weft_scope_leave(&s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    int rc;
    if (strcmp(argv[1], "stubborn") == 0) {
        rc = weft_run_graceful(stubborn_main, NULL, NULL);
    } else {
        const char *path = argc > 2 ? argv[2] : "/dev/null";
        out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (out_fd < 0) return 2;
        rc = weft_run_graceful(jobs_main, strcmp(argv[1], "flood") == 0 ? (void *)1 : NULL,
                               NULL);
        close(out_fd);
    }
    printf("result %s signal %d\n", weft_errname(rc), weft_graceful_signal());
    fflush(stdout);
    return rc == -ECANCELED ? 3 : rc ? 1 : 0;
}
