/* bench/weft_curl_many.c — the curl-many workload's weft client (issue 16): libcurl's
 * blocking easy API in 100 weft coroutines on one thread, made cooperative by
 * libweft_hook (the program is linked with it; nothing else changes).
 *
 * Usage: weft_curl_many [--requests N] [--inflight C] [--passes P] [--name W] PORT, run
 * under bench/curl_many_load (which runs the server in its own process and appends its
 * port). Each pass: weft_run's main coroutine spawns C coroutines (default stacks: below),
 * each with an easy handle of its own taking the next request from a shared counter until
 * N are done; curl_easy_perform's poll/recv/send park only the coroutine. What is measured
 * and printed: bench/curl_many.h. The peers: the multi API on one thread and 100 pthreads
 * (bench/peers/curl_many_c.c), gevent + requests (bench/peers/curl_many_gevent.py).
 */
#include <weft.h>
#include <weft/hook.h>

#include "curl_many.h"

/* libcurl uses ~12 KiB of stack for a plain HTTP transfer (measured on a painted thread
 * stack, libcurl 7.88): weft's default 128 KiB leaves room for TLS and more. A non-default
 * size would cost a mapping of its own per coroutine instead of a pooled stack. */
#define STACK WEFT_STACK_DEFAULT

static int next_request;                /* the pass's shared counter: one thread, no atomics */
static int failed;

/* A coroutine: one easy handle, requests until none is left. Blocks in curl_easy_perform
 * (parks: libweft_hook). */
static int worker(void *arg, void **result)
{
    (void)result;
    const cm_opts *o = arg;
    cm_buf b = { 0 };
    CURL *e = cm_easy(&b);
    if (!e) {
        failed++;
        return 0;
    }
    for (int k; (k = next_request++) < o->requests;) {
        cm_prepare(e, &b, o->port, k);
        CURLcode rc = curl_easy_perform(e);
        if (!cm_check(e, rc, &b, k)) failed++;
    }
    curl_easy_cleanup(e);
    free(b.data);
    return 0;
}

/* weft_run's main for one pass: spawns the workers and joins them. Blocks in
 * weft_future_result. */
static int pass_main(void *arg, void **result)
{
    (void)result;
    const cm_opts *o = arg;
    weft_spawn_opts so = WEFT_SPAWN_OPTS_INIT;
    so.name = "curl-many";
    so.stack_size = STACK;
    weft_future **f = calloc((size_t)o->inflight, sizeof *f);
    if (!f) return -ENOMEM;
    int n = 0, rc = 0;
    for (; n < o->inflight; n++)
        if ((rc = weft_spawn_ex(&f[n], &so, worker, (void *)o)) != 0) break;
    for (int i = 0; i < n; i++) {
        weft_future_result(f[i], WEFT_FOREVER, NULL);
        weft_future_release(f[i]);
    }
    free(f);
    return rc;
}

static int pass(const cm_opts *o)
{
    next_request = 0;
    failed = 0;
    int rc = weft_run(pass_main, (void *)o, NULL);
    if (rc) {
        fprintf(stderr, "weft_curl_many: %s\n", weft_strerror(rc));
        return o->requests;
    }
    return failed;
}

int main(int argc, char **argv)
{
    cm_opts o;
    cm_parse(argc, argv, &o);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "weft_curl_many: curl_global_init failed\n");
        return 1;
    }
    uint64_t parks0 = weft_hook_parks();
    int rc = cm_main("weft", &o, pass);
    fprintf(stderr, "%s weft: hooked calls parked a coroutine %.2f times per request\n", o.name,
            (double)(weft_hook_parks() - parks0) / ((double)o.requests * (o.passes + 1)));
    curl_global_cleanup();
    return rc;
}
