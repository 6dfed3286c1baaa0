/* Out of memory: every allocation weft makes can fail (weft__alloc_fail_countdown makes the
 * N-th one fail); each operation then returns -ENOMEM cleanly, leaks nothing (ASan and
 * Valgrind runs check), and everything works again afterwards. Also: a coroutine whose stack
 * cannot be mapped ends with -ENOMEM instead of crashing. */
#include "fault.h"

#include <sys/resource.h>
#include <sys/socket.h>


static void never_called(weft_future *f, void *arg)
{
    (void)f; (void)arg;
    CHECK(!"a removed callback ran");
}

static int op_future(void)
{
    weft_future *f;
    int rc = weft_future_create(&f);
    if (rc) return rc;
    rc = weft_future_add_done_callback(f, never_called, NULL);
    if (rc == 0) CHECK_EQ(weft_future_remove_done_callback(f, never_called, NULL), 1);
    weft_future_release(f);
    return rc;
}

static int op_lock_event(void)
{
    weft_lock *l;
    weft_event *e;
    int rc = weft_lock_create(&l);
    if (rc) return rc;
    rc = weft_event_create(&e);
    if (rc == 0) weft_event_destroy(e);
    weft_lock_destroy(l);
    return rc;
}

static int noop(void *arg, void **result) { (void)arg; (void)result; return 0; }

static int op_spawn(void)
{
    weft_future *f;
    int rc = weft_spawn(&f, noop, NULL);
    if (rc) return rc;
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
    return 0;
}

/* A fresh thread: its loop is created by the spawn, which may fail too. */
static int spawn_on_new_thread(void *arg, void **result)
{
    (void)arg; (void)result;
    return fail_each_allocation(op_spawn) > 0 ? 0 : -1;
}

static int op_thread(void)
{
    weft_thread *t;
    int rc = weft_thread_start(&t, NULL, noop, NULL);
    if (rc) return rc;
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
    return 0;
}

static int op_local(void)
{
    weft_local *l;
    int rc = weft_local_create(&l, free);
    if (rc) return rc;
    char *v = malloc(8);
    rc = weft_local_set(l, v);
    if (rc) free(v);
    weft_local_destroy(l);
    return rc;
}

/* A name goes to the resolver threads: the lookup's record and its copy of the name both
 * come from the funnel (the copy did not, and its failure could not be tested). */
static int op_resolve(void)
{
    weft_addr a[4];
    int n = weft_resolve("localhost", 80, AF_INET, SOCK_STREAM, a, 4, 10 * WEFT_SEC);
    /* A resolver thread that cannot start (its record not allocated) is -EAGAIN, as
     * weft/net.h says: that is this harness's -ENOMEM. */
    if (n == -EAGAIN) return -ENOMEM;
    if (n < 0) return n;
    CHECK(n >= 1);
    return 0;
}

/* A whole file read from a thread: the buffer comes from the funnel (it came from libc). */
static char read_all_path[64];

static int op_read_all(void)
{
    char *data = NULL;
    size_t len = 0;
    int rc = weft_file_read_all(read_all_path, &data, &len);
    if (rc) return rc;
    CHECK_EQ(len, 10000);
    CHECK(data[0] == 'x' && data[9999] == 'x' && data[10000] == '\0');
    free(data);
    return 0;
}

/* weft_io_wait in a coroutine of a fresh thread's loop, on a descriptor numbered 500: the
 * loop's descriptor table grows to hold it (it came from libc). */
static int io_wait_main(void *arg, void **result)
{
    (void)result;
    int rc = weft_io_wait(*(int *)arg, WEFT_IO_WRITE, 5 * WEFT_SEC);
    return rc < 0 ? rc : rc == WEFT_IO_WRITE ? 0 : -EPROTO;
}

static int io_wait_thread(void *arg, void **result)
{
    (void)result;
    return weft_run(io_wait_main, arg, NULL);
}

static int high_fd = -1;

static int op_io_wait(void)
{
    weft_thread *t;
    int rc = weft_thread_start(&t, NULL, io_wait_thread, &high_fd);
    if (rc) return rc;
    rc = weft_thread_join(t, WEFT_FOREVER, NULL);        /* io_wait_thread's return */
    weft_thread_release(t);
    return rc;
}

static void test_more_allocations_can_fail(void)
{
    snprintf(read_all_path, sizeof read_all_path, "/tmp/weft-alloc-%d", (int)getpid());
    FILE *f = fopen(read_all_path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 10000; i++) fputc('x', f);
    fclose(f);
    CHECK(fail_each_allocation(op_read_all) >= 1);
    unlink(read_all_path);
    int p[2];
    CHECK(pipe(p) == 0);
    high_fd = dup2(p[1], 500);
    CHECK_EQ(high_fd, 500);
    CHECK(fail_each_allocation(op_io_wait) >= 3);
    close(high_fd);
    close(p[0]);
    close(p[1]);
}

static void test_every_allocation_can_fail(void)
{
    CHECK(fail_each_allocation(op_future) >= 2);
    CHECK(fail_each_allocation(op_lock_event) >= 2);
    CHECK(fail_each_allocation(op_thread) >= 2);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, spawn_on_new_thread, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
    CHECK(fail_each_allocation(op_spawn) >= 1);
    CHECK(fail_each_allocation(op_local) >= 2);
    CHECK(fail_each_allocation(op_resolve) >= 2);
    /* And all is well afterwards. */
    CHECK_OK(op_future());
    CHECK_OK(op_spawn());
    CHECK_OK(op_thread());
}

/* No address space for another slab of stacks: the coroutines that cannot get a stack end
 * with -ENOMEM; the others run. */
static int hold(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, WEFT_FOREVER);
}

/* A coroutine joins the last of n tasks before any has run: it parks in that task's joiner
 * slot (task/task.c), and the task, finding no stack, must wake it with -ENOMEM. The tasks
 * start in spawn order and none ends before the joiner sets the event, so the stacks run
 * out before the last one. */
typedef struct {
    weft_event *e;
    int n;
    int last_rc;
} join_last_args;

static int join_last_main(void *arg, void **result)
{
    (void)result;
    join_last_args *a = arg;
    weft_future **f = calloc((size_t)a->n, sizeof *f);
    CHECK(f != NULL);
    for (int i = 0; i < a->n; i++) CHECK_OK(weft_spawn(&f[i], hold, a->e));
    a->last_rc = weft_future_result(f[a->n - 1], WEFT_FOREVER, NULL);
    CHECK_OK(weft_event_set(a->e));             /* now the ones that got a stack may end */
    for (int i = 0; i < a->n; i++) {
        int rc = weft_future_result(f[i], WEFT_FOREVER, NULL);
        CHECK(rc == 0 || rc == -ENOMEM);
        weft_future_release(f[i]);
    }
    free(f);
    return 0;
}

static void no_stack_child(void)
{
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *first;
    CHECK_OK(weft_spawn(&first, hold, e));      /* maps the first slab */
    CHECK_OK(weft_yield());
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    CHECK(fscanf(f, "%ld", &pages) == 1);
    fclose(f);
    rl.rlim_cur = (rlim_t)pages * 4096 + (4u << 20);   /* 4 MiB to spare: no second slab */
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
    enum { N = 200 };
    weft_future *f2[N];
    for (int i = 0; i < N; i++) CHECK_OK(weft_spawn(&f2[i], hold, e));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_event_set(e));
    int ok = 0, nomem = 0;
    for (int i = 0; i < N; i++) {
        int rc = weft_future_result(f2[i], WEFT_FOREVER, NULL);
        if (rc == 0) ok++;
        else if (rc == -ENOMEM) nomem++;
        weft_future_release(f2[i]);
    }
    CHECK_OK(weft_future_result(first, WEFT_FOREVER, NULL));
    weft_future_release(first);
    CHECK(ok >= 1);
    CHECK(nomem >= 1);
    CHECK_EQ(ok + nomem, N);
    fprintf(stderr, "ran %d, -ENOMEM %d", ok, nomem);
    CHECK_OK(weft_event_clear(e));
    join_last_args a = { e, N, 0 };
    CHECK_OK(weft_run(join_last_main, &a, NULL));
    CHECK_RC(a.last_rc, -ENOMEM);
    fprintf(stderr, "; a joiner of a task with no stack: woken with -ENOMEM\n");
}

static void test_no_stack(void)
{
    if (slow_tools()) SKIP("sanitizers reserve huge address ranges: no RLIMIT_AS");
    child_result r = in_child(no_stack_child);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
        fprintf(stderr, "child status %#x:\n%s\n", r.status, r.err);
        CHECK(!"the child failed");
    }
    printf("   %s", r.err);
}

int main(void)
{
    RUN(test_every_allocation_can_fail);
    RUN(test_more_allocations_can_fail);
    RUN(test_no_stack);
    return check_done();
}
