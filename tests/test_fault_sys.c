/* Chosen system calls fail (tests/fault_sys.c, LD_PRELOAD): each case re-runs this program
 * with the fault library preloaded and WEFT_FAULT_NTH naming the call to fail, then checks
 * that weft reports a clean error, leaks no descriptor and keeps working:
 *   accept4 fails with EMFILE once: the server's acceptor keeps going, every client served;
 *   socket fails with EMFILE: weft_tcp_connect returns -EMFILE, the next one connects;
 *   pipe2 fails with EMFILE: weft_subprocess_start returns -EMFILE, no child, no descriptor.
 */
#include "check.h"

#include <spawn.h>
#include <stdint.h>

extern char **environ;

#ifndef FAULT_SYS_LIB
#error "FAULT_SYS_LIB: the path of the fault library (tests/meson.build)"
#endif

/* ---- the cases, run in the preloaded child ------------------------------------------------ */

static int echo_one(weft_socket *c, void *arg)
{
    (void)arg;
    char b;
    if (weft_socket_read(c, &b, 1, 5 * WEFT_SEC) == 1) weft_socket_write(c, &b, 1, 5 * WEFT_SEC);
    return 0;
}

static int client(void *arg, void **result)
{
    (void)result;
    uint16_t port = (uint16_t)(uintptr_t)arg;
    weft_socket *s;
    int rc = weft_tcp_connect(&s, "127.0.0.1", port, 5 * WEFT_SEC);
    if (rc) return rc;
    char b = 'x';
    if (weft_socket_write(s, &b, 1, 5 * WEFT_SEC) != 1) rc = -EIO;
    else if (weft_socket_read(s, &b, 1, 5 * WEFT_SEC) != 1 || b != 'x') rc = -EIO;
    weft_socket_close(s);
    return rc;
}

static int accept_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_server *srv;
    CHECK_OK(weft_tcp_server(&srv, "127.0.0.1", 0, echo_one, NULL, NULL));
    weft_addr a;
    CHECK_OK(weft_server_addr(srv, &a));
    weft_future *c[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_spawn(&c[i], client, (void *)(uintptr_t)weft_addr_port(&a)));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(c[i], 20 * WEFT_SEC, NULL));   /* all served */
        weft_future_release(c[i]);
    }
    CHECK_OK(weft_server_close(srv, WEFT_SEC));
    return 0;
}

static void case_accept_emfile(void)
{
    CHECK_OK(weft_run(accept_main, NULL, NULL));
}

static void case_socket_emfile_connect(void)
{
    /* The listener took socket call 1 (not failed: NTH is 2). */
    weft_socket *l;
    CHECK_OK(weft_tcp_listen(&l, "127.0.0.1", 0, 16));
    weft_addr a;
    CHECK_OK(weft_socket_local_addr(l, &a));
    int before = check_open_fds();
    weft_socket *s;
    CHECK_RC(weft_tcp_connect(&s, "127.0.0.1", weft_addr_port(&a), 5 * WEFT_SEC), -EMFILE);
    CHECK_EQ(check_open_fds(), before);
    CHECK_OK(weft_tcp_connect(&s, "127.0.0.1", weft_addr_port(&a), 5 * WEFT_SEC));
    weft_socket_close(s);
    weft_socket_close(l);
}

static void case_pipe_emfile(void)
{
    int before = check_open_fds();
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    o.stderr_mode = WEFT_STDIO_PIPE;
    weft_subprocess *p;
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ "true", NULL }, &o), -EMFILE);
    CHECK_EQ(check_open_fds(), before);
    CHECK_OK(weft_subprocess_start(&p, (const char *const[]){ "true", NULL }, &o));
    int code;
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_subprocess_destroy(p);
}

/* ---- the parent: one preloaded child per case --------------------------------------------- */

static void run_case(const char *name, const char *nth)
{
    char pre[512], spec[128];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", FAULT_SYS_LIB);
    snprintf(spec, sizeof spec, "WEFT_FAULT_NTH=%s", nth);
    char *envp[128];
    int n = 0;
    for (char **e = environ; *e && n < 120; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "WEFT_FAULT_", 11) != 0)
            envp[n++] = *e;
    envp[n++] = pre;
    envp[n++] = spec;
    envp[n] = NULL;
    char *argv[] = { "test_fault_sys", (char *)name, NULL };
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, envp) == 0);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "case %s (%s): status %#x\n", name, nth, status);
        CHECK(!"a fault case failed");
    }
}

static void test_accept_emfile_keeps_serving(void)
{
    run_case("accept", "accept4:1:EMFILE");
}

static void test_socket_emfile_is_reported(void)
{
    run_case("connect", "socket:2:EMFILE");
}

static void test_pipe_emfile_leaves_nothing(void)
{
    run_case("pipe", "pipe2:1:EMFILE");
}

int main(int argc, char **argv)
{
    if (argc > 1) {                                  /* a case, in the preloaded child */
        if (strcmp(argv[1], "accept") == 0) case_accept_emfile();
        else if (strcmp(argv[1], "connect") == 0) case_socket_emfile_connect();
        else if (strcmp(argv[1], "pipe") == 0) case_pipe_emfile();
        else return 2;
        return 0;
    }
    if (under_qemu()) {
        printf("skip: the fault library is built for the host\n");
        return 77;
    }
    RUN(test_accept_emfile_keeps_serving);
    RUN(test_socket_emfile_is_reported);
    RUN(test_pipe_emfile_leaves_nothing);
    return check_done();
}
