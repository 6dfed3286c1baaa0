/* The block cache (core/alloc.c: weft__block_get / weft__block_put, the depot, and the
 * chunks fresh blocks are carved from): under threads that allocate, hand blocks to each
 * other, free them on other threads and exit with blocks cached, no block is ever handed
 * out twice while in use, and none is lost (a block's tag survives until its put).
 * More sizes than the carving takes (5) mix carved and malloc'd blocks in one thread's
 * cache classes and the depot. Bounded: a fixed amount of work, about a second. */
#include "check.h"

#include "core/internal.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 30
#define PER 3000                         /* blocks held at once by one thread */
#define NSIZES 5

static const size_t sizes[NSIZES] = { 40, 128, 64, 200, 96 };

typedef struct {
    uint64_t tag[2];                     /* words 2 and 3: words 0 and 1 are the cache's
                                            links while the block is free */
} tagged;

/* Blocks handed from one thread to the next, under mx. */
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static void *handed[THREADS][PER];
static size_t handed_size[THREADS][PER];
static _Atomic uint64_t next_tag = 1;
static _Atomic long live;

static uint64_t *tag_of(void *b) { return ((uint64_t *)b) + 2; }

static void put_checked(void *b, size_t size, uint64_t tag)
{
    CHECK_EQ(tag_of(b)[0], tag);
    CHECK_EQ(tag_of(b)[1], ~tag);
    tag_of(b)[0] = 0;
    tag_of(b)[1] = 0;
    weft__block_put(b, size);
    atomic_fetch_sub(&live, 1);
}

typedef struct { int id; int round; } arg_t;

static void *worker(void *p)
{
    arg_t *a = p;
    static _Thread_local void *mine[PER];
    static _Thread_local uint64_t mine_tag[PER];
    static _Thread_local size_t mine_size[PER];
    for (int i = 0; i < PER; i++) {
        size_t size = sizes[(i + a->id + a->round) % NSIZES];
        void *b = weft__block_get(size);
        CHECK(b != NULL);
        /* A block in use by somebody else would have a tag here. */
        uint64_t t = atomic_fetch_add(&next_tag, 1);
        tag_of(b)[0] = t;
        tag_of(b)[1] = ~t;
        mine[i] = b;
        mine_tag[i] = t;
        mine_size[i] = size;
        atomic_fetch_add(&live, 1);
    }
    /* Every other block goes to the next thread, which frees it in its next round. */
    pthread_mutex_lock(&mx);
    int to = (a->id + 1) % THREADS;
    for (int i = 0; i < PER; i++) {
        if (i % 2) continue;
        void *old = handed[to][i];
        if (old) put_checked(old, handed_size[to][i], tag_of(old)[0]);
        handed[to][i] = mine[i];
        handed_size[to][i] = mine_size[i];
        mine[i] = NULL;
    }
    /* Blocks handed to this thread: freed here (another thread allocated them). */
    for (int i = 0; i < PER; i++) {
        void *b = handed[a->id][i];
        if (!b) continue;
        put_checked(b, handed_size[a->id][i], tag_of(b)[0]);
        handed[a->id][i] = NULL;
    }
    pthread_mutex_unlock(&mx);
    for (int i = 0; i < PER; i++)
        if (mine[i]) put_checked(mine[i], mine_size[i], mine_tag[i]);
    /* The thread ends with blocks in its cache: its exit hands them on (weft__tls_self's
     * exit hook was armed by the first get). */
    return NULL;
}

static void test_blocks_threads(void)
{
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t th[THREADS];
        arg_t args[THREADS];
        for (int i = 0; i < THREADS; i++) {
            args[i] = (arg_t){ i, r };
            CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
        }
        for (int i = 0; i < THREADS; i++) CHECK(pthread_join(th[i], NULL) == 0);
    }
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER; i++)
            if (handed[t][i]) {
                put_checked(handed[t][i], handed_size[t][i], tag_of(handed[t][i])[0]);
                handed[t][i] = NULL;
            }
    CHECK_EQ(atomic_load(&live), 0);
}

/* How much of each chunk its blocks use, for sizes like those weft carves (a pool job: 104
 * bytes, a task: 256, a queue item: 32; strides 112, 256, 32): blocks taken one after
 * another from a fresh carving come in runs of consecutive addresses, one run per chunk
 * (chunks are 8 KiB doubling to 2 MiB), or per several chunks mapped one after another.
 * Each chunk must give every block that fits in it (the last ones go out as a short
 * batch), so at most one block's worth of a chunk is lost. Runs first (a fresh
 * process: the carving slots and the depot empty); not under ASan or Valgrind (nothing is
 * carved there). */
static void test_blocks_chunk_use(void)
{
#if WEFT_ASAN
    SKIP("ASan: nothing is carved");
#endif
    if (under_valgrind()) SKIP("Valgrind: nothing is carved");
    enum { MAXB = 200000, RUNS = 10 };
    static const size_t use[] = { 104, 256, 32 };
    void **bs = malloc(MAXB * sizeof *bs);
    CHECK(bs != NULL);
    for (size_t u = 0; u < sizeof use / sizeof use[0]; u++) {
        size_t stride = (use[u] + 15) & ~(size_t)15;
        int n = 0, runs = 0;
        unsigned run = 0;
        printf("size %zu (stride %zu): blocks per chunk:", use[u], stride);
        while (runs < RUNS && n < MAXB) {
            bs[n] = weft__block_get(use[u]);
            CHECK(bs[n] != NULL);
            if (n > 0 && (char *)bs[n] != (char *)bs[n - 1] + stride) {
                /* A run is one chunk's blocks, or several chunks' when a chunk with no
                 * slack was mapped right after the previous one (qemu-user maps upwards):
                 * either way exactly whole chunks' worth, each chunk giving all the
                 * blocks that fit in it (so at most one block's worth is lost). */
                printf(" %u", run);
                unsigned left = run;
                while (left > 0) {
                    size_t len = (size_t)8 << 10 << (runs < 8 ? runs : 8);
                    if (len > ((size_t)2 << 20)) len = (size_t)2 << 20;
                    CHECK(left >= len / stride);
                    left -= (unsigned)(len / stride);
                    runs++;
                }
                run = 0;
            }
            run++;
            n++;
        }
        printf("\n");
        CHECK(runs >= RUNS);
        for (int i = 0; i < n; i++) weft__block_put(bs[i], use[u]);
    }
    free(bs);
}

/* Many blocks at once (several chunks, the largest size), all distinct, then reused: the
 * second burst gets the same memory back (it is kept, not returned to the system). */
static void test_blocks_burst(void)
{
    enum { N = 40000 };
    void **bs = malloc(N * sizeof *bs);
    CHECK(bs != NULL);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            bs[i] = weft__block_get(128);
            CHECK(bs[i] != NULL);
            tag_of(bs[i])[0] = (uint64_t)i;
            tag_of(bs[i])[1] = ~(uint64_t)i;
        }
        for (int i = 0; i < N; i++) {
            CHECK_EQ(tag_of(bs[i])[0], (uint64_t)i);
            CHECK_EQ(tag_of(bs[i])[1], ~(uint64_t)i);
        }
        for (int i = 0; i < N; i++) weft__block_put(bs[i], 128);
    }
    free(bs);
}

/* fork while other threads work the depot, in a program with no weft thread (plain
 * pthreads only): the child must find the depot's lock free and its lists whole — the
 * depot's fork hook is registered at its first use, not with the first weft thread. A
 * child that finds the lock held would hang: alarm() kills it and the parent sees it. */
static _Atomic bool fork_stop;

static void *depot_hammer(void *arg)
{
    (void)arg;
    enum { M = 2048 };                   /* beyond a thread's cache: batches go to the depot */
    void **bs = malloc(M * sizeof *bs);
    CHECK(bs != NULL);
    while (!atomic_load(&fork_stop)) {
        for (int i = 0; i < M; i++) {
            bs[i] = weft__block_get(96);
            CHECK(bs[i] != NULL);
        }
        for (int i = 0; i < M; i++) weft__block_put(bs[i], 96);
    }
    free(bs);
    return NULL;
}

static void test_fork_while_the_depot_is_busy(void)
{
    if (slow_tools()) return;            /* sanitizers' runtimes do not follow such forks */
    pthread_t th[2];
    atomic_store(&fork_stop, false);
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, depot_hammer, NULL) == 0);
    int64_t end = weft_now() + 2 * WEFT_SEC;   /* bounded: slow under qemu (make test-aarch64) */
    for (int k = 0; k < 200 && weft_now() < end; k++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(5);
            void *bs[3000];
            for (int i = 0; i < 3000; i++)
                if (!(bs[i] = weft__block_get(96))) _exit(2);
            for (int i = 0; i < 3000; i++) weft__block_put(bs[i], 96);
            _exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!WIFEXITED(status)) break;
    }
    atomic_store(&fork_stop, true);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(th[i], NULL) == 0);
}

int main(void)
{
    RUN(test_blocks_chunk_use);          /* first: it needs a fresh carving */
    RUN(test_blocks_threads);
    RUN(test_blocks_burst);
    RUN(test_fork_while_the_depot_is_busy);
    return 0;
}
