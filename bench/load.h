/* bench/load.h — what the load drivers bench/echo_load.c and bench/http_load.c share: the
 * server child and its CPU time.  Standalone (no weft); one driver includes it once, so the
 * state below is that program's own.
 *
 *   - start_server: picks a free TCP port P on 127.0.0.1, starts `SERVER_CMD ARGS... P` as a
 *     child (stdout to stderr, so that only the driver's RESULT / SKIP lines reach stdout; it
 *     dies with the driver; pinned to server_cpu if that is set) and waits at most
 *     LISTEN_WAIT_S s until P accepts connections.  A server that exits with status 77 before
 *     it listens declares itself unavailable (e.g. a Python module is not installed): the
 *     driver then prints `SKIP server-unavailable` on stdout and exits 0.
 *   - server_cpu_ns: the server's CPU time, the sum of field 1 (ns on CPU) of
 *     /proc/<pid>/task/<tid>/schedstat over all its threads (Go runs several); without
 *     schedstat, utime+stime of /proc/<pid>/stat (clock ticks).
 *   - stop_server: SIGTERM, SIGKILL 2 s later if it is still there, reap; an error if the
 *     server had already gone.
 *   - die: a message on stderr, what became of the server, exit status 1; prepare's alarm
 *     kills the server (and client_pid) and exits with status 3, so a driver never hangs.
 *   - pin_cpus: the driver on the first CPU it may use, the server on the second.
 *
 * Define LOAD_PROG (the program's name, the prefix of its messages) before including this.
 */
#ifndef WEFT_BENCH_LOAD_H
#define WEFT_BENCH_LOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef LOAD_PROG
#error "define LOAD_PROG (the program's name) before including load.h"
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_WAIT_S 10

static volatile pid_t server_pid = -1;
/* Another child killed with the server when the driver dies or the alarm fires (http_load's
 * wrk), -1 if none. */
static volatile pid_t client_pid = -1;
static int server_reaped;
static int server_status;
static unsigned short port;
static int use_schedstat;
static int client_cpu = -1, server_cpu = -1; /* pinning (-1: none) */

static inline void kill_server_now(void)
{
    if (server_pid > 0 && !server_reaped) {
        kill(server_pid, SIGKILL);
        if (waitpid(server_pid, &server_status, 0) == server_pid) server_reaped = 1;
    }
}

static inline void describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "changed state (0x%x)", st);
}

/* Has the server exited?  Reaps it if so. */
static inline int server_gone(void)
{
    if (server_reaped) return 1;
    pid_t r = waitpid(server_pid, &server_status, WNOHANG);
    if (r == server_pid) { server_reaped = 1; return 1; }
    return 0;
}

static inline void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, LOAD_PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (client_pid > 0) kill(client_pid, SIGKILL);
    if (server_pid > 0) {
        /* Give a crashing server a moment to finish dying, so its status can be told. */
        for (int i = 0; i < 20 && !server_gone(); i++) usleep(10000);
        if (server_reaped) {
            char d[128];
            describe_status(server_status, d, sizeof d);
            fprintf(stderr, LOAD_PROG ": the server %s\n", d);
        } else {
            kill_server_now();
        }
    }
    exit(1);
}

static inline void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = LOAD_PROG ": overall time limit reached, killing the server\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    if (client_pid > 0) kill(client_pid, SIGKILL);
    if (server_pid > 0) kill(server_pid, SIGKILL);
    _exit(3);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the server's CPU time ---------------------------------------------- */

static inline int read_file(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0) return -1;
    buf[r] = '\0';
    return (int)r;
}

/* Nanoseconds the server (all its threads) has spent on a CPU. */
static inline uint64_t server_cpu_ns(void)
{
    char path[96], buf[512];
    if (use_schedstat) {
        snprintf(path, sizeof path, "/proc/%d/task", (int)server_pid);
        DIR *d = opendir(path);
        if (!d) die("cannot read %s: %s", path, strerror(errno));
        uint64_t sum = 0;
        int nt = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", (int)server_pid,
                     e->d_name);
            if (read_file(path, buf, sizeof buf) < 0) continue; /* thread just exited */
            sum += strtoull(buf, NULL, 10);
            nt++;
        }
        closedir(d);
        if (nt == 0) die("the server has no threads left (gone?)");
        return sum;
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)server_pid);
    if (read_file(path, buf, sizeof buf) < 0) die("cannot read %s: %s", path, strerror(errno));
    char *p = strrchr(buf, ')');
    if (!p) die("cannot parse %s", path);
    /* After ") ": field 3 (state) onwards; utime and stime are fields 14 and 15. */
    unsigned long long ut = 0, st = 0;
    char *tok, *save = NULL;
    int field = 3;
    for (tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 14) ut = strtoull(tok, NULL, 10);
        if (field == 15) { st = strtoull(tok, NULL, 10); break; }
    }
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)((ut + st) * (1e9 / (double)(hz > 0 ? hz : 100)));
}

/* ---- setting up --------------------------------------------------------- */

/* With `pin`, and two CPUs or more: this process on the first CPU it may use (client_cpu),
 * the server on the second (server_cpu).  A client that shares a CPU with the server, or
 * moves between CPUs, changes the server's cost per request. */
static inline void pin_cpus(int pin)
{
    cpu_set_t allowed;
    if (pin && sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) >= 2) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (!CPU_ISSET(c, &allowed)) continue;
            if (client_cpu < 0) client_cpu = c;
            else { server_cpu = c; break; }
        }
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(client_cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            fprintf(stderr, LOAD_PROG ": sched_setaffinity: %s (not pinning)\n", strerror(errno));
            client_cpu = server_cpu = -1;
        }
    }
}

/* RLIMIT_NOFILE's soft limit up to the hard limit (the server inherits it). */
static inline void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Picks schedstat or utime+stime for server_cpu_ns, ignores SIGPIPE (a connection the server
 * closed is then an error to report, not our death), and arms the alarm that bounds the
 * whole run to `seconds`. */
static inline void prepare(unsigned seconds)
{
    char probe[96];
    use_schedstat = read_file("/proc/self/schedstat", probe, sizeof probe) > 0;
    if (!use_schedstat)
        fprintf(stderr, LOAD_PROG ": no /proc/<pid>/schedstat; using utime+stime (coarse)\n");

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

/* ---- the server --------------------------------------------------------- */

static inline unsigned short pick_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) die("bind: %s", strerror(errno));
    socklen_t len = sizeof a;
    if (getsockname(s, (struct sockaddr *)&a, &len) != 0) die("getsockname: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

/* fork + exec argv with stdout redirected to out_fd (-1: to stderr), close_fd closed (unless
 * -1), pinned to CPU `cpu` unless it is -1.  The child dies with us and gets the default
 * dispositions of SIGPIPE and SIGALRM back. */
static inline pid_t spawn(char **argv, int out_fd, int close_fd, int cpu)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        if (close_fd >= 0) close(close_fd);
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(126);
        }
        if (dup2(out_fd >= 0 ? out_fd : 2, 1) < 0) _exit(126);
        execvp(argv[0], argv);
        fprintf(stderr, LOAD_PROG ": cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* A blocking connection to 127.0.0.1:port, or -1 with errno. */
static inline int try_connect(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket: %s", strerror(errno));
    struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds a blocking connect */
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) return s;
        if (errno != EINTR) break;
    }
    int e = errno;
    close(s);
    errno = e;
    return -1;
}

/* Wait until the server accepts connections.  Returns 0, or 77 if the server declared
 * itself unavailable (exit status 77 before listening). */
static inline int wait_listening(void)
{
    double deadline = now_s() + LISTEN_WAIT_S;
    for (;;) {
        if (server_gone()) {
            if (WIFEXITED(server_status) && WEXITSTATUS(server_status) == 77) return 77;
            die("the server stopped before listening on 127.0.0.1:%u", (unsigned)port);
        }
        int s = try_connect();
        if (s >= 0) { close(s); return 0; }
        if (errno != ECONNREFUSED && errno != EINTR)
            die("connect to 127.0.0.1:%u: %s", (unsigned)port, strerror(errno));
        if (now_s() > deadline)
            die("the server does not listen on 127.0.0.1:%u after %d s", (unsigned)port,
                LISTEN_WAIT_S);
        usleep(20000);
    }
}

/* Starts `cmd[0..ncmd) P` on a free port P and returns once it listens; if it is unavailable
 * (status 77), prints the SKIP line and exits 0. */
static inline void start_server(char **cmd, int ncmd)
{
    port = pick_port();
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    char **argv = calloc((size_t)ncmd + 2, sizeof *argv);
    if (!argv) die("out of memory");
    for (int i = 0; i < ncmd; i++) argv[i] = cmd[i];
    argv[ncmd] = portstr;
    argv[ncmd + 1] = NULL;
    server_pid = spawn(argv, -1, -1, server_cpu);
    free(argv);
    if (wait_listening() == 77) {
        fprintf(stderr, LOAD_PROG ": the server exited with status 77 (unavailable here)\n");
        printf("SKIP server-unavailable\n");
        exit(0);
    }
}

static inline void stop_server(void)
{
    if (server_gone()) {
        char d[128];
        describe_status(server_status, d, sizeof d);
        die("the server %s before it was stopped", d);
    }
    kill(server_pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (server_gone()) return;
        usleep(10000);
    }
    fprintf(stderr, LOAD_PROG ": the server ignored SIGTERM for 2 s; SIGKILL\n");
    kill_server_now();
}

#endif
