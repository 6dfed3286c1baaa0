/* crawler.c — seed scenario 13: a web crawler with bounded concurrency.
 *
 * After the asyncio crawler of "500 Lines or Less": a queue of URLs to fetch, a set of
 * every URL ever seen, and a fixed number of worker coroutines, each looping on
 *
 *     url = queue.get(); fetch it; put its new links on the queue; queue.task_done()
 *
 * while the crawl itself waits for queue.join(): the moment every URL put has been
 * processed, the crawl is over (and the workers are stopped by shutting the queue down).
 * The number of workers is the bound on concurrency: never more requests in flight.
 *
 * The site is local and made up: 300 pages (page 0 is "/", page N is "/page/N"), each
 * linking to a few others, pseudo-randomly but always the same way, with every page
 * reachable from "/". The links come in the shapes a crawler meets: absolute paths,
 * full URLs of this site, fragments ("#top": the same page), links to other sites (not
 * followed) and broken links (404). The server (httpd.c) runs on the same loop as the
 * crawler, takes a few milliseconds per page, and counts what it serves.
 *
 * What it shows:
 *   - a weft_queue with task_done / join, and shutdown to end the workers;
 *   - the coroutines share the "seen" set and the counters without a lock: they run on
 *     one thread and switch only at weft calls, never in the middle of an update;
 *   - keep-alive: each worker keeps one connection to the server for the whole crawl.
 *
 * Exits 0 if the server served every page exactly once (and each broken link once), no
 * more than MAX_TASKS requests were ever in flight at once (and more than one was: the
 * crawl was concurrent), and the crawler's own counts agree.
 */
#include "httpd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGES 300
#define BROKEN_EVERY 25                  /* page 25, 50... also link to /missing/N */
#define BROKEN ((PAGES - 1) / BROKEN_EVERY)
#define RANDOM_LINKS 4
#define MAX_TASKS 10
#define TIMEOUT (10 * WEFT_SEC)

/* ---- the site -------------------------------------------------------------------------- */

/* Page p links to its children in a tree (3p+1, 3p+2, 3p+3: every page reachable from
 * page 0) and to RANDOM_LINKS pseudo-random pages. */
static int random_link[PAGES][RANDOM_LINKS];
static int page_hits[PAGES], broken_hits[PAGES];   /* the server's counts */
static uint16_t port;

static void make_site(void)
{
    unsigned s = 12345;
    for (int p = 0; p < PAGES; p++)
        for (int k = 0; k < RANDOM_LINKS; k++) {
            s = s * 1103515245u + 12345u;
            random_link[p][k] = (int)((s >> 8) % PAGES);
        }
}

/* The path of page q: "/" for page 0. */
static int page_path(char *buf, size_t size, int q)
{
    return q == 0 ? snprintf(buf, size, "/") : snprintf(buf, size, "/page/%d", q);
}

/* Appends to the page being written (what does not fit is cut). */
typedef struct {
    char *buf;
    size_t len, size;
} page;

static void append(page *pg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(pg->buf + pg->len, pg->size - pg->len, fmt, ap);
    va_end(ap);
    if (n > 0) pg->len += (size_t)n < pg->size - pg->len ? (size_t)n : pg->size - pg->len - 1;
}

/* One link to page q, in the shape chosen by k: a path or a full URL, maybe a fragment. */
static void add_link(page *pg, int q, int k)
{
    char path[32];
    page_path(path, sizeof path, q);
    char origin[32] = "";
    if (k % 5 == 1) snprintf(origin, sizeof origin, "http://127.0.0.1:%u", port);
    append(pg, "<li><a href=\"%s%s%s\">page %d</a></li>\n", origin, path,
           k % 7 == 3 ? "#top" : "", q);
}

static size_t make_page(char *buf, size_t size, int p)
{
    page pg = { buf, 0, size };
    append(&pg, "<html><head><title>page %d</title></head>"
           "<body><h1 id=\"top\">page %d</h1><ul>\n", p, p);
    int k = 0;
    for (int c = 3 * p + 1; c <= 3 * p + 3 && c < PAGES; c++) add_link(&pg, c, k++);
    for (int r = 0; r < RANDOM_LINKS; r++) add_link(&pg, random_link[p][r], k++);
    append(&pg, "<li><a href=\"http://example.invalid/elsewhere\">elsewhere</a></li>\n");
    if (p % BROKEN_EVERY == 0 && p > 0)
        append(&pg, "<li><a href=\"/missing/%d\">gone</a></li>\n", p / BROKEN_EVERY);
    append(&pg, "</ul></body></html>\n");
    return pg.len;
}

static int serve(const httpd_request *rq, httpd_response *rs, void *arg)
{
    (void)arg;
    int p = -1, b = -1;
    char end;
    if (strcmp(rq->target, "/") == 0) p = 0;
    else if (sscanf(rq->target, "/page/%d%c", &p, &end) != 1 || p <= 0 || p >= PAGES) p = -1;
    if (p < 0 && (sscanf(rq->target, "/missing/%d%c", &b, &end) != 1 || b < 0 || b >= PAGES))
        b = -1;
    int rc = weft_sleep((1 + (p + 2 * b + 3) % 3) * WEFT_MS);   /* 1 to 3 ms a page */
    if (rc) return rc;
    if (p < 0) {
        if (b >= 0) broken_hits[b]++;
        rs->status = 404;
        rs->body = "not found\n";
        rs->body_len = strlen(rs->body);
        return 0;
    }
    page_hits[p]++;
    char *page = malloc(4096);
    if (!page) return -ENOMEM;
    rs->content_type = "text/html";
    rs->body = rs->owned = page;
    rs->body_len = make_page(page, 4096, p);
    return 0;
}

/* ---- the crawler ----------------------------------------------------------------------- */

/* A set of strings (open addressing; it only grows). */
typedef struct {
    char **slot;
    size_t cap, n;
} strset;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Adds s (copied); 1 if it was new, 0 if already there, -ENOMEM. */
static int strset_add(strset *set, const char *s)
{
    if (2 * (set->n + 1) > set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 64;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot) return -ENOMEM;
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slot[i]) continue;
            size_t j = hash(set->slot[i]) & (cap - 1);
            while (slot[j]) j = (j + 1) & (cap - 1);
            slot[j] = set->slot[i];
        }
        free(set->slot);
        set->slot = slot;
        set->cap = cap;
    }
    size_t j = hash(s) & (set->cap - 1);
    for (; set->slot[j]; j = (j + 1) & (set->cap - 1))
        if (strcmp(set->slot[j], s) == 0) return 0;
    if (!(set->slot[j] = strdup(s))) return -ENOMEM;
    set->n++;
    return 1;
}

static void strset_free(strset *set)
{
    for (size_t i = 0; i < set->cap; i++) free(set->slot[i]);
    free(set->slot);
}

typedef struct {
    weft_queue *todo;                    /* URLs (paths, malloc'd) to fetch */
    strset seen;                         /* every URL ever put on todo */
    char origin[64];                     /* "http://127.0.0.1:PORT": this site */
    int fetched, not_found, failed, offsite;
} crawl;                                 /* the crawl's loop only: no lock */

/* The path a link points to on this site, written into out; false for a link elsewhere
 * (or one this simple crawler does not resolve, such as a relative path). */
static bool normalize(const crawl *cr, const char *href, size_t n, char *out, size_t size)
{
    size_t olen = strlen(cr->origin);
    if (n >= olen && strncmp(href, cr->origin, olen) == 0 &&
        (n == olen || href[olen] == '/' || href[olen] == '#')) {
        href += olen;
        n -= olen;
    }
    if (n == 0) {                        /* the site itself: its root */
        href = "/";
        n = 1;
    }
    if (href[0] != '/') return false;
    size_t len = strcspn(href, "#");     /* the fragment is not part of the resource */
    if (len > n) len = n;
    if (len == 0 || len >= size) return false;
    memcpy(out, href, len);
    out[len] = '\0';
    return true;
}

/* Finds the href="..." of a page and queues the URLs not seen before. */
static int add_links(crawl *cr, const char *html)
{
    for (const char *s = html; (s = strstr(s, "href=\"")) != NULL;) {
        s += 6;
        size_t n = strcspn(s, "\"");
        char path[256];
        if (!normalize(cr, s, n, path, sizeof path)) {
            cr->offsite++;
        } else {
            int added = strset_add(&cr->seen, path);
            if (added < 0) return added;
            if (added) {
                char *url = strdup(path);
                int rc = url ? weft_queue_put(cr->todo, url, WEFT_FOREVER) : -ENOMEM;
                if (rc) {
                    free(url);
                    return rc;
                }
            }
        }
        s += n;
    }
    return 0;
}

static void fetch(crawl *cr, httpc *c, const char *url)
{
    char *body = NULL;
    int status = httpc_get(c, url, &body, NULL, TIMEOUT);
    if (status == 200) {
        cr->fetched++;
        if (add_links(cr, body)) cr->failed++;
    } else if (status == 404) {
        cr->not_found++;
    } else {
        cr->failed++;
        fprintf(stderr, "%s: %s\n", url, status < 0 ? weft_strerror(status) : "bad status");
    }
    free(body);
}

static int worker(void *arg, void **result)
{
    (void)result;
    crawl *cr = arg;
    httpc *c;
    int rc = httpc_create(&c, "127.0.0.1", port);
    if (rc) return rc;
    void *url;
    while ((rc = weft_queue_get(cr->todo, &url, WEFT_FOREVER)) == 0) {
        fetch(cr, c, url);
        free(url);
        weft_queue_task_done(cr->todo);
    }
    httpc_destroy(c);
    return rc == -ESHUTDOWN ? 0 : rc;    /* shut down: the crawl is over */
}

static int run_crawl(crawl *cr)
{
    int rc = weft_queue_create(&cr->todo, 0);
    if (rc) return rc;
    strset_add(&cr->seen, "/");
    weft_queue_put(cr->todo, strdup("/"), 0);
    weft_group *g;
    if ((rc = weft_group_create(&g))) return rc;
    for (int i = 0; i < MAX_TASKS && !rc; i++)
        rc = weft_group_spawn(g, NULL, NULL, worker, cr);
    if (!rc) rc = weft_queue_join(cr->todo, 60 * WEFT_SEC);   /* every URL processed */
    weft_queue_shutdown(cr->todo, false);    /* the workers' get returns -ESHUTDOWN */
    int w = weft_group_wait(g);
    weft_group_destroy(g);
    weft_queue_destroy(cr->todo);
    return rc ? rc : w;
}

/* ---- main ------------------------------------------------------------------------------ */

static int check_counts(const crawl *cr, const httpd_stats *st)
{
    int bad = 0;
    for (int p = 0; p < PAGES; p++)
        if (page_hits[p] != 1 && bad++ < 5)
            fprintf(stderr, "page %d was served %d times\n", p, page_hits[p]);
    for (int b = 1; b <= BROKEN; b++)
        if (broken_hits[b] != 1 && bad++ < 5)
            fprintf(stderr, "/missing/%d was asked for %d times\n", b, broken_hits[b]);
    if (cr->fetched != PAGES || cr->not_found != BROKEN || cr->failed ||
        cr->seen.n != (size_t)(PAGES + BROKEN)) {
        fprintf(stderr, "crawler: %d fetched, %d not found, %d failed, %zu seen\n",
                cr->fetched, cr->not_found, cr->failed, cr->seen.n);
        bad++;
    }
    if (st->max_in_flight > MAX_TASKS || st->max_in_flight < 2 ||
        st->max_connections > MAX_TASKS) {
        fprintf(stderr, "crawler: concurrency out of bounds\n");
        bad++;
    }
    return bad;
}

static int crawler_main(void *arg, void **result)
{
    (void)arg; (void)result;
    make_site();
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", 0, serve, NULL, NULL);
    if (rc) return rc;
    port = httpd_port(h);
    crawl cr = { 0 };
    snprintf(cr.origin, sizeof cr.origin, "http://127.0.0.1:%u", port);
    printf("crawling %s/ with %d workers\n", cr.origin, MAX_TASKS);

    int64_t t0 = weft_now();
    rc = run_crawl(&cr);
    double ms = (double)(weft_now() - t0) / WEFT_MS;

    httpd_stats st;
    httpd_get_stats(h, &st);
    int closed = httpd_close(h, 2 * WEFT_SEC);
    printf("%d pages and %d broken links in %.0f ms; %d links elsewhere not followed\n",
           cr.fetched, cr.not_found, ms, cr.offsite);
    printf("server: %llu requests on %llu connections; at most %d at once (bound: %d)\n",
           (unsigned long long)st.requests, (unsigned long long)st.connections,
           st.max_in_flight, MAX_TASKS);
    int bad = check_counts(&cr, &st);
    strset_free(&cr.seen);
    if (rc) fprintf(stderr, "crawler: %s\n", weft_strerror(rc));
    return rc ? rc : bad || closed ? -EPROTO : 0;
}

int main(void)
{
    int rc = weft_run(crawler_main, NULL, NULL);
    if (rc) fprintf(stderr, "crawler: FAILED\n");
    return rc ? 1 : 0;
}
