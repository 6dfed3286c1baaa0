/* proc/communicate.c — Popen.communicate and subprocess.run.
 *
 * The transfers must run concurrently: a child that writes more than a pipe holds (64 KiB)
 * to stderr blocks until somebody reads it, and may stop reading its stdin meanwhile; a
 * parent that writes all the input first, or reads stdout to the end first, deadlocks with
 * it. Two ways, by context:
 *   - a coroutine, or a thread whose loop has live coroutines: a task group on the caller's
 *     loop with a writer and a reader per output pipe, each a plain blocking loop over the
 *     pipe's stream (the loop's epoll multiplexes them); a deadline scope around the group
 *     wait gives the timeout, and a cut wait cancels the three and waits for them;
 *   - a plain thread: one ppoll(2) loop over the three descriptors, with non-blocking
 *     read(2) and write(2) on them (after the bytes the streams already buffer).
 * Either way every byte read is appended to p->cap[] as soon as it arrives and every byte
 * written advances p->input_off, so a timeout or a cancellation loses nothing: the next call
 * goes on from there (Python's rule).
 *
 * State: p's communicate fields belong to the one caller (and to the coroutines it runs and
 * waits for before it returns).
 */
#include "proc/internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* The room a read gets: a pipe's default capacity (a read returns at most what the pipe
 * holds). */
#define READ_ROOM (64 * 1024)

/* Makes room for `want` more bytes and a NUL. The buffer's first allocation goes through
 * weft__malloc; it grows with realloc, on purpose: 64 MB of output doubles through glibc's
 * mremap without copying (the hook has no realloc). */
static int reserve(weft__capture *c, size_t want)
{
    if (c->cap - c->len > want) return 0;
    size_t cap = c->cap ? c->cap : READ_ROOM * 2;
    while (cap - c->len <= want) cap *= 2;
    char *b = c->buf ? realloc(c->buf, cap) : weft__malloc(cap);
    if (!b) return -ENOMEM;
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* The most the next read into capture c may take: READ_ROOM, or under the handle's
 * max_output, one byte more than the limit leaves — that byte is how a child that wrote
 * more than the limit is told from one that wrote exactly the limit. The capture never
 * holds more than max_output bytes (check_limit), so the subtraction cannot wrap. */
static size_t read_want(const weft_subprocess *p, const weft__capture *c)
{
    if (!p->max_output) return READ_ROOM;
    size_t left = p->max_output - c->len;        /* + 1, written so as not to wrap at SIZE_MAX */
    return left >= READ_ROOM ? READ_ROOM : left + 1;
}

/* After a read into c: -EMSGSIZE if it went over max_output (the excess is dropped and c
 * marked: the output is incomplete for good), else 0. */
static int check_limit(const weft_subprocess *p, weft__capture *c)
{
    if (!p->max_output || c->len <= p->max_output) return 0;
    c->len = p->max_output;
    c->over = true;
    return -EMSGSIZE;
}

/* One read from output pipe i (0 stdout, 1 stderr) into its capture. `timeout` 0: what is
 * there (-ETIMEDOUT if nothing). 1 when the pipe has ended, 0 after bytes, or an error
 * (-EMSGSIZE: over max_output). */
static int read_some(weft_subprocess *p, int i, int64_t timeout)
{
    weft__capture *c = &p->cap[i];
    if (c->over) return -EMSGSIZE;
    size_t want = read_want(p, c);
    int rc = reserve(c, want);
    if (rc) return rc;
    size_t room = c->cap - c->len - 1;
    ssize_t n = weft_stream_read(p->io[i + 1], c->buf + c->len, room < want ? room : want,
                                 timeout);
    if (n < 0) return (int)n;
    if (n == 0) {
        c->eof = true;
        return 1;
    }
    c->len += (size_t)n;
    return check_limit(p, c);
}

/* Ends the child's input: stdin is closed (the child reads the end), and nothing more is
 * written. -EPIPE (the child closed it first) is no error. */
static int end_input(weft_subprocess *p)
{
    int rc = weft_stream_write_eof(p->io[0], 0);
    if (rc && rc != -EPIPE) return rc;
    p->input_done = true;
    return 0;
}

/* One write of the rest of the input. `timeout` 0: what the pipe takes now. 1 once all is
 * written (or the child stopped reading: EPIPE) and stdin is closed, 0 after some bytes, or
 * an error (-ETIMEDOUT: the pipe is full). */
static int write_some(weft_subprocess *p, int64_t timeout)
{
    if (p->input_off < p->input_len) {
        ssize_t n = weft_socket_send(weft_stream_socket(p->io[0]), p->input + p->input_off,
                                     p->input_len - p->input_off, 0, timeout);
        if (n >= 0) {
            p->input_off += (size_t)n;
            if (p->input_off < p->input_len) return 0;
        } else if (n != -EPIPE) {
            return (int)n;
        }
    }
    int rc = end_input(p);
    return rc ? rc : 1;
}

/* Sends what the program wrote to the stdin stream and did not drain (Python flushes it
 * first too), within the deadline: at most write_high bytes. A timeout or cancellation
 * meanwhile drops them, as weft_stream_drain does. */
static int drain_stdin(weft_subprocess *p, int64_t deadline)
{
    if (!p->io[0] || p->input_done || !weft_stream_write_buffered(p->io[0])) return 0;
    int rc = weft_stream_drain(p->io[0], weft__remaining(deadline));
    if (rc == -EPIPE) p->input_off = p->input_len;     /* the child stopped reading */
    return rc == -EPIPE ? 0 : rc;
}

/* ---- from a coroutine: a task group ------------------------------------------------------ */

/* Reads capture i until its end. The children get p itself (heap memory), never a record
 * on the caller's stack: a compact caller's frames move while it waits for the group. */
static int reader(weft_subprocess *p, int i)
{
    for (;;) {
        int rc = read_some(p, i, WEFT_FOREVER);
        if (rc) return rc > 0 ? 0 : rc;
    }
}

static int stdout_reader(void *arg, void **result)
{
    (void)result;
    return reader(arg, 0);
}

static int stderr_reader(void *arg, void **result)
{
    (void)result;
    return reader(arg, 1);
}

static int writer(void *arg, void **result)
{
    (void)result;
    weft_subprocess *p = arg;
    int rc = drain_stdin(p, WEFT__NO_DEADLINE);         /* what the program buffered */
    if (rc) return rc;
    for (;;) {
        rc = write_some(p, WEFT_FOREVER);
        if (rc) return rc > 0 ? 0 : rc;
    }
}

/* Nothing left to move: no group, no poll (and no -ECANCELED for a cancelled caller whose
 * transfers are over). */
static bool transfers_done(const weft_subprocess *p)
{
    return (!p->io[0] || p->input_done) && (!p->io[1] || p->cap[0].eof) &&
           (!p->io[2] || p->cap[1].eof);
}

static int transfer_in_group(weft_subprocess *p, int64_t deadline)
{
    if (transfers_done(p)) return 0;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    static const weft_fn readers[2] = { stdout_reader, stderr_reader };
    if (p->io[0] && !p->input_done) rc = weft_group_spawn(g, NULL, NULL, writer, p);
    for (int i = 0; i < 2 && !rc; i++)
        if (p->io[i + 1] && !p->cap[i].eof) rc = weft_group_spawn(g, NULL, NULL, readers[i], p);
    if (rc) weft_group_cancel(g);
    weft_scope scope;
    int in_scope = weft_scope_enter(&scope, weft__remaining(deadline), 0);
    int wrc = weft_group_wait(g);     /* cut short: the children are cancelled, awaited */
    if (in_scope == 0) weft_scope_leave(&scope);
    weft_group_destroy(g);
    /* A group whose owner is cancelled closes: a spawn then says -ESHUTDOWN, but what
     * happened is the cancellation (seen with the start handed to the spawn pool: a cancel
     * landing during it reaches communicate here). */
    if (rc == -ESHUTDOWN) return wrc ? wrc : -ECANCELED;
    return rc ? rc : wrc;
}

/* ---- from a plain thread: one poll loop -------------------------------------------------- */

/* Bytes a stream has buffered are taken without polling (the program may have read part of
 * the output through the stream itself). */
static int take_buffered(weft_subprocess *p)
{
    for (int i = 0; i < 2; i++) {
        weft_stream *st = p->io[i + 1];
        while (st && !p->cap[i].eof && weft_stream_read_buffered(st) > 0) {
            int rc = read_some(p, i, 0);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

/* The descriptors still to serve. Returns how many. */
static int poll_set(weft_subprocess *p, struct pollfd fds[3], int which[3])
{
    int n = 0;
    if (p->io[0] && !p->input_done) {
        fds[n] = (struct pollfd){ weft_socket_fd(weft_stream_socket(p->io[0])), POLLOUT, 0 };
        which[n++] = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (!p->io[i + 1] || p->cap[i].eof) continue;
        fds[n] = (struct pollfd){ weft_socket_fd(weft_stream_socket(p->io[i + 1])), POLLIN, 0 };
        which[n++] = i + 1;
    }
    return n;
}

/* The transfers of the poll loop make the system calls on the (non-blocking) descriptors
 * themselves: the streams' read buffers are empty (take_buffered), nobody else uses the
 * streams meanwhile, and a stream call would add a ppoll of its own at every EAGAIN. A
 * short transfer means the pipe was emptied (or filled) at that moment: the loop stops
 * there and polls, except in the last pass, which reads on to see the pipe's end. Each
 * ready pipe gets at most SERVE_ROUNDS transfers per pass, so one busy pipe cannot starve
 * the others. */
#define SERVE_ROUNDS 8

static int fd_of(weft_stream *st)
{
    return weft_socket_fd(weft_stream_socket(st));
}

static int read_raw(weft_subprocess *p, int i, bool last)
{
    weft__capture *c = &p->cap[i];
    int fd = fd_of(p->io[i + 1]);
    for (int round = 0; round < SERVE_ROUNDS; round++) {
        if (c->over) return -EMSGSIZE;
        size_t want = read_want(p, c);
        int rc = reserve(c, want);
        if (rc) return rc;
        size_t room = c->cap - c->len - 1;
        if (room > want) room = want;
        ssize_t n = read(fd, c->buf + c->len, room);
        if (n > 0) {
            c->len += (size_t)n;
            if ((rc = check_limit(p, c)) != 0) return rc;
            if ((size_t)n < room && !last) return 0;
        } else if (n == 0) {
            c->eof = true;
            return 0;
        } else if (errno != EINTR) {
            return errno == EAGAIN ? 0 : -errno;
        }
    }
    return 0;
}

static int write_raw(weft_subprocess *p)
{
    int fd = fd_of(p->io[0]);
    for (int round = 0; round < SERVE_ROUNDS && p->input_off < p->input_len; round++) {
        size_t want = p->input_len - p->input_off;
        ssize_t n = write(fd, p->input + p->input_off, want);
        if (n > 0) {
            p->input_off += (size_t)n;
            if ((size_t)n < want) return 0;           /* the pipe is full */
        } else if (n < 0 && errno == EPIPE) {
            p->input_off = p->input_len;               /* the child stopped reading */
        } else if (n < 0 && errno != EINTR) {
            return errno == EAGAIN ? 0 : -errno;
        }
    }
    return p->input_off >= p->input_len ? end_input(p) : 0;
}

static int serve(weft_subprocess *p, const struct pollfd *fds, const int *which, int n,
                 bool last)
{
    for (int k = 0; k < n; k++) {
        if (!fds[k].revents) continue;
        int rc = which[k] == 0 ? write_raw(p) : read_raw(p, which[k] - 1, last);
        if (rc) return rc;
    }
    return 0;
}

/* The poll loop. Once the deadline has passed it makes one more pass without waiting, so
 * a call with time left 0 (or made after the deadline) still takes what is there and
 * completes if that was all, yet a child that never stops writing cannot hold it. */
static int transfer_polling(weft_subprocess *p, int64_t deadline)
{
    weft__scope *by;
    int64_t until = weft__scope_clamp(deadline, &by);
    bool job = weft__tls_get()->job_cancel != NULL;
    int rc = drain_stdin(p, until);
    if (rc) return rc;
    for (bool last = false;;) {
        if ((rc = take_buffered(p))) return rc;
        if (p->io[0] && !p->input_done && p->input_off >= p->input_len && (rc = end_input(p)))
            return rc;
        struct pollfd fds[3];
        int which[3];
        int n = poll_set(p, fds, which);
        if (n == 0) return 0;
        if (weft__cancel_pending()) return -ECANCELED;
        if (last) {
            if (by) by->hit = true;
            return -ETIMEDOUT;
        }
        int64_t left = until == WEFT__NO_DEADLINE ? -1 : until - weft_now();
        if (until != WEFT__NO_DEADLINE && left <= 0) {
            last = true;
            left = 0;
        }
        if (job && (left < 0 || left > WEFT_MS)) left = WEFT_MS;   /* look at the job's flag */
        struct timespec ts = weft__timespec(left);
        int r = ppoll(fds, (nfds_t)n, left < 0 ? NULL : &ts, NULL);
        if (r < 0 && errno != EINTR) return -errno;
        if (r > 0 && (rc = serve(p, fds, which, n, last))) return rc;
    }
}

/* ---- communicate ------------------------------------------------------------------------- */

/* Hands capture i over to r's field (a NUL-terminated copy of nothing for an empty one). */
static int hand_over(weft__capture *c, char **out, size_t *len)
{
    int rc = reserve(c, 0);
    if (rc) return rc;
    c->buf[c->len] = '\0';
    *out = c->buf;
    *len = c->len;
    c->buf = NULL;
    c->len = c->cap = 0;
    return 0;
}

static int fill_result(weft_subprocess *p, weft_subprocess_result *r)
{
    weft_subprocess_result res = { p->code, NULL, 0, NULL, 0 };
    for (int i = 0; i < 2; i++) {
        if (!p->io[i + 1]) continue;
        int rc = reserve(&p->cap[i], 0);      /* first, so nothing is handed over on -ENOMEM */
        if (rc) return rc;
    }
    if (p->io[1]) hand_over(&p->cap[0], &res.out, &res.out_len);
    if (p->io[2]) hand_over(&p->cap[1], &res.err, &res.err_len);
    *r = res;
    return 0;
}

int weft_subprocess_communicate(weft_subprocess *p, const void *input, size_t len,
                                int64_t timeout, weft_subprocess_result *r)
{
    int64_t deadline;
    if (!p || !r || (!input && len) || weft__deadline(timeout, &deadline)) return -EINVAL;
    if (input && !p->io[0]) return -EINVAL;
    if (!p->comm_started) {
        if (input && len && weft__on_compact_stack(input)) {
            if (!(p->input_copy = malloc(len))) return -ENOMEM;
            memcpy(p->input_copy, input, len);
        }
        p->comm_started = true;
        p->input = p->input_copy ? p->input_copy : input;
        p->input_arg = input;
        p->input_len = input ? len : 0;
    } else if (input && (input != p->input_arg || len != p->input_len)) {
        return -EINVAL;
    }
    /* Over max_output before: the output is incomplete for good, and that pipe may never
     * be readable again (a poll on it would wait for ever). */
    if (p->cap[0].over || p->cap[1].over) return -EMSGSIZE;
    /* No time left: one pass without waiting, which the poll loop does in any context. */
    bool now_only = deadline != WEFT__NO_DEADLINE && deadline <= weft_now();
    int rc = weft__waits_on_loop(weft__tls_get()) && !now_only ? transfer_in_group(p, deadline)
                                                               : transfer_polling(p, deadline);
    if (rc == 0) rc = weft__subprocess_wait_until(p, deadline);
    if (rc) return rc;
    if (p->lost) return -ECHILD;
    return fill_result(p, r);
}

void weft_subprocess_result_free(weft_subprocess_result *r)
{
    if (!r) return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* ---- run --------------------------------------------------------------------------------- */

/* After a failed communicate: what was read so far, and the code of the child (killed). */
static void partial_result(weft_subprocess *p, weft_subprocess_result *r)
{
    r->returncode = p->code;
    for (int i = 0; i < 2; i++) {
        if (!p->io[i + 1] || reserve(&p->cap[i], 0)) continue;
        if (i == 0) hand_over(&p->cap[0], &r->out, &r->out_len);
        else hand_over(&p->cap[1], &r->err, &r->err_len);
    }
}

int weft_subprocess_run(weft_subprocess_result *r, const char *const argv[],
                        const weft_subprocess_opts *opts, const void *input, size_t input_len,
                        int64_t timeout, unsigned flags)
{
    static const weft_subprocess_opts defaults = WEFT_SUBPROCESS_OPTS_INIT;
    if (!r) return -EINVAL;
    memset(r, 0, sizeof *r);
    int64_t deadline;
    if ((flags & ~(WEFT_SUBPROCESS_CAPTURE | WEFT_SUBPROCESS_CHECK)) || (!input && input_len) ||
        weft__deadline(timeout, &deadline))
        return -EINVAL;
    weft_subprocess_opts o = opts ? *opts : defaults;
    if (input) {
        if (o.stdin_mode != WEFT_STDIO_INHERIT && o.stdin_mode != WEFT_STDIO_PIPE) return -EINVAL;
        o.stdin_mode = WEFT_STDIO_PIPE;
    }
    if (flags & WEFT_SUBPROCESS_CAPTURE) {
        if (o.stdout_mode != WEFT_STDIO_INHERIT || o.stderr_mode != WEFT_STDIO_INHERIT)
            return -EINVAL;
        o.stdout_mode = o.stderr_mode = WEFT_STDIO_PIPE;
    }
    weft_subprocess *p;
    int rc = weft_subprocess_start(&p, argv, &o);
    if (rc) return rc;
    rc = weft_subprocess_communicate(p, input, input_len, weft__remaining(deadline), r);
    if (rc) {
        /* Timed out, cancelled, or failed: the child goes (kill, then reap, shielded). */
        weft__subprocess_kill_and_reap(p);
        partial_result(p, r);
    } else if ((flags & WEFT_SUBPROCESS_CHECK) && r->returncode != 0) {
        rc = WEFT_SUBPROCESS_FAILED;
    }
    weft_subprocess_destroy(p);
    return rc;
}
