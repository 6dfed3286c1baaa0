/* tests/test_subprocess.c — starting programs, their stdio, waiting, signals, destroy and
 * detach, and every bad input and fault of weft/proc.h, from threads and coroutines; no
 * descriptor and no zombie left behind. The transfers (communicate, run, streams) are in
 * test_subprocess_io.c, the thousand children in test_subprocess_stress.c. */
#include "fault.h"
#include "subprocess_check.h"
#include "proc/internal.h"

#include <sys/stat.h>

#define CHILD(...) ((const char *const[]){ PROC_CHILD, __VA_ARGS__, NULL })

/* Runs argv with stdout (and stderr into it, if merge) captured; returns the output, which
 * the caller frees. */
static char *output_of(const char *const *argv, weft_subprocess_opts *o, int *code)
{
    weft_subprocess_opts d = WEFT_SUBPROCESS_OPTS_INIT;
    if (!o) o = &d;
    o->stdout_mode = WEFT_STDIO_PIPE;
    weft_subprocess_result r;
    CHECK_OK(weft_subprocess_run(&r, argv, o, NULL, 0, 30 * WEFT_SEC, 0));
    if (code) *code = r.returncode;
    free(r.err);
    return r.out;
}

/* ---- return codes ------------------------------------------------------------------------ */

static void body_exit_codes(void)
{
    CHECK_EQ(code_of(CHILD("exit", "0"), NULL), 0);
    CHECK_EQ(code_of(CHILD("exit", "3"), NULL), 3);
    CHECK_EQ(code_of(CHILD("exit", "255"), NULL), 255);
    /* Killed by a signal: minus its number, as Python says. */
    CHECK_EQ(code_of(CHILD("signal", "15"), NULL), -SIGTERM);
    CHECK_EQ(code_of(CHILD("signal", "9"), NULL), -SIGKILL);
    CHECK_EQ(code_of(CHILD("signal", "6"), NULL), -SIGABRT);
    /* A program found through PATH. */
    CHECK_EQ(code_of((const char *const[]){ "true", NULL }, NULL), 0);
    CHECK_EQ(code_of((const char *const[]){ "false", NULL }, NULL), 1);
}

static void test_exit_codes(void)
{
    from_thread_and_coroutine(body_exit_codes);
}

/* ---- exec failures are the start call's errors ------------------------------------------- */

static char tmpdir[64];

static void body_exec_errors(void)
{
    weft_subprocess *p = (weft_subprocess *)0x1;
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ "/nonexistent/prog", NULL }, NULL),
             -ENOENT);
    CHECK_PTR(p, (weft_subprocess *)0x1);                  /* untouched */
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ "no-such-program-x9", NULL }, NULL),
             -ENOENT);
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ "", NULL }, NULL), -ENOENT);
    char path[128];
    snprintf(path, sizeof path, "%s/plain", tmpdir);       /* a file without x permission */
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ path, NULL }, NULL), -EACCES);
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ tmpdir, NULL }, NULL), -EACCES);
    snprintf(path, sizeof path, "%s/plain/x", tmpdir);     /* a file as a directory */
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ path, NULL }, NULL), -ENOTDIR);
    snprintf(path, sizeof path, "%s/garbage", tmpdir);     /* executable, but not a program */
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ path, NULL }, NULL), -ENOEXEC);
    /* A PATH search that meets a non-executable file and then nothing: EACCES (execvp's
     * rule); a later directory that has the program wins. */
    char env[160];
    snprintf(env, sizeof env, "PATH=%s:/nonexistent", tmpdir);
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    const char *envp[] = { env, NULL };
    o.envp = envp;
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ "plain", NULL }, &o), -EACCES);
    snprintf(env, sizeof env, "PATH=/nonexistent:%s:/usr/bin:/bin", tmpdir);
    CHECK_EQ(code_of((const char *const[]){ "true", NULL }, &o), 0);
    /* No PATH in the environment: /bin:/usr/bin. */
    const char *no_path[] = { "A=b", NULL };
    o.envp = no_path;
    CHECK_EQ(code_of((const char *const[]){ "true", NULL }, &o), 0);
}

static void test_exec_errors(void)
{
    from_thread_and_coroutine(body_exec_errors);
}

static void body_bad_cwd(void)
{
    weft_subprocess *p;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.cwd = "/nonexistent/dir";
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -ENOENT);
    char file[128];
    snprintf(file, sizeof file, "%s/plain", tmpdir);
    o.cwd = file;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -ENOTDIR);
    o.cwd = tmpdir;
    char *out = output_of(CHILD("cwd"), &o, NULL);
    char want[128];
    snprintf(want, sizeof want, "%s\n", tmpdir);
    CHECK(strcmp(out, want) == 0);
    free(out);
    /* A relative program path is looked up from the child's directory (Python's rule). */
    o.cwd = "/usr";
    CHECK_EQ(code_of((const char *const[]){ "bin/true", NULL }, &o), 0);
}

static void test_bad_cwd(void)
{
    from_thread_and_coroutine(body_bad_cwd);
}

static void test_bad_arguments(void)
{
    int fds = count_fds();
    weft_subprocess *p;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    CHECK_RC(weft_subprocess_start(NULL, CHILD("exit", "0"), NULL), -EINVAL);
    CHECK_RC(weft_subprocess_start(&p, NULL, NULL), -EINVAL);
    CHECK_RC(weft_subprocess_start(&p, (const char *const[]){ NULL }, NULL), -EINVAL);
    o.stdout_mode = WEFT_STDIO_STDOUT;                     /* only stderr may merge */
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EINVAL);
    o.stdout_mode = (weft_stdio)42;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EINVAL);
    o.stdout_mode = WEFT_STDIO_FD;                         /* no fd given */
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EINVAL);
    o.stdout_fd = 1000;                                    /* not open */
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EBADF);
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    int two = 2;
    o.pass_fds = &two;
    o.n_pass_fds = 1;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EINVAL);
    /* A pass_fds entry that is not open: -EBADF (Python's rule), even beside an open one,
     * and nothing started. */
    int open_fd = dup(0), closed_fd = dup(0);
    CHECK(open_fd >= 3 && closed_fd >= 3);
    close(closed_fd);
    int mixed[2] = { open_fd, closed_fd };
    o.pass_fds = mixed;
    o.n_pass_fds = 2;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EBADF);
    weft_subprocess_result br;
    CHECK_RC(weft_subprocess_run(&br, CHILD("exit", "0"), &o, NULL, 0, WEFT_SEC, 0), -EBADF);
    o.n_pass_fds = 1;                                      /* the open one alone: fine */
    CHECK_EQ(code_of(CHILD("exit", "0"), &o), 0);
    close(open_fd);
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.process_group = -2;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EINVAL);
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.process_group = 1;                                   /* init's group: not ours to join */
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "0"), &o), -EPERM);
    /* The calls on a handle. */
    CHECK_RC(weft_subprocess_wait(NULL, 0, NULL), -EINVAL);
    CHECK_RC(weft_subprocess_send_signal(NULL, SIGTERM), -EINVAL);
    CHECK_RC(weft_subprocess_kill(NULL), -EINVAL);
    CHECK(weft_subprocess_stdout(NULL) == NULL);
    CHECK(weft_subprocess_captured(NULL, 1, NULL) == NULL);
    weft_subprocess_destroy(NULL);
    weft_subprocess_detach(NULL);
    weft_subprocess_result_free(NULL);
    weft_subprocess_result r;
    CHECK_RC(weft_subprocess_run(&r, CHILD("exit", "0"), NULL, NULL, 0, -5, 0), -EINVAL);
    CHECK_RC(weft_subprocess_run(&r, CHILD("exit", "0"), NULL, NULL, 0, WEFT_SEC, 4u), -EINVAL);
    CHECK_RC(weft_subprocess_run(NULL, CHILD("exit", "0"), NULL, NULL, 0, WEFT_SEC, 0), -EINVAL);
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_DEVNULL;                    /* capture wants them to itself */
    CHECK_RC(weft_subprocess_run(&r, CHILD("exit", "0"), &o, NULL, 0, WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE), -EINVAL);
    CHECK(r.out == NULL && r.err == NULL);
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "10000"), NULL));
    CHECK_RC(weft_subprocess_wait(p, -7, NULL), -EINVAL);
    CHECK_RC(weft_subprocess_communicate(p, "x", 1, 0, &r), -EINVAL);   /* no stdin pipe */
    CHECK_RC(weft_subprocess_communicate(p, NULL, 0, 0, NULL), -EINVAL);
    weft_subprocess_destroy(p);
    check_no_children();
    CHECK_FDS(fds);
}

/* ---- stdio ------------------------------------------------------------------------------- */

static void body_stdio_modes(void)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    /* stdin from /dev/null: the child reads nothing. */
    o.stdin_mode = WEFT_STDIO_DEVNULL;
    char *out = output_of(CHILD("readall"), &o, NULL);
    CHECK(strcmp(out, "0\n") == 0);
    free(out);
    /* stderr into stdout (2>&1), in the order written. */
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.stderr_mode = WEFT_STDIO_STDOUT;
    out = output_of(CHILD("both"), &o, NULL);
    CHECK(strcmp(out, "out\nerr\nout2\n") == 0);
    free(out);
    /* Given descriptors: stdin from a file, stdout and stderr (merged) to another. */
    char in_path[128], out_path[128];
    snprintf(in_path, sizeof in_path, "%s/in", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/out", tmpdir);
    int in = open(in_path, O_RDONLY | O_CLOEXEC);
    int dst = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(in >= 0 && dst >= 0);
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = WEFT_STDIO_FD;
    o.stdin_fd = in;
    o.stdout_mode = WEFT_STDIO_FD;
    o.stdout_fd = dst;
    o.stderr_mode = WEFT_STDIO_STDOUT;
    CHECK_EQ(code_of(CHILD("echo"), &o), 0);
    CHECK_EQ(code_of(CHILD("both"), &o), 0);
    CHECK(fcntl(in, F_GETFD) >= 0 && fcntl(dst, F_GETFD) >= 0);   /* still the caller's */
    close(in);
    close(dst);
    char buf[256];
    int f = open(out_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK(strcmp(buf, "hello\nout\nerr\nout2\n") == 0);
    /* stdout and stderr to /dev/null: nothing reaches anybody. */
    o = (weft_subprocess_opts)WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_DEVNULL;
    o.stderr_mode = WEFT_STDIO_DEVNULL;
    CHECK_EQ(code_of(CHILD("both"), &o), 0);
}

static void test_stdio_modes(void)
{
    from_thread_and_coroutine(body_stdio_modes);
}

/* Sources that are themselves 0, 1 or 2: the child must copy them away before it dups
 * over 0..2. The test makes its own fd 0 a pipe and asks for the child's stdout and stderr
 * to go to "fd 0", with stdin from /dev/null. */
static void test_low_descriptors(void)
{
    int fds = count_fds();
    int saved = dup(0);
    int pp[2];
    CHECK(saved >= 0 && pipe2(pp, O_CLOEXEC) == 0);
    CHECK(dup2(pp[1], 0) == 0);
    close(pp[1]);
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = WEFT_STDIO_DEVNULL;
    o.stdout_mode = WEFT_STDIO_FD;
    o.stdout_fd = 0;
    o.stderr_mode = WEFT_STDIO_FD;
    o.stderr_fd = 0;
    int code = code_of(CHILD("both"), &o);
    CHECK(dup2(saved, 0) == 0);                            /* the pipe's write end goes */
    close(saved);
    CHECK_EQ(code, 0);
    char buf[64];
    ssize_t n = read_full(pp[0], buf, sizeof buf - 1);   /* to the end */
    close(pp[0]);
    CHECK(n > 0);
    buf[n] = '\0';
    CHECK(strcmp(buf, "out\nerr\nout2\n") == 0);
    CHECK_FDS(fds);
}

/* Every descriptor but 0, 1, 2 is closed in the child, close-on-exec or not, unless passed. */
static void body_descriptors_closed(void)
{
    int leak[2];
    CHECK(pipe(leak) == 0);                                /* no O_CLOEXEC, on purpose */
    char *out = output_of(CHILD("fds"), NULL, NULL);
    CHECK(strcmp(out, "0 1 2\n") == 0);
    free(out);
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    int pass[] = { leak[1], leak[1] };                     /* duplicates are fine */
    o.pass_fds = pass;
    o.n_pass_fds = 2;
    out = output_of(CHILD("fds"), &o, NULL);
    char want[32];
    snprintf(want, sizeof want, "0 1 2 %d\n", leak[1]);
    CHECK(strcmp(out, want) == 0);
    free(out);
    close(leak[0]);
    close(leak[1]);
}

static void test_descriptors_closed(void)
{
    from_thread_and_coroutine(body_descriptors_closed);
}

/* ---- environment, session, signals ------------------------------------------------------- */

static void body_environment(void)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    const char *envp[] = { "FOO=bar baz", NULL };
    o.envp = envp;
    char *out = output_of(CHILD("env", "FOO"), &o, NULL);
    CHECK(strcmp(out, "bar baz\n") == 0);
    free(out);
    out = output_of(CHILD("env", "HOME"), &o, NULL);
    CHECK(strcmp(out, "(unset)\n") == 0);
    free(out);
    setenv("WEFT_TEST_VAR", "inherited", 1);               /* NULL envp: ours, at the call */
    out = output_of(CHILD("env", "WEFT_TEST_VAR"), NULL, NULL);
    CHECK(strcmp(out, "inherited\n") == 0);
    free(out);
    unsetenv("WEFT_TEST_VAR");
}

static void test_environment(void)
{
    from_thread_and_coroutine(body_environment);
}

static void body_session_and_group(void)
{
    int pid, pgid, sid;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    char *out = output_of(CHILD("ids"), &o, NULL);
    CHECK(sscanf(out, "%d %d %d", &pid, &pgid, &sid) == 3);
    CHECK_EQ(pgid, getpgid(0));
    CHECK_EQ(sid, getsid(0));
    free(out);
    o.new_session = true;
    out = output_of(CHILD("ids"), &o, NULL);
    CHECK(sscanf(out, "%d %d %d", &pid, &pgid, &sid) == 3);
    CHECK_EQ(sid, pid);
    CHECK_EQ(pgid, pid);
    free(out);
    o.new_session = false;
    o.process_group = 0;
    out = output_of(CHILD("ids"), &o, NULL);
    CHECK(sscanf(out, "%d %d %d", &pid, &pgid, &sid) == 3);
    CHECK_EQ(pgid, pid);
    CHECK_EQ(sid, getsid(0));
    free(out);
}

static void test_session_and_group(void)
{
    from_thread_and_coroutine(body_session_and_group);
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* The child's signals: none blocked (even if the starting thread blocks some), SIGPIPE at
 * its default (weft ignores it in the parent), handled signals at their default, ignored
 * ones (nohup's SIGHUP) still ignored. */
static void body_child_signals(void)
{
    struct sigaction usr1, hup, old_usr1, old_hup;
    memset(&usr1, 0, sizeof usr1);
    usr1.sa_handler = on_usr1;
    memset(&hup, 0, sizeof hup);
    hup.sa_handler = SIG_IGN;
    CHECK(sigaction(SIGUSR1, &usr1, &old_usr1) == 0);
    CHECK(sigaction(SIGHUP, &hup, &old_hup) == 0);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGINT);
    CHECK(pthread_sigmask(SIG_BLOCK, &block, &old_mask) == 0);
    char *out = output_of(CHILD("sigs"), NULL, NULL);
    CHECK(pthread_sigmask(SIG_SETMASK, &old_mask, NULL) == 0);
    CHECK(sigaction(SIGUSR1, &old_usr1, NULL) == 0);
    CHECK(sigaction(SIGHUP, &old_hup, NULL) == 0);
    CHECK(strcmp(out, "blocked=0 pipe=dfl hup=ign usr1=dfl\n") == 0);
    free(out);
}

static void test_child_signals(void)
{
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;              /* as weft leaves it once it has adopted a pipe */
    CHECK(sigaction(SIGPIPE, &ign, &old) == 0);
    from_thread_and_coroutine(body_child_signals);
    CHECK(sigaction(SIGPIPE, &old, NULL) == 0);
}

/* SIGCHLD ignored (the kernel reaps children), or a handler reaping every child: the
 * status is lost, and the wait says so (-ECHILD) instead of hanging; the kill says -ESRCH. */
static atomic_int reaped_by_handler;

static void reap_all(int sig)
{
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) atomic_fetch_add(&reaped_by_handler, 1);
    errno = saved;
}

static void body_sigchld_taken(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    CHECK(sigaction(SIGCHLD, &sa, &old) == 0);
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("exit", "7"), NULL));
    int code = 1234;
    CHECK_RC(weft_subprocess_wait(p, 10 * WEFT_SEC, &code), -ECHILD);
    CHECK_RC(weft_subprocess_wait(p, 0, &code), -ECHILD);
    CHECK_EQ(code, 1234);
    CHECK_RC(weft_subprocess_kill(p), -ESRCH);
    weft_subprocess_destroy(p);
    sa.sa_handler = reap_all;
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    atomic_store(&reaped_by_handler, 0);
    CHECK_OK(weft_subprocess_start(&p, CHILD("exit", "9"), NULL));
    while (atomic_load(&reaped_by_handler) == 0) reap_all(SIGCHLD);  /* however it comes */
    CHECK_RC(weft_subprocess_wait(p, 10 * WEFT_SEC, &code), -ECHILD);
    weft_subprocess_result r;
    CHECK_RC(weft_subprocess_communicate(p, NULL, 0, WEFT_SEC, &r), -ECHILD);
    weft_subprocess_destroy(p);
    CHECK(sigaction(SIGCHLD, &old, NULL) == 0);
}

static void test_sigchld_taken(void)
{
    from_thread_and_coroutine(body_sigchld_taken);
}

/* ---- wait -------------------------------------------------------------------------------- */

static void body_wait_timeout_and_twice(void)
{
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "800"), NULL));
    CHECK(weft_subprocess_pid(p) > 0);
    CHECK(weft_subprocess_pidfd(p) >= 0);
    int code = 1234;
    CHECK_RC(weft_subprocess_wait(p, 0, &code), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_subprocess_wait(p, 50 * WEFT_MS, &code), -ETIMEDOUT);
    CHECK(weft_now() - t0 >= 45 * WEFT_MS);
    CHECK_EQ(code, 1234);                                  /* untouched */
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    code = 1234;
    CHECK_OK(weft_subprocess_wait(p, 0, &code));            /* twice: the same, at once */
    CHECK_EQ(code, 0);
    CHECK_OK(weft_subprocess_wait(p, WEFT_FOREVER, NULL));
    weft_subprocess_destroy(p);
}

static void test_wait_timeout_and_twice(void)
{
    from_thread_and_coroutine(body_wait_timeout_and_twice);
}

/* A deadline scope cuts a wait, as any weft wait. */
static void body_wait_in_scope(void)
{
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "10000"), NULL));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 30 * WEFT_MS, 0));
    CHECK_RC(weft_subprocess_wait(p, WEFT_FOREVER, NULL), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    weft_subprocess_destroy(p);
}

static void test_wait_in_scope(void)
{
    from_thread_and_coroutine(body_wait_in_scope);
}

/* ---- signals ----------------------------------------------------------------------------- */

static void body_signals(void)
{
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "10000"), NULL));
    CHECK_RC(weft_subprocess_send_signal(p, -1), -EINVAL);
    CHECK_RC(weft_subprocess_send_signal(p, 65), -EINVAL);
    CHECK_RC(weft_subprocess_send_signal(p, 1000), -EINVAL);
    CHECK_OK(weft_subprocess_send_signal(p, 0));            /* it exists */
    CHECK_OK(weft_subprocess_terminate(p));
    int code;
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, &code));
    CHECK_EQ(code, -SIGTERM);
    /* Reaped: every signal says so, and reaches nobody. */
    CHECK_RC(weft_subprocess_kill(p), -ESRCH);
    CHECK_RC(weft_subprocess_kill(p), -ESRCH);
    CHECK_RC(weft_subprocess_terminate(p), -ESRCH);
    CHECK_RC(weft_subprocess_send_signal(p, 0), -ESRCH);
    weft_subprocess_destroy(p);
    /* Killing twice before the wait: harmless; ended but not yet waited for: -ESRCH, and
     * the kill has reaped it (the wait still reports the code). */
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "10000"), NULL));
    CHECK_OK(weft_subprocess_kill(p));
    int rc = weft_subprocess_kill(p);
    CHECK(rc == 0 || rc == -ESRCH);
    while (weft_subprocess_send_signal(p, 0) == 0) weft_sleep(WEFT_MS);
    CHECK_RC(weft_subprocess_kill(p), -ESRCH);
    CHECK_OK(weft_subprocess_wait(p, 0, &code));
    CHECK_EQ(code, -SIGKILL);
    weft_subprocess_destroy(p);
}

static void test_signals(void)
{
    from_thread_and_coroutine(body_signals);
}

/* ---- destroy and detach ------------------------------------------------------------------ */

static bool process_exists(pid_t pid)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat st;
    return stat(path, &st) == 0;
}

static void body_destroy_running(void)
{
    weft_subprocess *p;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = o.stdout_mode = o.stderr_mode = WEFT_STDIO_PIPE;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "100000"), &o));
    pid_t pid = weft_subprocess_pid(p);
    CHECK_OK(weft_stream_write(weft_subprocess_stdin(p), "dropped", 7, WEFT_SEC));
    int64_t t0 = weft_now();
    weft_subprocess_destroy(p);                            /* killed and reaped */
    CHECK(weft_now() - t0 < 5 * WEFT_SEC);
    CHECK(!process_exists(pid));
    CHECK_EQ(count_children(NULL), 0);
    /* An ended child's handle: reaped, nothing killed. */
    CHECK_OK(weft_subprocess_start(&p, CHILD("exit", "0"), NULL));
    pid = weft_subprocess_pid(p);
    while (count_children(NULL) && !weft_subprocess_wait(p, 0, NULL)) {}
    weft_subprocess_destroy(p);
    CHECK(!process_exists(pid));
}

static void test_destroy_running(void)
{
    from_thread_and_coroutine(body_destroy_running);
}

static void body_detach(void)
{
    int fds = count_fds();
    weft_subprocess *p;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "150"), &o));
    pid_t pid = weft_subprocess_pid(p);
    weft_subprocess_detach(p);                             /* it runs on */
    CHECK(process_exists(pid));
    CHECK_FDS(fds + 1);                        /* its pidfd, on weft's list */
    int z = 0;
    int64_t t0 = weft_now();
    while (count_children(&z) == 1 && z == 0) {            /* it ends: a zombie for now */
        CHECK(weft_now() - t0 < 10 * WEFT_SEC);
        weft_sleep(5 * WEFT_MS);
    }
    CHECK_EQ(z, 1);
    CHECK_EQ(code_of(CHILD("exit", "0"), NULL), 0);         /* the next start reaps it */
    CHECK_EQ(count_children(NULL), 0);
    CHECK(!process_exists(pid));
    CHECK_FDS(fds);
    /* A detached child that has already ended is reaped at once. */
    CHECK_OK(weft_subprocess_start(&p, CHILD("exit", "0"), NULL));
    while (count_children(&z) == 1 && z == 0) weft_sleep(WEFT_MS);
    weft_subprocess_detach(p);
    CHECK_EQ(count_children(NULL), 0);
    CHECK_FDS(fds);
}

static void test_detach(void)
{
    from_thread_and_coroutine(body_detach);
}

/* ---- descriptors run out ----------------------------------------------------------------- */

/* The descriptor limit under which exactly `room` more descriptors can be opened: the
 * number of the (room + 1)-th free slot. */
static rlim_t limit_with_room(int room)
{
    static bool open_fd[4096];
    memset(open_fd, 0, sizeof open_fd);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) < 4096 && atoi(e->d_name) != dirfd(d))
            open_fd[atoi(e->d_name)] = true;
    closedir(d);
    int free_seen = 0;
    for (int n = 0; n < 4096; n++) {
        if (open_fd[n]) continue;
        if (free_seen++ == room) return (rlim_t)n;
    }
    CHECK(!"too many descriptors open");
    return 0;
}

static void body_emfile(void)
{
    int fds = count_fds();
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = o.stdout_mode = o.stderr_mode = WEFT_STDIO_PIPE;
    /* Room for 0..6 more descriptors: every pipe in turn, then the pidfd (made while the
     * 6 pipe ends are open), fails, and leaves nothing behind; with 7 it works (9 with the
     * fallback spawner's error pipe, as under Valgrind). */
    int room;
    for (room = 0; room <= 9; room++) {
        low = old;
        low.rlim_cur = limit_with_room(room);
        CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
        weft_subprocess *p;
        int rc = weft_subprocess_start(&p, CHILD("exit", "0"), &o);
        CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
        CHECK_FDS(fds + (rc == 0 ? 4 : 0));                /* 3 pipe ends and the pidfd */
        if (rc == 0) {
            CHECK(room >= 7);
            CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, NULL));
            weft_subprocess_destroy(p);
            break;
        }
        CHECK_RC(rc, -EMFILE);
        CHECK_EQ(count_children(NULL), 0);
    }
    CHECK(room <= 9);
    CHECK_FDS(fds);
    CHECK_EQ(count_children(NULL), 0);
}

static void test_emfile(void)
{
    /* Valgrind keeps descriptors of its own under the limit, and asserts when a clone
     * meets the lowered limit (valgrind 3.19: syswrap-main.c:2277). */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "valgrind")) {
        printf("   (skipped under Valgrind)\n");
        return;
    }
    from_thread_and_coroutine(body_emfile);
}

/* ---- allocation failures ----------------------------------------------------------------- */

static int start_wait_destroy(void)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = o.stdout_mode = o.stderr_mode = WEFT_STDIO_PIPE;
    weft_subprocess *p;
    int rc = weft_subprocess_start(&p, (const char *const[]){ "true", NULL }, &o);
    if (rc) return rc;
    rc = weft_subprocess_wait(p, 10 * WEFT_SEC, NULL);
    weft_subprocess_destroy(p);
    return rc;
}

static int run_capture(void)
{
    weft_subprocess_result r;
    int rc = weft_subprocess_run(&r, CHILD("both"), NULL, "in", 2, 10 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE);
    if (rc == 0) CHECK(strcmp(r.out, "out\nout2\n") == 0 && strcmp(r.err, "err\n") == 0);
    weft_subprocess_result_free(&r);
    return rc;
}

static void body_allocation_failures(void)
{
    int fds = count_fds();
    CHECK(fail_each_allocation(start_wait_destroy) > 0);
    CHECK(fail_each_allocation(run_capture) > 0);
    check_no_children();
    CHECK_FDS(fds);
}

static void test_allocation_failures(void)
{
    from_thread_and_coroutine(body_allocation_failures);
}

/* ---- coroutines: waits suspend only the caller; cancellation leaves the child alone ----- */

typedef struct {
    weft_subprocess *p;
    int rc, code;
    ticker_state *ticker;
} waiting;

static int wait_for_child(void *arg, void **result)
{
    (void)result;
    waiting *w = arg;
    if (w->ticker) ticker_wait_begins(w->ticker);
    w->rc = weft_subprocess_wait(w->p, 30 * WEFT_SEC, &w->code);
    return w->rc == -ECANCELED ? -ECANCELED : 0;
}

static int loop_keeps_running(void *arg, void **result)
{
    (void)arg; (void)result;
    ticker_state t = { 0 };
    ticker_start(&t);
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "200"), NULL));
    waiting w = { p, 1, -1, &t };
    CHECK_OK(wait_for_child(&w, NULL));
    CHECK_OK(w.rc);
    CHECK_EQ(w.code, 0);
    CHECK(ticker_ticks_in_wait(&t) >= 20);     /* the loop ran the ticker meanwhile */
    ticker_stop(&t);
    weft_subprocess_destroy(p);
    return 0;
}

static void test_wait_suspends_only_the_coroutine(void)
{
    CHECK_OK(weft_run(loop_keeps_running, NULL, NULL));
    check_no_children();
}

/* Cancels itself, then waits. */
static int wait_cancelled(void *arg, void **result)
{
    CHECK_OK(weft_future_cancel(weft_current_task()));
    CHECK(weft_cancelled());
    wait_for_child(arg, result);
    return 0;
}

static int cancel_a_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, CHILD("sleep", "10000"), NULL));
    waiting w = { p, 1, -1, NULL };
    weft_future *f;
    CHECK_OK(weft_spawn(&f, wait_for_child, &w));
    CHECK_OK(weft_sleep(20 * WEFT_MS));                    /* it is parked on the pidfd */
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, 10 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    CHECK_RC(w.rc, -ECANCELED);
    CHECK_EQ(w.code, -1);
    /* The child is untouched and still waitable. */
    CHECK_OK(weft_subprocess_send_signal(p, 0));
    CHECK_RC(weft_subprocess_wait(p, 0, NULL), -ETIMEDOUT);
    CHECK_OK(weft_subprocess_kill(p));
    int code;
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, &code));
    CHECK_EQ(code, -SIGKILL);
    /* A cancelled coroutine still gets the code of a child that has ended (no wait). */
    weft_subprocess *q;
    CHECK_OK(weft_subprocess_start(&q, CHILD("exit", "4"), NULL));
    siginfo_t si;                              /* until it has ended, without reaping it */
    CHECK(waitid(P_PIDFD, (id_t)weft_subprocess_pidfd(q), &si, WEXITED | WNOWAIT | __WALL) == 0);
    waiting w2 = { q, 1, -1, NULL };
    CHECK_OK(weft_spawn(&f, wait_cancelled, &w2));
    CHECK_OK(weft_future_result(f, 10 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK_OK(w2.rc);
    CHECK_EQ(w2.code, 4);
    weft_subprocess_destroy(q);
    weft_subprocess_destroy(p);
    return 0;
}

static void test_cancelled_wait_leaves_the_child(void)
{
    CHECK_OK(weft_run(cancel_a_waiter, NULL, NULL));
    check_no_children();
}

/* Two coroutines of one loop, a coroutine of another loop and a plain thread wait for one
 * child at once; all get its code. (Two waits of one loop cannot share the pidfd's
 * registration: the second waits on the reaper's event.) */
typedef struct {
    weft_subprocess *p;
    atomic_int done;
} shared_child;

static int wait_and_count(void *arg, void **result)
{
    (void)result;
    shared_child *s = arg;
    int code = -1;
    CHECK_OK(weft_subprocess_wait(s->p, 30 * WEFT_SEC, &code));
    CHECK_EQ(code, 5);
    atomic_fetch_add(&s->done, 1);
    return 0;
}

static int two_waiters_of_one_loop(void *arg, void **result)
{
    (void)result;
    shared_child *s = arg;
    weft_future *f[2];
    for (int i = 0; i < 2; i++) CHECK_OK(weft_spawn(&f[i], wait_and_count, s));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_many_waiters(void)
{
    shared_child s = { NULL, 0 };
    CHECK_OK(weft_subprocess_start(&s.p, CHILD("exitafter", "200", "5"), NULL));
    loop_job lj = { two_waiters_of_one_loop, &s };
    weft_thread *loop = start_loop_thread(&lj);
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, wait_and_count, &s));
    CHECK_OK(weft_run(two_waiters_of_one_loop, &s, NULL));
    join_and_release(loop);
    join_and_release(th);
    CHECK_EQ(atomic_load(&s.done), 5);
    weft_subprocess_destroy(s.p);
    check_no_children();
}

/* ---- the fallback spawners ---------------------------------------------------------------- */

static void test_fallback_methods(void)
{
    for (int m = WEFT__SPAWN_CLONE; m <= WEFT__SPAWN_CLONE_PIDFD_OPEN; m++) {
        atomic_store(&weft__spawn_method, m);
        weft_subprocess *p;
        int rc = weft_subprocess_start(&p, CHILD("exit", "0"), NULL);
        if (rc == -ENOSYS && m == WEFT__SPAWN_CLONE_PIDFD_OPEN) {
            printf("   (no pidfd_open here: Valgrind)\n");
            break;
        }
        CHECK_OK(rc);
        CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, NULL));
        weft_subprocess_destroy(p);
        body_exit_codes();
        body_exec_errors();
        body_bad_cwd();
        body_stdio_modes();
        body_descriptors_closed();
        body_child_signals();
        body_signals();
        check_no_children();
        CHECK_EQ(atomic_load(&weft__spawn_method), m);
    }
    atomic_store(&weft__spawn_method, WEFT__SPAWN_CLONE3);
}

/* ---- setup ------------------------------------------------------------------------------- */

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-subprocess-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/plain", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("not a program\n", f) >= 0 && fclose(f) == 0);
    snprintf(path, sizeof path, "%s/garbage", tmpdir);
    f = fopen(path, "w");
    CHECK(f && fputs("\x7f" "ELF garbage", f) >= 0 && fclose(f) == 0);
    CHECK(chmod(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/in", tmpdir);
    f = fopen(path, "w");
    CHECK(f && fputs("hello\n", f) >= 0 && fclose(f) == 0);
}

static void remove_tmpdir(void)
{
    const char *names[] = { "plain", "garbage", "in", "out" };
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* From a coroutine the start runs on a weft thread, by the hand-off rule: a coroutine
 * already cancelled, or past its scope's deadline, gets -ECANCELED / -ETIMEDOUT and no
 * child; a shield lets cleanup code start one. */
static int start_when_cancelled(void *arg, void **result)
{
    (void)arg; (void)result;
    int fds = count_fds();
    weft_subprocess *p = NULL;
    CHECK_OK(weft_future_cancel(weft_current_task()));
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "3"), NULL), -ECANCELED);
    CHECK(p == NULL);
    weft_scope shield;
    CHECK_OK(weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    int code = -1;
    CHECK_OK(weft_subprocess_start(&p, CHILD("exit", "3"), NULL));
    CHECK_OK(weft_subprocess_wait(p, 30 * WEFT_SEC, &code));
    CHECK_EQ(code, 3);
    weft_subprocess_destroy(p);
    CHECK_OK(weft_scope_leave(&shield));
    CHECK_EQ(count_fds(), fds);
    return -ECANCELED;
}

static int start_past_deadline(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope sc;
    CHECK_OK(weft_scope_enter(&sc, 0, 0));
    weft_subprocess *p = NULL;
    CHECK_RC(weft_subprocess_start(&p, CHILD("exit", "3"), NULL), -ETIMEDOUT);
    CHECK(p == NULL);
    CHECK_RC(weft_scope_leave(&sc), -ETIMEDOUT);
    return 0;
}

static void test_start_from_cancelled_coroutine(void)
{
    CHECK_RC(weft_run(start_when_cancelled, NULL, NULL), -ECANCELED);
    CHECK_OK(weft_run(start_past_deadline, NULL, NULL));
    check_no_children();
}

int main(void)
{
    make_tmpdir();
    warm_up();
    RUN(test_exit_codes);
    RUN(test_exec_errors);
    RUN(test_bad_cwd);
    RUN(test_bad_arguments);
    RUN(test_stdio_modes);
    RUN(test_low_descriptors);
    RUN(test_descriptors_closed);
    RUN(test_environment);
    RUN(test_session_and_group);
    RUN(test_child_signals);
    RUN(test_sigchld_taken);
    RUN(test_wait_timeout_and_twice);
    RUN(test_wait_in_scope);
    RUN(test_signals);
    RUN(test_destroy_running);
    RUN(test_detach);
    RUN(test_emfile);
    RUN(test_allocation_failures);
    RUN(test_wait_suspends_only_the_coroutine);
    RUN(test_cancelled_wait_leaves_the_child);
    RUN(test_start_from_cancelled_coroutine);
    RUN(test_many_waiters);
    RUN(test_fallback_methods);
    remove_tmpdir();
    return check_done();
}
