/* Coroutine stacks: guard pages, overflow reports that name the coroutine, reuse, and only
 * touched pages resident. Overflow scenarios run in a re-executed child (so each starts
 * with a fresh guard mode) and must end with SIGABRT and the message. */
#include "check.h"
#include "fiber/internal.h"

#include <spawn.h>

extern char **environ;

static int depth_reached;

/* Recurses until the stack runs out; each frame holds a page-ish buffer. */
static int recurse(int n)
{
    volatile char buf[600];
    buf[0] = (char)n;
    depth_reached = n;
    if (n > 100000000) return buf[0];     /* never: keeps the compiler from seeing a loop */
    return recurse(n + 1) + buf[0];
}

static int overflow_body(void *arg, void **result)
{
    (void)arg; (void)result;
    return recurse(0);
}

static int overflow_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "deep";
    weft_future *f;
    CHECK_OK(weft_spawn_ex(&f, &o, overflow_body, NULL));
    weft_future_result(f, WEFT_FOREVER, NULL);
    return 0;
}

static int sized_body(void *arg, void **result)
{
    (void)arg;
    volatile char buf[150 * 1024];       /* more than the default stack: the size was used */
    for (size_t i = 0; i < sizeof buf; i += 1024) buf[i] = (char)i;
    *result = (void *)(intptr_t)(buf[2048] == (char)2048 ? 7 : -1);
    return 0;
}

/* The process's first coroutine stack ever has a non-default size (regression: the size
 * was rounded to whole pages before the guard mode, which sets the page size, was chosen,
 * so it rounded to 0 and the spawn failed with -ENOMEM). Exit status 0 when it ran. */
static int first_stack_sized(void)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.stack_size = 256 * 1024;
    weft_future *f;
    int rc = weft_spawn_ex(&f, &o, sized_body, NULL);
    if (rc != 0) {
        fprintf(stderr, "first sized spawn: %s\n", strerror(-rc));
        return 3;
    }
    void *res = NULL;
    rc = weft_future_result(f, WEFT_FOREVER, &res);
    weft_future_release(f);
    return rc == 0 && (intptr_t)res == 7 ? 0 : 4;
}

/* The child side: argv[1] == "overflow" (named coroutine), "overflow-unnamed" or
 * "first-sized". */
static int child(const char *what)
{
    if (strcmp(what, "first-sized") == 0) return first_stack_sized();
    if (strcmp(what, "overflow") == 0) return weft_run(overflow_main, NULL, NULL);
    if (strcmp(what, "overflow-unnamed") == 0) {
        weft_future *f;
        CHECK_OK(weft_spawn(&f, overflow_body, NULL));
        return weft_future_result(f, WEFT_FOREVER, NULL);
    }
    return 2;
}

static child_result run_self(const char *arg, const char *guard_mode)
{
    child_result r;
    memset(&r, 0, sizeof r);
    int p[2];
    CHECK(pipe(p) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    char env_guard[64];
    snprintf(env_guard, sizeof env_guard, "WEFT_DEBUG_STACK_GUARD=%s", guard_mode);
    char *envp[64];
    int n = 0;
    for (char **e = environ; *e && n < 60; e++)
        if (strncmp(*e, "WEFT_DEBUG_STACK_GUARD=", 23) != 0) envp[n++] = *e;
    envp[n++] = env_guard;
    envp[n] = NULL;
    char *argv[] = { "test_stack", (char *)arg, NULL };
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp) == 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    size_t got = 0;
    ssize_t k;
    char rest[4096];
    for (;;) {       /* read all of it (a sanitizer's report is long): no SIGPIPE for it */
        size_t room = sizeof r.err - 1 - got;
        k = room ? read(p[0], r.err + got, room) : read(p[0], rest, sizeof rest);
        if (k <= 0) break;
        if (room) got += (size_t)k;
    }
    close(p[0]);
    CHECK(waitpid(pid, &r.status, 0) == pid);
    return r;
}

static void expect_overflow_report(const char *arg, const char *mode, const char *needle)
{
    child_result r = run_self(arg, mode);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT) || !strstr(r.err, needle)) {
        fprintf(stderr, "child (%s, %s) status %#x, stderr:\n%s\n", arg, mode, r.status, r.err);
        CHECK(!"expected an overflow report and SIGABRT");
    }
}

static void test_overflow_is_reported(void)
{
    expect_overflow_report("overflow", "madvise",
                           "weft: stack overflow in coroutine 'deep' #");
    expect_overflow_report("overflow", "madvise", "its stack has 131072 bytes");
    expect_overflow_report("overflow-unnamed", "madvise", "weft: stack overflow in coroutine #");
}

static void test_overflow_fallback_modes(void)
{
    /* Older kernels: mprotect guards, then canaries. */
    expect_overflow_report("overflow", "mprotect", "stack overflow in coroutine 'deep'");
#if defined(__SANITIZE_ADDRESS__)
    /* Unguarded, the overflow runs into the neighbouring stack (the main coroutine's):
     * ASan may see that first, in a redzone of one of its frames, which it calls a stack
     * buffer underflow or overflow depending on where the frames lie. Any of the reports
     * will do. */
    child_result r = run_self("overflow", "canary");
    CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT);
    CHECK(strstr(r.err, "stack overflow in coroutine 'deep'") ||
          strstr(r.err, "AddressSanitizer: stack-buffer-underflow") ||
          strstr(r.err, "AddressSanitizer: stack-buffer-overflow"));
#else
    expect_overflow_report("overflow", "canary", "stack overflow in coroutine 'deep'");
#endif
}

static void test_first_stack_may_have_its_own_size(void)
{
    const char *modes[] = { "madvise", "mprotect", "canary" };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        child_result r = run_self("first-sized", modes[i]);
        if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
            fprintf(stderr, "first-sized (%s): status %#x, stderr:\n%s\n", modes[i],
                    r.status, r.err);
        CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    }
}

/* A coroutine may use nearly all of its stack. */
static int use_most(void *arg, void **result)
{
    (void)arg; (void)result;
    volatile char big[100 * 1024];
    for (size_t i = 0; i < sizeof big; i += 512) big[i] = (char)i;
    return big[1024] == (char)1024 ? 0 : -1;
}

static void test_deep_use_is_fine(void)
{
    weft_future *f;
    CHECK_OK(weft_spawn(&f, use_most, NULL));
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
    CHECK(strcmp(weft__stack_guard_mode(), "madvise") == 0 ||
          strcmp(weft__stack_guard_mode(), "mprotect") == 0);
}

/* Finished coroutines hand their stack to the next one. */
static uintptr_t where;

static int note_stack(void *arg, void **result)
{
    (void)arg; (void)result;
    char here;
    where = (uintptr_t)&here;
    return 0;
}

static void test_stacks_are_reused(void)
{
    uintptr_t first = 0;
    for (int i = 0; i < 100; i++) {
        weft_future *f;
        CHECK_OK(weft_spawn(&f, note_stack, NULL));
        CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
        weft_future_release(f);
        if (i == 0) first = where;
        CHECK_EQ(where, first);
    }
}

/* The stack pool works across threads and grows beyond the per-thread cache. */
static int hold(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, WEFT_FOREVER);
}

static int many_held(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *f[200];
    for (int i = 0; i < 200; i++) CHECK_OK(weft_spawn(&f[i], hold, e));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_event_set(e));
    for (int i = 0; i < 200; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    weft_event_destroy(e);
    return 0;
}

static int run_many(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_run(many_held, NULL, NULL);
}

static void test_pool_across_threads(void)
{
    for (int round = 0; round < 3; round++) {
        weft_thread *t[2];
        for (int i = 0; i < 2; i++) CHECK_OK(weft_thread_start(&t[i], NULL, run_many, NULL));
        for (int i = 0; i < 2; i++) {
            CHECK_OK(weft_thread_join(t[i], WEFT_FOREVER, NULL));
            weft_thread_release(t[i]);
        }
    }
}

/* A coroutine with a stack of its own size ends; the next to run starts for the first time
 * on a reused default stack and frees the other's stack from its first frame. Under ASan
 * that frame used to trip on the redzones the reused stack's previous coroutine left
 * poisoned (it never returned from its frames): a false stack-buffer-overflow. */
static int nop(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int reap_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f[3];
    CHECK_OK(weft_spawn(&f[0], nop, NULL));          /* leaves a used stack in the cache */
    CHECK_OK(weft_future_result(f[0], WEFT_FOREVER, NULL));
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.stack_size = 64 * 1024;
    CHECK_OK(weft_spawn_ex(&f[1], &o, nop, NULL));
    CHECK_OK(weft_spawn(&f[2], nop, NULL));         /* runs next, reaps f[1]'s stack */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_own_size_stack_reaped_by_a_new_coroutine(void)
{
    CHECK_OK(weft_run(reap_main, NULL, NULL));
}

int main(int argc, char **argv)
{
    if (argc > 1) return child(argv[1]);
    RUN(test_overflow_is_reported);
    RUN(test_overflow_fallback_modes);
    RUN(test_first_stack_may_have_its_own_size);
    RUN(test_deep_use_is_fine);
    RUN(test_stacks_are_reused);
    RUN(test_pool_across_threads);
    RUN(test_own_size_stack_reaped_by_a_new_coroutine);
    return check_done();
}
