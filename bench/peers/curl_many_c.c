/* bench/peers/curl_many_c.c — the curl-many workload's C peers (issue 16), beside weft's
 * hooked coroutines (bench/weft_curl_many.c): what a C programmer does without weft to keep
 * 100 libcurl transfers in flight.
 *
 * Usage: curl_many_c multi|threads [--requests N] [--inflight C] [--passes P] [--name W]
 * PORT, run under bench/curl_many_load (the server in its own process; it appends the
 * port).
 *
 *   multi     libcurl's multi API on one thread: C easy handles added to one multi handle;
 *             a curl_multi_perform / curl_multi_info_read / curl_multi_poll loop gives each
 *             finished handle the next request and adds it back. Event-driven code, the
 *             floor the hooked coroutines are measured against (target: within 1.2x of its
 *             CPU per request).
 *   threads   C pthreads, each with its own easy handle and blocking curl_easy_perform,
 *             taking requests from a shared atomic counter (the blocking style without
 *             weft; target: weft ahead).
 *
 * No weft. What is measured and printed: bench/curl_many.h.
 */
#include "../curl_many.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int next_request;
static atomic_int failed;

/* ---- multi: one thread, one multi handle ----------------------------------------------- */

typedef struct {
    CURL *e;
    cm_buf b;
    int k;                               /* the request it carries */
} slot;

/* Gives s the next request and adds it to m; false when none is left. */
static bool start_next(CURLM *m, slot *s, const cm_opts *o)
{
    int k = atomic_fetch_add_explicit(&next_request, 1, memory_order_relaxed);
    if (k >= o->requests) return false;
    s->k = k;
    cm_prepare(s->e, &s->b, o->port, k);
    curl_multi_add_handle(m, s->e);
    return true;
}

/* One pass: blocks in curl_multi_poll while nothing is ready. */
static int pass_multi(const cm_opts *o)
{
    atomic_store(&next_request, 0);
    int bad = 0;
    CURLM *m = curl_multi_init();
    slot *slots = calloc((size_t)o->inflight, sizeof *slots);
    if (!m || !slots) return o->requests;
    for (int i = 0; i < o->inflight; i++) {
        if (!(slots[i].e = cm_easy(&slots[i].b))) return o->requests;
        curl_easy_setopt(slots[i].e, CURLOPT_PRIVATE, &slots[i]);
        start_next(m, &slots[i], o);
    }
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            fprintf(stderr, "curl_multi_perform: %s\n", curl_multi_strerror(mc));
            return o->requests;
        }
        int restarted = 0, left;
        for (CURLMsg *msg; (msg = curl_multi_info_read(m, &left));) {
            if (msg->msg != CURLMSG_DONE) continue;
            slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode rc = msg->data.result;
            curl_multi_remove_handle(m, s->e);           /* msg is invalid from here */
            if (!cm_check(s->e, rc, &s->b, s->k)) bad++;
            restarted += start_next(m, s, o);
        }
        if (!running && !restarted) break;                /* all done */
        if (!restarted) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < o->inflight; i++) {
        curl_easy_cleanup(slots[i].e);
        free(slots[i].b.data);
    }
    free(slots);
    curl_multi_cleanup(m);
    return bad;
}

/* ---- threads: one easy handle each, blocking ------------------------------------------- */

/* A thread: requests until none is left. Blocks in curl_easy_perform. */
static void *thread_main(void *arg)
{
    const cm_opts *o = arg;
    cm_buf b = { 0 };
    CURL *e = cm_easy(&b);
    if (!e) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    for (int k; (k = atomic_fetch_add_explicit(&next_request, 1, memory_order_relaxed)) <
                o->requests;) {
        cm_prepare(e, &b, o->port, k);
        CURLcode rc = curl_easy_perform(e);
        if (!cm_check(e, rc, &b, k)) atomic_fetch_add(&failed, 1);
    }
    curl_easy_cleanup(e);
    free(b.data);
    return NULL;
}

/* One pass: starts the threads, joins them (blocks in pthread_join). */
static int pass_threads(const cm_opts *o)
{
    atomic_store(&next_request, 0);
    atomic_store(&failed, 0);
    pthread_t *t = calloc((size_t)o->inflight, sizeof *t);
    if (!t) return o->requests;
    int n = 0;
    for (; n < o->inflight; n++)
        if (pthread_create(&t[n], NULL, thread_main, (void *)o) != 0) break;
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    free(t);
    if (n < o->inflight) {
        fprintf(stderr, "curl_many_c: only %d threads started\n", n);
        return o->requests;
    }
    return atomic_load(&failed);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "multi") != 0 && strcmp(argv[1], "threads") != 0)) {
        fprintf(stderr, "usage: %s multi|threads [--requests N] [--inflight C] "
                "[--passes P] [--name W] PORT\n", argv[0]);
        return 2;
    }
    bool multi = strcmp(argv[1], "multi") == 0;
    argv[1] = argv[0];                   /* the options follow */
    cm_opts o;
    cm_parse(argc - 1, argv + 1, &o);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_many_c: curl_global_init failed\n");
        return 1;
    }
    int rc = cm_main(multi ? "curl-multi" : "pthreads", &o, multi ? pass_multi : pass_threads);
    curl_global_cleanup();
    return rc;
}
