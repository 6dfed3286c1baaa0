/* proc/subprocess.c — the subprocess handle: starting (pipes, streams), waiting and reaping,
 * signals, destroy and detach.
 *
 * Waiting: the pidfd becomes readable when the child ends; a waiter waits for that with
 * weft_io_wait (a coroutine parks while its loop's epoll watches the pidfd; a thread
 * polls), then reaps with waitid(P_PIDFD, WNOHANG | __WALL). Reaping happens once, under
 * p->mu, by whoever gets there first (a waiter, a signal sender that finds the child ended,
 * destroy); the others read the stored code. Two coroutines of one loop cannot both wait for
 * one fd (weft_io_wait says -EBUSY to the second): the second waits on an event that the
 * reaper sets, looking again every 10 ms in case the first gives up without reaping.
 *
 * Detached children: p itself stays on a process-wide list (under `detached_mu`) with its
 * pidfd, and is freed once a later start, destroy or detach finds the child ended and reaps
 * it. Lock order: detached_mu, then a p->mu.
 */
#include "proc/internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <weft/sync.h>

/* The slice after which a waiter that found the pidfd taken re-checks (see above). */
#define SHARED_WAIT_SLICE (10 * WEFT_MS)

/* ---- reaping ----------------------------------------------------------------------------- */

static void mark_reaped(weft_subprocess *p)
{
    atomic_store_explicit(&p->reaped, true, memory_order_seq_cst);
    /* seq_cst with the event's installation in wait_shared: either this sees the event, or
     * the installer sees reaped. */
    weft__store_load_fence();
    weft_event *ev = atomic_load_explicit(&p->reaped_ev, memory_order_seq_cst);
    if (ev) weft_event_set(ev);
}

int weft__subprocess_try_reap(weft_subprocess *p)
{
    if (atomic_load_explicit(&p->reaped, memory_order_acquire)) return 0;
    weft__mutex_lock(&p->mu);
    int rc = 0;
    bool now = false;
    if (!atomic_load_explicit(&p->reaped, memory_order_relaxed)) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int r;
        do r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG | __WALL);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            rc = -errno;
            if (rc == -ECHILD) {      /* somebody else took the status: it is lost */
                p->lost = true;
                now = true;
                rc = 0;
            }
        } else if (si.si_pid == 0) {
            rc = -EAGAIN;
        } else {
            p->code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
            now = true;
        }
        if (now) mark_reaped(p);
    }
    weft__mutex_unlock(&p->mu);
    return rc;
}

int weft__proc_wait_fd(int fd, unsigned events, int64_t deadline)
{
    /* A pool job's thread: look at its cancel flag every millisecond (docs/CANCELLATION.md
     * rule 10), as the thread waits of the other layers do. */
    bool job = !weft_in_coroutine() && weft__tls_get()->job_cancel;
    for (;;) {
        if (job && weft__cancel_pending()) return -ECANCELED;
        int64_t until = deadline;
        if (job && (until == WEFT__NO_DEADLINE || until - weft_now() > WEFT_MS))
            until = weft_now() + WEFT_MS;
        int rc = weft_io_wait(fd, events, weft__remaining(until));
        if (rc == -ETIMEDOUT && until != deadline) continue;
        return rc;
    }
}

/* The second coroutine of a loop waiting for p: waits for the reaper's event, at most a
 * slice. 0: look again; -ETIMEDOUT at the deadline; -ECANCELED. */
static int wait_shared(weft_subprocess *p, int64_t deadline)
{
    weft_event *ev = atomic_load_explicit(&p->reaped_ev, memory_order_seq_cst);
    if (!ev) {
        weft_event *mine;
        int rc = weft_event_create(&mine);
        if (rc) return rc;
        if (atomic_compare_exchange_strong_explicit(&p->reaped_ev, &ev, mine,
                                                    memory_order_seq_cst,
                                                    memory_order_seq_cst)) {
            ev = mine;
        } else {
            weft_event_destroy(mine);
        }
    }
    if (atomic_load_explicit(&p->reaped, memory_order_seq_cst)) return 0;
    int64_t slice = weft_now() + SHARED_WAIT_SLICE;
    int64_t until = slice < deadline ? slice : deadline;
    int rc = weft_event_wait(ev, weft__remaining(until));
    if (rc == -ETIMEDOUT && until != deadline) return 0;
    return rc;
}

int weft__subprocess_wait_until(weft_subprocess *p, int64_t deadline)
{
    for (;;) {
        int rc = weft__subprocess_try_reap(p);
        if (rc != -EAGAIN) return rc;
        rc = weft__proc_wait_fd(p->pidfd, WEFT_IO_READ, deadline);
        if (rc == -EBUSY) rc = wait_shared(p, deadline);
        if (rc < 0) {
            /* Cut short: but a child that has ended is reported as ended (the call can
             * complete without waiting). */
            return weft__subprocess_try_reap(p) == 0 ? 0 : rc;
        }
    }
}

int weft_subprocess_wait(weft_subprocess *p, int64_t timeout, int *returncode)
{
    int64_t deadline;
    if (!p || weft__deadline(timeout, &deadline)) return -EINVAL;
    int rc = weft__subprocess_wait_until(p, deadline);
    if (rc) return rc;
    if (p->lost) return -ECHILD;
    if (returncode) *returncode = p->code;
    return 0;
}

/* Sends sig through the pidfd: 0 or -errno. Where pidfd_send_signal is missing (Linux
 * before 5.1; Valgrind), kill(2) under p->mu while p is not reaped: the PID of a child
 * nobody has reaped is still its own (only a foreign waitpid(-1) could break that). */
static int signal_child(weft_subprocess *p, int sig)
{
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0) return 0;
    if (errno != ENOSYS) return -errno;
    weft__mutex_lock(&p->mu);
    int rc = atomic_load_explicit(&p->reaped, memory_order_relaxed) ? -ESRCH
           : kill(p->pid, sig) == 0 ? 0 : -errno;
    weft__mutex_unlock(&p->mu);
    return rc;
}

void weft__subprocess_kill_and_reap(weft_subprocess *p)
{
    if (weft__subprocess_try_reap(p) != -EAGAIN) return;
    signal_child(p, SIGKILL);
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    int rc = weft__subprocess_wait_until(p, WEFT__NO_DEADLINE);
    weft_scope_leave(&shield);
    weft__assert(rc == 0, "a killed child could not be reaped");
    (void)rc;
}

/* ---- signals ----------------------------------------------------------------------------- */

int weft_subprocess_send_signal(weft_subprocess *p, int sig)
{
    if (!p || sig < 0 || sig > 64) return -EINVAL;
    int rc = weft__subprocess_try_reap(p);
    if (rc == 0) return -ESRCH;       /* ended: nothing to signal */
    if (rc != -EAGAIN) return rc;
    /* Through the pidfd: if the child ends (even is reaped) meanwhile, this reaches nobody
     * else. A child that has ended but is not reaped yet takes the signal harmlessly. */
    return signal_child(p, sig);
}

int weft_subprocess_terminate(weft_subprocess *p)
{
    return weft_subprocess_send_signal(p, SIGTERM);
}

int weft_subprocess_kill(weft_subprocess *p)
{
    return weft_subprocess_send_signal(p, SIGKILL);
}

/* ---- accessors --------------------------------------------------------------------------- */

pid_t weft_subprocess_pid(const weft_subprocess *p)
{
    return p ? p->pid : -EINVAL;
}

int weft_subprocess_pidfd(const weft_subprocess *p)
{
    return p ? p->pidfd : -EINVAL;
}

weft_stream *weft_subprocess_stdin(weft_subprocess *p)
{
    return p ? p->io[0] : NULL;
}

weft_stream *weft_subprocess_stdout(weft_subprocess *p)
{
    return p ? p->io[1] : NULL;
}

weft_stream *weft_subprocess_stderr(weft_subprocess *p)
{
    return p ? p->io[2] : NULL;
}

const char *weft_subprocess_captured(const weft_subprocess *p, int fd, size_t *len)
{
    if (len) *len = 0;
    if (!p || (fd != 1 && fd != 2) || !p->io[fd]) return NULL;
    const weft__capture *c = &p->cap[fd - 1];
    if (len) *len = c->len;
    return c->buf ? c->buf : "";
}

/* ---- detached children ------------------------------------------------------------------- */

static weft__mutex detached_mu = WEFT__MUTEX_INIT;
static weft_subprocess *detached;     /* under detached_mu, linked through next_detached */
static _Atomic bool any_detached;

static void free_handle(weft_subprocess *p)
{
    close(p->pidfd);
    weft_event *ev = atomic_load_explicit(&p->reaped_ev, memory_order_relaxed);
    if (ev) weft_event_destroy(ev);
    free(p->cap[0].buf);
    free(p->cap[1].buf);
    free(p->input_copy);
    weft__free(p);
}

/* Reaps and frees the detached children that have ended. Any context; never blocks. */
static void reap_detached(void)
{
    if (!atomic_load_explicit(&any_detached, memory_order_relaxed)) return;
    weft__mutex_lock(&detached_mu);
    weft_subprocess **link = &detached;
    while (*link) {
        weft_subprocess *p = *link;
        if (weft__subprocess_try_reap(p) == -EAGAIN) {
            link = &p->next_detached;
            continue;
        }
        *link = p->next_detached;
        free_handle(p);
    }
    atomic_store_explicit(&any_detached, detached != NULL, memory_order_relaxed);
    weft__mutex_unlock(&detached_mu);
}

static void close_streams(weft_subprocess *p)
{
    for (int i = 0; i < 3; i++) {
        weft_stream_close(p->io[i], 0);   /* what stdin still buffers is dropped */
        p->io[i] = NULL;
    }
}

void weft_subprocess_detach(weft_subprocess *p)
{
    if (!p) return;
    close_streams(p);
    if (weft__subprocess_try_reap(p) == -EAGAIN) {
        weft__mutex_lock(&detached_mu);
        p->next_detached = detached;
        detached = p;
        atomic_store_explicit(&any_detached, true, memory_order_relaxed);
        weft__mutex_unlock(&detached_mu);
    } else {
        free_handle(p);
    }
    reap_detached();
}

void weft_subprocess_destroy(weft_subprocess *p)
{
    if (!p) return;
    close_streams(p);
    weft__subprocess_kill_and_reap(p);
    free_handle(p);
    reap_detached();
}

weft_subprocess *weft__subprocess_adopt(pid_t pid, int pidfd)
{
    weft_subprocess *p = weft__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->pid = pid;
    p->pidfd = pidfd;
    p->mu = (weft__mutex)WEFT__MUTEX_INIT;
    return p;
}

/* ---- starting ---------------------------------------------------------------------------- */

static bool valid_fd(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* The modes and descriptors of opts make sense. 0, -EINVAL or -EBADF. */
static int check_opts(const weft_subprocess_opts *o)
{
    const weft_stdio modes[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
    const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
    for (int i = 0; i < 3; i++) {
        if ((unsigned)modes[i] > (unsigned)WEFT_STDIO_STDOUT) return -EINVAL;
        if (modes[i] == WEFT_STDIO_STDOUT && i != 2) return -EINVAL;
        if (modes[i] == WEFT_STDIO_FD && !valid_fd(fds[i])) return fds[i] < 0 ? -EINVAL : -EBADF;
    }
    if (o->process_group < -1 || o->pipe_size < 0) return -EINVAL;
    if (o->n_pass_fds && !o->pass_fds) return -EINVAL;
    for (size_t i = 0; i < o->n_pass_fds; i++)
        if (o->pass_fds[i] < 3) return -EINVAL;
    for (size_t i = 0; i < o->n_pass_fds; i++)   /* as Python: not open is an error */
        if (!valid_fd(o->pass_fds[i])) return -EBADF;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* pass_fds sorted, without duplicates, in *keep (allocated; NULL when there are none). */
static int sorted_keep(const weft_subprocess_opts *o, int **keep, size_t *n)
{
    *keep = NULL;
    *n = 0;
    if (!o->n_pass_fds) return 0;
    int *k = weft__malloc(o->n_pass_fds * sizeof *k);
    if (!k) return -ENOMEM;
    memcpy(k, o->pass_fds, o->n_pass_fds * sizeof *k);
    qsort(k, o->n_pass_fds, sizeof *k, cmp_int);
    size_t m = 0;
    for (size_t i = 0; i < o->n_pass_fds; i++)
        if (m == 0 || k[m - 1] != k[i]) k[m++] = k[i];
    *keep = k;
    *n = m;
    return 0;
}

/* The pipes: for each PIPE stream the parent's end becomes a stream (p->io[i]) and the
 * child's end goes into child[i]. Everything is close-on-exec, and registered as the
 * parent's (core/parent_fd.c): a child another thread starts meanwhile gets none of it,
 * whether it execs or not (a forked copy of stdout's write end would keep the parent from
 * reading EOF for as long as that other child lives). */
static int make_pipes(weft_subprocess *p, const weft_subprocess_opts *o, int child[3])
{
    const weft_stdio modes[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
    for (int i = 0; i < 3; i++) {
        if (modes[i] != WEFT_STDIO_PIPE) continue;
        int fds[2];
        int rc = weft__parent_pipe(fds, O_CLOEXEC, 0);
        if (rc) return rc;
        int mine = i == 0 ? fds[1] : fds[0];
        child[i] = i == 0 ? fds[0] : fds[1];
        if (o->pipe_size && fcntl(mine, F_SETPIPE_SZ, o->pipe_size) < 0) {
            int e = -errno;
            weft__parent_fd_close(mine);
            return e;
        }
        rc = weft_stream_open_fd(&p->io[i], mine, o->stream_opts);
        if (rc) {
            weft__parent_fd_close(mine);
            return rc;
        }
    }
    return 0;
}

static void close_child_ends(int child[3])
{
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0) weft__parent_fd_close(child[i]);
}

int weft_subprocess_start(weft_subprocess **out, const char *const argv[],
                          const weft_subprocess_opts *opts)
{
    static const weft_subprocess_opts defaults = WEFT_SUBPROCESS_OPTS_INIT;
    if (!out || !argv || !argv[0]) return -EINVAL;
    const weft_subprocess_opts *o = opts ? opts : &defaults;
    int rc = check_opts(o);
    if (rc) return rc;
    reap_detached();
    weft_subprocess *p = weft__calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->pidfd = -1;
    p->max_output = o->max_output;
    int child[3] = { -1, -1, -1 };
    int *keep = NULL;
    size_t nkeep = 0;
    rc = sorted_keep(o, &keep, &nkeep);
    if (!rc) rc = make_pipes(p, o, child);
    if (!rc) {
        weft__spawn_req req;
        memset(&req, 0, sizeof req);
        req.argv = argv;
        req.envp = o->envp ? o->envp : (const char *const *)environ;
        req.cwd = o->cwd;
        const weft_stdio modes[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
        const int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
        for (int i = 0; i < 3; i++) {
            switch (modes[i]) {
            case WEFT_STDIO_INHERIT: req.src[i] = WEFT__SRC_KEEP; break;
            case WEFT_STDIO_PIPE: req.src[i] = child[i]; break;
            case WEFT_STDIO_DEVNULL: req.src[i] = WEFT__SRC_DEVNULL; break;
            case WEFT_STDIO_FD: req.src[i] = fds[i]; break;
            case WEFT_STDIO_STDOUT: req.src[i] = req.src[1] == WEFT__SRC_KEEP ? 1 : req.src[1];
                break;
            }
        }
        req.new_session = o->new_session;
        req.process_group = o->process_group;
        req.keep = keep;
        req.nkeep = nkeep;
        rc = weft__spawn(&req, &p->pid, &p->pidfd);
    }
    close_child_ends(child);
    weft__free(keep);
    if (rc) {
        close_streams(p);
        weft__free(p);
        return rc;
    }
    *out = p;
    return 0;
}
