/* bench/curl_many_load.c — the curl-many workload's driver (issue 16): runs the slow HTTP
 * server and one client program beside it, each in a process of its own, so that the
 * client's getrusage(RUSAGE_SELF) is the client's CPU time alone.
 *
 * Usage: curl_many_load [--delay-ms D] [--pin] -- CLIENT [ARGS...]
 *
 * The server is examples/slow_http.h (httpd.c on a weft loop) on a thread of this process,
 * on 127.0.0.1 and a free port, answering each GET after D ms (default 0) with a body that
 * names the path. The client is run as CLIENT ARGS... PORT (the port appended, as
 * bench/echo_load does for servers); its stdout is ours (its RESULT or SKIP lines reach
 * bench/run.py unchanged), and its exit status becomes ours.
 *
 * --pin (with two CPUs or more): the client on the first CPU this process may use, the
 * server on the second, as bench/echo_load pins. Not the default, because on this VM a
 * wake-up across CPUs costs 50-80 us (bench/RESULTS.md, wake): a client pinned apart from
 * its server idles while each answer crosses — 100 pthreads on one CPU made 1,500-2,000
 * requests/s at 24% of that CPU, against ~14,000 unpinned — so pinning measures the VM's
 * wake-ups more than the clients. Unpinned, each client uses the machine as a program
 * would; its CPU time is still its own (getrusage in the client), which is what the
 * targets are on.
 *
 * Why D = 0 by default: the figures are the client's (requests/s and CPU per request), so
 * the run should be bound by the client, not by a sleep in the server; with a delay, each
 * pass lasts at least (requests / inflight) x D whatever the client does and requests/s
 * says only that. 100 requests are still in flight at once: every worker's request waits
 * at the server or in its socket until the client gets to it.
 *
 * On stderr: the server's counters (requests, connections, most open at once).
 */
#include "../examples/slow_http.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int64_t delay_ms = 0;
    bool want_pin = false;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) delay_ms = atoll(argv[++i]);
        else if (strcmp(argv[i], "--pin") == 0) want_pin = true;
        else break;
    }
    if (i >= argc - 1 || strcmp(argv[i], "--") != 0 || delay_ms < 0) {
        fprintf(stderr, "usage: %s [--delay-ms D] [--pin] -- CLIENT [ARGS...]\n", argv[0]);
        return 2;
    }
    char **cmd = argv + i + 1;
    int ncmd = argc - i - 1;

    /* Two CPUs: the server (this process, whose threads inherit it) on the second. */
    cpu_set_t allowed, client_set, server_set;
    bool pin = false;
    CPU_ZERO(&client_set);
    CPU_ZERO(&server_set);
    if (want_pin && sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
        CPU_COUNT(&allowed) >= 2) {
        int first = -1;
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (!CPU_ISSET(c, &allowed)) continue;
            if (first < 0) {
                first = c;
                CPU_SET(c, &client_set);
            } else {
                CPU_SET(c, &server_set);
                break;
            }
        }
        pin = sched_setaffinity(0, sizeof server_set, &server_set) == 0;
    }

    slow_http srv = { .delay = delay_ms * WEFT_MS };
    int rc = slow_http_start(&srv);
    if (rc) {
        fprintf(stderr, "curl_many_load: the server did not start: %s\n", weft_strerror(rc));
        return 1;
    }

    char port[16];
    snprintf(port, sizeof port, "%u", srv.port);
    char **args = calloc((size_t)ncmd + 2, sizeof *args);
    if (!args) return 1;
    memcpy(args, cmd, (size_t)ncmd * sizeof *args);
    args[ncmd] = port;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (pin) sched_setaffinity(0, sizeof client_set, &client_set);
        execvp(args[0], args);
        fprintf(stderr, "curl_many_load: cannot run %s\n", args[0]);
        _exit(127);
    }
    int status = 0;
    if (pid < 0) perror("curl_many_load: fork");
    else while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    free(args);

    int src = slow_http_stop(&srv);
    fprintf(stderr, "curl_many_load: server (delay %lld ms%s): %llu requests on %llu "
            "connections, at most %d open at once\n", (long long)delay_ms,
            pin ? ", pinned apart from the client" : "",
            (unsigned long long)srv.stats.requests, (unsigned long long)srv.stats.connections,
            srv.stats.max_connections);
    if (pid < 0 || src) return 1;
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "curl_many_load: the client died of signal %d\n", WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status);
}
