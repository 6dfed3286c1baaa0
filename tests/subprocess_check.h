/* tests/subprocess_check.h — for the subprocess tests: the child program, counting our open
 * descriptors and our children (no leak, no zombie), and running a test body from a plain
 * thread and from a coroutine. */
#ifndef WEFT_TESTS_SUBPROCESS_CHECK_H
#define WEFT_TESTS_SUBPROCESS_CHECK_H

#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>

/* tests/proc_child.c, built by meson (its path comes from tests/meson.build). */
#ifndef PROC_CHILD
#error "PROC_CHILD must name the test child program"
#endif

/* Descriptors open in this process. */
/* Our descriptors, but the epoll and eventfd ones: those belong to the loops of weft's
 * pool threads (the spawn pool's among them), which come and go beside the tests. A
 * pidfd (anon_inode:[pidfd]) counts. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        char target[256];
        ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (len < 0) continue;
        target[len] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0 ||
            strcmp(target, "anon_inode:[eventfd]") == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

/* Prints our descriptors and what they are, for a failed count. */
static inline void list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
    }
    if (d) closedir(d);
}

/* The descriptor count is as it was. */
#define CHECK_FDS(before) do { int now_ = count_fds(); \
    if (now_ != (before)) { list_fds(); CHECK_EQ(now_, (before)); } } while (0)

/* Processes whose parent is this one, and how many of them are zombies. */
static inline int count_children(int *zombies)
{
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    int n = 0, z = 0;
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;             /* it has just gone */
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');  /* the name may hold spaces and parentheses */
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
        if (ppid != me) continue;
        n++;
        if (state == 'Z') z++;
    }
    closedir(d);
    if (zombies) *zombies = z;
    return n;
}

/* No child of ours is left, dead or alive (children just killed may need a moment to go). */
static inline void check_no_children(void)
{
    int64_t t0 = weft_now();
    int z, n;
    while ((n = count_children(&z)) != 0) {
        if (weft_now() - t0 > 5 * WEFT_SEC) {
            fprintf(stderr, "%d children left (%d zombies)\n", n, z);
            abort();
        }
        usleep(1000);
    }
}

/* Runs body as plain thread code (on the calling thread) and then as a coroutine
 * (weft_run), checking after each that no descriptor and no child is left behind. */
static inline int run_body(void *arg, void **result)
{
    (void)result;
    ((void (*)(void))arg)();
    return 0;
}

static inline void from_thread_and_coroutine(void (*body)(void))
{
    int fds = count_fds();
    body();
    check_no_children();
    CHECK_FDS(fds);
    CHECK_OK(weft_run(run_body, (void *)body, NULL));
    check_no_children();
    CHECK_FDS(fds);
}

/* Warms up what weft keeps for good once used (the main thread's loop and its epoll), so
 * that descriptor counts compare like with like. Call once from main. */
static inline int warm_up_body(void *arg, void **result)
{
    (void)arg; (void)result;
    const char *argv[] = { PROC_CHILD, "sleep", "20", NULL };   /* so the wait must park */
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, argv, NULL));
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, NULL));
    weft_subprocess_destroy(p);
    return 0;
}

static inline void warm_up(void)
{
    CHECK_OK(weft_run(warm_up_body, NULL, NULL));
}

/* The return code of a finished child: starts argv with opts and waits. */
static inline int code_of(const char *const *argv, const weft_subprocess_opts *opts)
{
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, argv, opts));
    int code = -1000;
    CHECK_OK(weft_subprocess_wait(p, 30 * WEFT_SEC, &code));
    weft_subprocess_destroy(p);
    return code;
}

#endif /* WEFT_TESTS_SUBPROCESS_CHECK_H */
