/* net/stream.c — buffered reads and writes over a weft_socket.
 *
 * The read buffer holds [rstart, rend) unconsumed bytes; `scanned` remembers how far a
 * delimiter search got, so a long line arriving in many pieces is searched once, not once
 * per piece. It grows (doubling) up to max_line when a record needs the room; plain reads
 * never grow it and read large requests straight into the caller's memory.
 * The write buffer is sent when it reaches write_high, on drain, and before a read that
 * must wait for the peer — that last one under the timeout of the write that buffered the
 * bytes (and within the read's deadline): sending is writing, wherever it happens.
 * Contexts: any, one at a time per stream (no lock inside); blocking as the socket calls.
 *
 * The stream holds a reference to its socket from open to close. A stream call may make
 * several socket calls (send what is buffered, then read; read again for the rest of a
 * line), and its caller may loop over stream calls: a weft_socket_close from another thread
 * at any moment must wake or fail the next socket call (-EBADF), never free the socket
 * under the stream.
 */
#include "net/internal.h"

#include <stdlib.h>
#include <string.h>
#include <weft/stream.h>

#define DEFAULT_MAX_LINE (64 * 1024)
#define DEFAULT_WRITE_HIGH (64 * 1024)
#define INITIAL_READ (16 * 1024)

struct weft_stream {
    weft_socket *sock;
    bool owns_socket;
    bool eof;                         /* the peer has closed its side */
    size_t max_line, write_high;
    char *rbuf;
    size_t rcap, rstart, rend, scanned;
    char *wbuf;
    size_t wcap, wlen;
    int64_t wtimeout;                 /* the timeout of the write that last buffered bytes:
                                         it governs their sending wherever that happens */
};

int weft_stream_open(weft_stream **out, weft_socket *s, const weft_stream_opts *opts)
{
    if (!out || !s) return -EINVAL;
    weft_stream *st = weft__calloc(1, sizeof *st);
    if (!st) return -ENOMEM;
    int rc = weft__socket_hold(s);
    if (rc) {
        weft__free(st);
        return rc;
    }
    st->sock = s;
    st->max_line = opts && opts->max_line ? opts->max_line : DEFAULT_MAX_LINE;
    st->write_high = opts && opts->write_high ? opts->write_high : DEFAULT_WRITE_HIGH;
    st->wtimeout = WEFT_FOREVER;
    *out = st;
    return 0;
}

int weft_stream_open_fd(weft_stream **out, int fd, const weft_stream_opts *opts)
{
    if (!out) return -EINVAL;
    weft_socket *s;
    int rc = weft_socket_adopt(&s, fd);
    if (rc) return rc;
    rc = weft_stream_open(out, s, opts);
    if (rc) {
        /* Leave fd open, as weft_socket_adopt does on failure: the caller still owns it. */
        s->poll.fd = -1;
        weft_socket_close(s);
        return rc;
    }
    (*out)->owns_socket = true;
    return 0;
}

weft_socket *weft_stream_socket(weft_stream *st)
{
    return st ? st->sock : NULL;
}

size_t weft_stream_read_buffered(const weft_stream *st)
{
    return st ? st->rend - st->rstart : 0;
}

size_t weft_stream_write_buffered(const weft_stream *st)
{
    return st ? st->wlen : 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int drain_until(weft_stream *st, int64_t deadline)
{
    if (!st->wlen) return 0;
    ssize_t r = weft_socket_write(st->sock, st->wbuf, st->wlen, weft__remaining(deadline));
    st->wlen = 0;                 /* sent, or dropped after an error (documented) */
    return r < 0 ? (int)r : 0;
}

/* Sends what is buffered before a read waits for the peer. That is a write, so the write
 * timeout governs it, counted from now (issue 11 bug 6: an echo server that reads with no
 * timeout and writes with 30 s held a peer that sends and never reads for ever); the
 * read's own deadline bounds it too, as it bounds the whole read. */
static int flush_for_read(weft_stream *st, int64_t deadline)
{
    if (!st->wlen) return 0;
    int64_t wd;
    if (weft__deadline(st->wtimeout, &wd)) wd = WEFT__NO_DEADLINE;
    return drain_until(st, deadline < wd ? deadline : wd);
}

int weft_stream_drain(weft_stream *st, int64_t timeout)
{
    int64_t deadline;
    if (!st || weft__deadline(timeout, &deadline)) return -EINVAL;
    return drain_until(st, deadline);
}

int weft_stream_write(weft_stream *st, const void *buf, size_t n, int64_t timeout)
{
    int64_t deadline;
    if (!st || (!buf && n) || weft__deadline(timeout, &deadline)) return -EINVAL;
    if (!n) return 0;                         /* (buf may be NULL: no memcpy) */
    if (!st->wlen && n >= st->write_high) {   /* large: no copy */
        ssize_t r = weft_socket_write(st->sock, buf, n, timeout);
        return r < 0 ? (int)r : 0;
    }
    if (st->wlen + n > st->wcap) {
        size_t cap = st->wcap ? st->wcap : 4096;
        while (cap < st->wlen + n) cap *= 2;
        char *b = weft__realloc(st->wbuf, cap);
        if (!b) return -ENOMEM;
        st->wbuf = b;
        st->wcap = cap;
    }
    memcpy(st->wbuf + st->wlen, buf, n);
    st->wlen += n;
    st->wtimeout = timeout;
    return st->wlen >= st->write_high ? drain_until(st, deadline) : 0;
}

int weft_stream_write_eof(weft_stream *st, int64_t timeout)
{
    int rc = weft_stream_drain(st, timeout);
    return rc ? rc : weft__socket_end_writes(st->sock);
}

int weft_stream_close(weft_stream *st, int64_t timeout)
{
    if (!st) return 0;
    int rc = weft_stream_drain(st, timeout);
    weft__socket_unhold(st->sock);         /* first: an owned socket's close is then its last */
    if (st->owns_socket) weft_socket_close(st->sock);
    weft__free(st->rbuf);
    weft__free(st->wbuf);
    weft__free(st);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Makes room for at least `want` unconsumed bytes plus one more read's worth. */
static int reserve(weft_stream *st, size_t want)
{
    size_t have = st->rend - st->rstart;
    if (st->rstart && (st->rend == st->rcap || have == 0)) {   /* compact */
        memmove(st->rbuf, st->rbuf + st->rstart, have);
        st->scanned -= st->rstart;
        st->rstart = 0;
        st->rend = have;
    }
    if (st->rend < st->rcap && st->rcap >= want) return 0;
    size_t cap = st->rcap ? st->rcap : INITIAL_READ;
    while (cap < want || cap <= st->rend) cap *= 2;
    char *b = weft__realloc(st->rbuf, cap);
    if (!b) return -ENOMEM;
    st->rbuf = b;
    st->rcap = cap;
    return 0;
}

/* One read into the buffer (after sending what waits to be sent). Returns the bytes read,
 * 0 at the end of the stream, or an error. */
static ssize_t fill(weft_stream *st, size_t want, int64_t deadline)
{
    if (st->eof) return 0;
    int rc = flush_for_read(st, deadline);
    if (rc) return rc;
    if ((rc = reserve(st, want))) return rc;
    ssize_t r = weft_socket_recv(st->sock, st->rbuf + st->rend, st->rcap - st->rend, 0,
                                 weft__remaining(deadline));
    if (r == 0) st->eof = true;
    if (r > 0) st->rend += (size_t)r;
    return r;
}

static size_t take(weft_stream *st, void *buf, size_t n)
{
    size_t have = st->rend - st->rstart;
    if (n > have) n = have;
    if (!n) return 0;                         /* rbuf or buf may be NULL */
    memcpy(buf, st->rbuf + st->rstart, n);
    st->rstart += n;
    if (st->scanned < st->rstart) st->scanned = st->rstart;
    return n;
}

ssize_t weft_stream_read(weft_stream *st, void *buf, size_t n, int64_t timeout)
{
    int64_t deadline;
    if (!st || (!buf && n) || weft__deadline(timeout, &deadline)) return -EINVAL;
    if (n == 0) return 0;
    if (st->rend > st->rstart) return (ssize_t)take(st, buf, n);
    if (st->eof) return 0;
    int rc = flush_for_read(st, deadline);
    if (rc) return rc;
    if (n >= INITIAL_READ) {                  /* large: straight into the caller's memory */
        ssize_t r = weft_socket_recv(st->sock, buf, n, 0, weft__remaining(deadline));
        if (r == 0) st->eof = true;
        return r;
    }
    ssize_t r = fill(st, 0, deadline);
    return r <= 0 ? r : (ssize_t)take(st, buf, n);
}

int weft_stream_read_exactly(weft_stream *st, void *buf, size_t n, int64_t timeout)
{
    int64_t deadline;
    if (!st || (!buf && n) || weft__deadline(timeout, &deadline)) return -EINVAL;
    size_t got = take(st, buf, n);
    while (got < n) {
        ssize_t r = fill(st, 0, deadline);
        if (r <= 0) {
            /* Put back what arrived, so that it stays readable. */
            int rc = reserve(st, got);
            if (rc == 0) {
                memmove(st->rbuf + got, st->rbuf + st->rstart, st->rend - st->rstart);
                memcpy(st->rbuf, buf, got);
                st->rend = got + (st->rend - st->rstart);
                st->rstart = st->scanned = 0;
            }
            return r == 0 ? -ENODATA : (int)r;
        }
        got += take(st, (char *)buf + got, n - got);
    }
    return 0;
}

/* Finds delim in the unconsumed bytes, from where the last search stopped. */
static char *find(weft_stream *st, const char *delim, size_t dlen)
{
    size_t from = st->scanned > st->rstart + dlen - 1 ? st->scanned - (dlen - 1) : st->rstart;
    char *hit = memmem(st->rbuf + from, st->rend - from, delim, dlen);
    st->scanned = st->rend;
    return hit;
}

static ssize_t read_record(weft_stream *st, const char *delim, size_t dlen, bool eof_ok,
                           const char **data, int64_t timeout)
{
    int64_t deadline;
    if (!st || !data || !delim || !dlen || weft__deadline(timeout, &deadline)) return -EINVAL;
    /* `scanned` only spares re-searching within this call: a previous call may have looked
     * past a record it returned, or for another delimiter. */
    st->scanned = st->rstart;
    for (;;) {
        char *hit = st->rend > st->rstart ? find(st, delim, dlen) : NULL;
        size_t have = st->rend - st->rstart;
        if (hit) {
            size_t len = (size_t)(hit - (st->rbuf + st->rstart)) + dlen;
            if (len > st->max_line) return -EMSGSIZE;
            *data = st->rbuf + st->rstart;
            st->rstart += len;
            return (ssize_t)len;
        }
        if (have >= st->max_line) return -EMSGSIZE;
        if (st->eof) {
            if (have == 0) return 0;
            if (!eof_ok) return -ENODATA;
            *data = st->rbuf + st->rstart;
            st->rstart = st->rend;
            return (ssize_t)have;
        }
        ssize_t r = fill(st, have + 1, deadline);
        if (r < 0) return r;
    }
}

ssize_t weft_stream_readline(weft_stream *st, const char **line, int64_t timeout)
{
    return read_record(st, "\n", 1, true, line, timeout);
}

ssize_t weft_stream_read_until(weft_stream *st, const void *delim, size_t dlen,
                               const char **data, int64_t timeout)
{
    return read_record(st, delim, dlen, false, data, timeout);
}

/* ---- skipping an over-long record (after -EMSGSIZE) ------------------------------------- *
 * asyncio's LimitOverrunError says how much to consume; here the stream does the consuming:
 * it discards through the delimiter, holding at most one buffer of it at a time, so a line
 * of any length can be skipped. The last dlen - 1 bytes of what it has looked at stay
 * buffered (the delimiter may straddle two reads), which also makes a skip cut short by a
 * timeout or a cancel resumable: calling it again goes on from there. */

static ssize_t skip_record(weft_stream *st, const char *delim, size_t dlen, bool eof_ok,
                           int64_t timeout)
{
    int64_t deadline;
    if (!st || !delim || !dlen || weft__deadline(timeout, &deadline)) return -EINVAL;
    size_t skipped = 0;
    for (;;) {
        size_t have = st->rend - st->rstart;
        char *hit = have >= dlen ? memmem(st->rbuf + st->rstart, have, delim, dlen) : NULL;
        if (hit) {
            size_t len = (size_t)(hit - (st->rbuf + st->rstart)) + dlen;
            st->rstart += len;
            st->scanned = st->rstart;
            return (ssize_t)(skipped + len);
        }
        if (st->eof) {
            st->rstart = st->scanned = st->rend;
            if (!eof_ok && (skipped || have)) return -ENODATA;
            return (ssize_t)(skipped + have);
        }
        /* Keep what could be the delimiter's beginning; drop the rest, and move the kept
         * bytes to the front so that the next read has the whole buffer. */
        size_t keep = have < dlen - 1 ? have : dlen - 1;
        skipped += have - keep;
        if (keep) memmove(st->rbuf, st->rbuf + st->rend - keep, keep);
        st->rstart = st->scanned = 0;
        st->rend = keep;
        ssize_t r = fill(st, keep + 1, deadline);
        if (r < 0) return r;
    }
}

ssize_t weft_stream_skip_line(weft_stream *st, int64_t timeout)
{
    return skip_record(st, "\n", 1, true, timeout);
}

ssize_t weft_stream_skip_until(weft_stream *st, const void *delim, size_t dlen,
                               int64_t timeout)
{
    return skip_record(st, delim, dlen, false, timeout);
}
