/* A million coroutines at once, each blocked on one event: the stack allocator's promise.
 * Each costs about one resident page; guard pages do not run into the kernel's mapping
 * limit (vm.max_map_count = 65,530); all of them wake and finish, none is lost. */
#include "check.h"

#include <stdatomic.h>

static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

typedef struct {
    weft_event *go, *all_done;
    long n;
    atomic_long started, finished;
} crowd;

static int member(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    atomic_fetch_add_explicit(&c->started, 1, memory_order_relaxed);
    CHECK_OK(weft_event_wait(c->go, WEFT_FOREVER));
    if (atomic_fetch_add_explicit(&c->finished, 1, memory_order_relaxed) + 1 == c->n)
        CHECK_OK(weft_event_set(c->all_done));
    return 0;
}

static int crowd_main(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    long rss0 = status_kib("VmRSS:");
    int64_t t0 = weft_now();
    for (long i = 0; i < c->n; i++) CHECK_OK(weft_spawn(NULL, member, c));
    CHECK_OK(weft_yield());                    /* every one runs and blocks */
    CHECK_EQ(atomic_load(&c->started), c->n);
    CHECK_EQ(atomic_load(&c->finished), 0);
    long rss1 = status_kib("VmRSS:");
    int maps = count_maps();
    double per = (double)(rss1 - rss0) * 1024.0 / (double)c->n;
    printf("   %ld coroutines blocked in %.2f s: %.0f bytes resident each, %d mappings\n",
           c->n, (double)(weft_now() - t0) / 1e9, per, maps);
    if (!TEST_TSAN) CHECK(maps < 20000);       /* TSan maps memory of its own per fiber */
    if (!slow_tools()) CHECK(per < 6 * 1024);  /* about one page each (bench/: exact figure) */
    CHECK_OK(weft_event_set(c->go));
    CHECK_OK(weft_event_wait(c->all_done, WEFT_FOREVER));
    CHECK_EQ(atomic_load(&c->finished), c->n);
    return 0;
}

static void test_million_blocked_coroutines(void)
{
    crowd c = { .n = 1000000 };
    if (TEST_TSAN) c.n = 20000;                /* TSan keeps a heavy state per fiber */
    else if (slow_tools()) c.n = 100000;
    CHECK_OK(weft_event_create(&c.go));
    CHECK_OK(weft_event_create(&c.all_done));
    CHECK_OK(weft_run(crowd_main, &c, NULL));
    weft_event_destroy(c.go);
    weft_event_destroy(c.all_done);
}

int main(void)
{
    RUN(test_million_blocked_coroutines);
    return check_done();
}
