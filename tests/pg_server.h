/* tests/pg_server.h — a PostgreSQL cluster of the test's own: initdb into a temporary
 * directory under /tmp, a postmaster listening only on a Unix socket in that directory
 * (never a TCP port, never the machine's own cluster), stopped and removed by the test.
 * Header-only, for the tests and examples that prove blocking libraries (libpq) cooperative
 * under libweft_hook; modelled on tests/redis_server.h.
 *
 *     pg_server pg;
 *     pg_start_or_skip(&pg);          // SKIP (exit 77) without PostgreSQL; exit 1 on failure
 *     PGconn *c = PQconnectdb(pg.conninfo);
 *     ...
 *     pg_stop(&pg);                   // also run at exit and on abort, if not called
 *
 * The server runs from /usr/lib/postgresql/<version>/bin (the newest version installed;
 * Debian's postgresql package). PostgreSQL refuses to run as root: when we are root (CI
 * is), initdb and postgres run as the `postgres` system user (fork, then setgid/setuid in
 * the child) and the directory is chowned to it; the client (root) reaches the socket in
 * that 0700 directory all the same. As any other user they run as that user. Either way
 * the cluster's superuser is named postgres and local connections are trusted, so
 * pg.conninfo ("host=<dir> port=5432 dbname=postgres user=postgres") works in both cases.
 * Settings: listen_addresses='' (no TCP), unix_socket_directories=<dir>,
 * max_connections=250, fsync=off, shared_buffers=16MB. Its log is <dir>/postgres.log,
 * printed on a failure to start.
 *
 * Bounded in time: initdb 60 s, the server ready (answers PQping) within 30 s, stopping
 * (SIGQUIT: immediate shutdown, the postmaster reaps its backends before it exits) 10 s,
 * then SIGKILL. Nothing outlives the test: pg_stop is registered with atexit, a handler for
 * SIGABRT (a failing CHECK), SIGTERM (meson's timeout), SIGINT and SIGHUP (where they are
 * not handled already) stops the server and removes the directory before the signal does
 * its work, and the postmaster gets SIGQUIT if the thread that started it dies
 * (PR_SET_PDEATHSIG: call pg_start from the main thread, or one that outlives the server).
 * Only a SIGKILL of the test leaves something behind: the directory (rm -rf /tmp/weft-pg-*
 * once no test runs); the server itself still goes.
 * One server at a time per process. pg_start and pg_stop are called from a thread (main,
 * before weft_run, is the usual place); from a coroutine under libweft_hook their waits
 * (nanosleep, PQping's socket calls) park only the coroutine, though fork and waitpid are
 * the thread's.
 */
#ifndef WEFT_TESTS_PG_SERVER_H
#define WEFT_TESTS_PG_SERVER_H

#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_SKIP 77                      /* pg_start's "not installed here": meson's SKIP */
#define PG_DIR_PREFIX "/tmp/weft-pg-"

typedef struct pg_server {
    char bin[96];          /* /usr/lib/postgresql/<version>/bin */
    char dir[64];          /* /tmp/weft-pg-XXXXXX: the socket, data/ and postgres.log */
    char conninfo[160];    /* for PQconnectdb: "host=<dir> port=5432 dbname=postgres user=postgres" */
    pid_t pid;             /* the postmaster; 0 when not running */
    bool as_postgres;      /* we are root: the server runs as the postgres user */
    uid_t uid;
    gid_t gid;
} pg_server;

/* What the exit and signal handlers need, in static storage: the caller's pg_server may
 * live on main's stack, which is gone when atexit handlers run. */
static volatile pid_t pg_live_pid_;
static volatile pid_t pg_live_initdb_;  /* initdb while it runs: killed before the rm */
static char pg_live_dir_[64];
static volatile sig_atomic_t pg_handlers_set_;

/* Sleeps ns nanoseconds. The raw system call where a signal handler needs it (a hooked
 * nanosleep would try to park a coroutine from inside the handler). */
static inline void pg_nap_(long ns, bool raw)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    if (raw)
        syscall(SYS_nanosleep, &ts, NULL);
    else
        nanosleep(&ts, NULL);
}

static inline int64_t pg_now_ms_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reaps pid, waiting up to ms milliseconds (polls waitpid WNOHANG every 10 ms). Returns its
 * wait status, or -1 if it is still running (or is not our child). Async-signal-safe with
 * raw = true. Blocks on: nanosleep. */
static inline int pg_reap_(pid_t pid, int64_t ms, bool raw)
{
    for (int64_t waited = 0;; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (r < 0 && errno != EINTR) return -1;
        if (waited >= ms) return -1;
        pg_nap_(10 * 1000000L, raw);
    }
}

/* rm -rf dir, only for our own directories. posix_spawn, not fork: no atfork handlers run
 * (a signal handler may call this). Blocks on: waitpid for rm, bounded at 30 s. */
static inline void pg_remove_dir_(const char *dir, bool raw)
{
    if (strncmp(dir, PG_DIR_PREFIX, strlen(PG_DIR_PREFIX)) != 0) return;
    char *const argv[] = { (char *)"rm", (char *)"-rf", (char *)"--", (char *)dir, NULL };
    char *const envp[] = { NULL };
    pid_t pid;
    if (posix_spawn(&pid, "/bin/rm", NULL, NULL, argv, envp) != 0) return;
    if (pg_reap_(pid, 30000, raw) == -1) {
        kill(pid, SIGKILL);
        pg_reap_(pid, 5000, raw);
    }
}

/* Kills a running initdb, stops the server in the static slots (SIGQUIT, then SIGKILL
 * after 10 s) and removes its directory. Async-signal-safe with raw = true. Blocks on:
 * waitpid for initdb and the postmaster. */
static inline void pg_stop_live_(bool raw)
{
    pid_t initdb = pg_live_initdb_;
    if (initdb > 0) {
        kill(initdb, SIGKILL);
        pg_reap_(initdb, 5000, raw);
        pg_live_initdb_ = 0;
    }
    pid_t pid = pg_live_pid_;
    if (pid > 0) {
        kill(pid, SIGQUIT);                 /* immediate shutdown: backends quit at once */
        if (pg_reap_(pid, 10000, raw) == -1) {
            kill(pid, SIGKILL);             /* its backends see the postmaster die and exit */
            pg_reap_(pid, 5000, raw);
        }
        pg_live_pid_ = 0;
    }
    if (pg_live_dir_[0]) {
        pg_remove_dir_(pg_live_dir_, raw);
        pg_live_dir_[0] = '\0';
    }
}

static inline void pg_on_exit_(void)
{
    pg_stop_live_(false);
}

static inline void pg_on_signal_(int sig)
{
    pg_stop_live_(true);
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void pg_install_handlers_(void)
{
    if (pg_handlers_set_) return;
    pg_handlers_set_ = 1;
    atexit(pg_on_exit_);
    const int sigs[] = { SIGABRT, SIGTERM, SIGINT, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = pg_on_signal_;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[i], &sa, NULL);
        }
    }
}

/* The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, into bin.
 * False if there is none. Never blocks. */
static inline bool pg_find_bin_(char *bin, size_t size)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) != 0) return false;
    long best = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i];
        long v = strtol(p + strlen("/usr/lib/postgresql/"), NULL, 10);   /* 9.6 -> 9, 15 -> 15 */
        char dir[128], initdb[160];
        if (strlen(p) >= sizeof dir) continue;
        memcpy(dir, p, strlen(p) + 1);
        char *slash = strrchr(dir, '/');
        if (!slash) continue;
        *slash = '\0';                                    /* .../bin */
        snprintf(initdb, sizeof initdb, "%s/initdb", dir);
        if (v > best && strlen(dir) < size && access(p, X_OK) == 0 &&
            access(initdb, X_OK) == 0) {
            best = v;
            memcpy(bin, dir, strlen(dir) + 1);
        }
    }
    globfree(&g);
    return best >= 0;
}

/* Prints the end of <dir>/postgres.log to stderr (what initdb or postgres said). */
static inline void pg_print_log_(const pg_server *ps)
{
    char path[128];
    snprintf(path, sizeof path, "%s/postgres.log", ps->dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    static char buf[4096];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "pg_server: --- end of %s ---\n%s\npg_server: ---\n", path, buf);
}

/* Starts argv[0] (a program in ps->bin) as the server's user, stdout and stderr appended to
 * <dir>/postgres.log, stdin /dev/null, in <dir>. Returns its pid, or -errno. Never blocks.
 * The child gets sig when the calling thread dies. */
static inline pid_t pg_spawn_(const pg_server *ps, char *const argv[], int pdeathsig)
{
    char log[128];
    snprintf(log, sizeof log, "%s/postgres.log", ps->dir);
    static char env_home[128];
    snprintf(env_home, sizeof env_home, "HOME=%s", ps->dir);
    char *const envp[] = { (char *)"LC_ALL=C", (char *)"PATH=/usr/bin:/bin", env_home, NULL };
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    if (ps->as_postgres && fchown(fd, ps->uid, ps->gid) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (pid == 0) {
        /* The child: async-signal-safe calls only, then exec. */
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
        if (chdir(ps->dir) != 0) _exit(126);
        if (ps->as_postgres &&
            (setgroups(0, NULL) != 0 || setgid(ps->gid) != 0 || setuid(ps->uid) != 0))
            _exit(126);
        /* After setuid, which clears it; the postmaster turns SIGQUIT into an immediate
         * shutdown. */
        if (prctl(PR_SET_PDEATHSIG, pdeathsig) != 0 || getppid() != parent) _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd);
    return pid;
}

static inline void pg_describe_status_(int st, char *buf, size_t size)
{
    if (st == -1) snprintf(buf, size, "still running");
    else if (WIFEXITED(st)) snprintf(buf, size, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
    else snprintf(buf, size, "status %#x", (unsigned)st);
}

/* Stops the server (if running) and removes its directory. Idempotent. Blocks on: the
 * postmaster's exit (bounded: 10 s, then SIGKILL) and rm -rf. */
static inline void pg_stop(pg_server *ps)
{
    pg_stop_live_(false);
    ps->pid = 0;
}

/* initdb, then postgres, then waits until it accepts connections. Returns 0 (ps->conninfo
 * is ready for PQconnectdb), PG_SKIP after printing "SKIP: ..." when PostgreSQL or the
 * postgres user is missing, or -1 after printing why it failed (nothing left behind then).
 * Blocks on: initdb (up to 60 s) and the server's start (up to 30 s: PQping, nanosleep). */
static inline int pg_start(pg_server *ps)
{
    memset(ps, 0, sizeof *ps);
    if (pg_live_pid_ > 0 || pg_live_dir_[0]) {
        fprintf(stderr, "pg_server: one server at a time\n");
        return -1;
    }
    if (!pg_find_bin_(ps->bin, sizeof ps->bin)) {
        printf("SKIP: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
               "apt-get install postgresql)\n");
        fflush(stdout);
        return PG_SKIP;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            printf("SKIP: running as root and there is no postgres user to run the server "
                   "as (PostgreSQL refuses root)\n");
            fflush(stdout);
            return PG_SKIP;
        }
        ps->as_postgres = true;
        ps->uid = pw->pw_uid;
        ps->gid = pw->pw_gid;
    }
    pg_install_handlers_();
    strcpy(ps->dir, PG_DIR_PREFIX "XXXXXX");
    if (!mkdtemp(ps->dir)) {
        fprintf(stderr, "pg_server: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    strcpy(pg_live_dir_, ps->dir);          /* from here on, pg_stop removes it */
    if (ps->as_postgres && chown(ps->dir, ps->uid, ps->gid) != 0) {
        fprintf(stderr, "pg_server: chown %s: %s\n", ps->dir, strerror(errno));
        pg_stop(ps);
        return -1;
    }
    snprintf(ps->conninfo, sizeof ps->conninfo,
             "host=%s port=5432 dbname=postgres user=postgres", ps->dir);

    char prog[160], data[128], sockdir[128];
    snprintf(data, sizeof data, "%s/data", ps->dir);
    snprintf(sockdir, sizeof sockdir, "unix_socket_directories=%s", ps->dir);

    /* The cluster: superuser postgres, trusted local connections, no fsync. */
    snprintf(prog, sizeof prog, "%s/initdb", ps->bin);
    char *const initdb_argv[] = { prog, (char *)"-D", data, (char *)"-U", (char *)"postgres",
                                  (char *)"-A", (char *)"trust", (char *)"-E", (char *)"UTF8",
                                  (char *)"--locale=C", (char *)"--no-sync", NULL };
    int64_t t0 = pg_now_ms_();
    pid_t pid = pg_spawn_(ps, initdb_argv, SIGKILL);
    if (pid < 0) {
        fprintf(stderr, "pg_server: starting initdb: %s\n", strerror((int)-pid));
        pg_stop(ps);
        return -1;
    }
    pg_live_initdb_ = pid;
    int st = pg_reap_(pid, 60000, false);
    if (st == -1) {
        kill(pid, SIGKILL);
        pg_reap_(pid, 5000, false);
    }
    pg_live_initdb_ = 0;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char why[48];
        pg_describe_status_(st, why, sizeof why);
        fprintf(stderr, "pg_server: initdb failed (%s)\n", why);
        pg_print_log_(ps);
        pg_stop(ps);
        return -1;
    }
    int64_t t1 = pg_now_ms_();

    /* The server: the settings on its command line (they win over postgresql.conf). */
    snprintf(prog, sizeof prog, "%s/postgres", ps->bin);
    char *const pg_argv[] = { prog, (char *)"-D", data, (char *)"-p", (char *)"5432",
                              (char *)"-c", (char *)"listen_addresses=",
                              (char *)"-c", sockdir,
                              (char *)"-c", (char *)"max_connections=250",
                              (char *)"-c", (char *)"fsync=off",
                              (char *)"-c", (char *)"synchronous_commit=off",
                              (char *)"-c", (char *)"full_page_writes=off",
                              (char *)"-c", (char *)"shared_buffers=16MB",
                              (char *)"-c", (char *)"huge_pages=off",
                              NULL };
    pid = pg_spawn_(ps, pg_argv, SIGQUIT);
    if (pid < 0) {
        fprintf(stderr, "pg_server: starting postgres: %s\n", strerror((int)-pid));
        pg_stop(ps);
        return -1;
    }
    ps->pid = pid;
    pg_live_pid_ = pid;

    /* Ready when it answers; bounded. */
    char ping[200];
    snprintf(ping, sizeof ping, "%s connect_timeout=2", ps->conninfo);
    for (;;) {
        if (PQping(ping) == PQPING_OK) break;
        int ended = waitpid(pid, &st, WNOHANG) == pid;
        if (ended || pg_now_ms_() - t1 > 30000) {
            char why[48];
            if (ended) {
                pg_live_pid_ = 0;           /* reaped: never signal that pid again */
                pg_describe_status_(st, why, sizeof why);
            } else {
                strcpy(why, "not ready after 30 s");
            }
            fprintf(stderr, "pg_server: postgres did not start (%s)\n", why);
            pg_print_log_(ps);
            pg_stop(ps);
            return -1;
        }
        pg_nap_(20 * 1000000L, false);
    }
    printf("pg_server: PostgreSQL (%s) in %s as user %s: initdb %.1f s, start %.1f s\n",
           ps->bin, ps->dir, ps->as_postgres ? "postgres" : "(ours)",
           (double)(t1 - t0) / 1000, (double)(pg_now_ms_() - t1) / 1000);
    fflush(stdout);
    return 0;
}

/* pg_start, or the end of the process: exit 77 (SKIP) when PostgreSQL is not there, exit 1
 * when it fails to start. Blocks as pg_start. */
static inline void pg_start_or_skip(pg_server *ps)
{
    int rc = pg_start(ps);
    if (rc == PG_SKIP) exit(PG_SKIP);
    if (rc != 0) exit(1);
}

#endif /* WEFT_TESTS_PG_SERVER_H */
