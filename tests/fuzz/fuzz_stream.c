/* tests/fuzz/fuzz_stream.c — libFuzzer target: the stream's record reader
 * (weft_stream_readline, weft_stream_read_until and their max_line limit, with
 * weft_stream_read and weft_stream_read_exactly mixed in), checked against a model.
 *
 * One input is one conversation. A payload is written into a socketpair or a pipe in
 * chunks whose sizes the input chooses, between reads the input chooses; each read runs
 * with a zero timeout, so that "not there yet" is -ETIMEDOUT rather than a wait, and the
 * whole run is deterministic in one thread. The model knows what was written (`w` bytes),
 * what was consumed (`pos`) and whether the end was sent, and so what each call must
 * return, from the documented contract (include/weft/stream.h):
 *   - a record is the bytes through the first delimiter at or after `pos`, and comes back
 *     exactly (same bytes, same length) if that length is at most max_line;
 *   - -EMSGSIZE exactly when no delimiter ends within max_line bytes and at least max_line
 *     bytes are there (written, or up to the end); the bytes stay buffered;
 *   - at the end: readline returns the last, unterminated bytes (fewer than max_line), then
 *     0; read_until returns -ENODATA while bytes are left, then 0;
 *   - -ETIMEDOUT only when more bytes could change the answer (nothing is lost by it);
 *   - read returns 1..n next bytes, read_exactly n bytes or -ENODATA at the end.
 * Since each record is compared with the payload at `pos`, and pos advances by what was
 * returned, the records read concatenate to the payload: nothing lost, repeated or
 * reordered. At the end everything must have been consumed.
 *
 * Input: [flags][max_line][ctl_len lo][ctl_len hi][ctl_len bytes of control][payload].
 *   flags bit 0: a pipe (else a socketpair); bits 1-3: how max_line is chosen (below).
 *   control: one byte per operation (op = byte % 8), some followed by an argument byte.
 *   payload: literal bytes, except 0xFF HI LO C = a run of (HI << 8 | LO) bytes C (so a
 *   small input can make lines of 16 K or 64 K, where the read buffer grows).
 * See tests/fuzz/README.md to run it.
 */
#include <weft.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAYLOAD_MAX (256 * 1024)
#define DEFAULT_MAX_LINE (64 * 1024)  /* the stream's, when max_line is 0 */

static const struct { const char *s; size_t n; } delims[] = {
    { "\n", 1 }, { "\r\n", 2 }, { "\r\n\r\n", 4 }, { "a", 1 }, { "aa", 2 }, { "aab", 3 },
    { "abab", 4 }, { "--", 2 }, { "\0", 1 }, { "xyzzy", 5 }, { "ab", 2 },
};
#define NDELIMS (sizeof delims / sizeof delims[0])

#define FAIL(...) do { fprintf(stderr, "fuzz_stream: " __VA_ARGS__); \
    fprintf(stderr, " (pos %zu, written %zu of %zu%s, max_line %zu)\n", m->pos, m->w, \
            m->total, m->eof_sent ? ", end sent" : "", m->max_line); abort(); } while (0)

typedef struct {
    const uint8_t *ctl;               /* the control bytes left */
    size_t nctl;
    char *in;                         /* the payload */
    size_t total;
    size_t w;                         /* bytes written so far */
    size_t pos;                       /* bytes consumed so far */
    bool eof_sent;                    /* the writing end is closed */
    int wfd;
    int rfd;                          /* the stream's descriptor (for end_sent's poll) */
    bool is_pipe;
    size_t max_line;                  /* as the stream applies it */
    weft_stream *st;
    char *scratch;                    /* for read and read_exactly */
} model;

static uint8_t next_byte(model *m, uint8_t dflt)
{
    if (!m->nctl) return dflt;
    m->nctl--;
    return *m->ctl++;
}

/* Closes the writing end, and returns once the reading end can see it. close() alone does
 * not promise that: the end is sent when the file's last reference goes, and another
 * process that holds one for a moment (anything that readlinks /proc/PID/fd/N, as lsof
 * does) delays it past close() — a zero-timeout read then says -ETIMEDOUT, rightly, where
 * the model expected the end (seen once in CI, reproduced by readlinking this process's
 * descriptors in a loop). A socket's shutdown() acts at once; a pipe has none, so wait
 * until poll() on the reading end says the writers are gone. */
static void send_end(model *m)
{
    if (!m->is_pipe && shutdown(m->wfd, SHUT_WR) < 0) FAIL("shutdown: %s", strerror(errno));
    close(m->wfd);
    m->eof_sent = true;
    for (int waited_ms = 0; m->is_pipe; waited_ms += 10) {
        struct pollfd p = { .fd = m->rfd, .events = POLLIN };
        if (poll(&p, 1, 10) < 0 && errno != EINTR) FAIL("poll: %s", strerror(errno));
        if (p.revents & POLLHUP) break;
        if (waited_ms > 10000) FAIL("the pipe's end not seen 10 s after close()");
    }
}

/* Writes up to n more payload bytes (fewer if the pipe is full); n == 0: closes the
 * writing end once everything is written. */
static void write_some(model *m, size_t n)
{
    if (m->eof_sent) return;
    if (m->w == m->total || n == 0) {
        /* Everything written: the end. (n == 0 before that: write all that fits first.) */
        if (m->w < m->total) n = m->total - m->w;
        else {
            send_end(m);
            return;
        }
    }
    if (n > m->total - m->w) n = m->total - m->w;
    ssize_t r = m->is_pipe ? write(m->wfd, m->in + m->w, n)
                           : send(m->wfd, m->in + m->w, n, MSG_NOSIGNAL);
    if (r < 0 && errno != EAGAIN) FAIL("write: %s", strerror(errno));
    if (r > 0) m->w += (size_t)r;
}

/* What a record read must return now (see the file's comment). */
typedef enum { R_RECORD, R_TOO_LONG, R_LAST, R_NODATA, R_END, R_WAIT } expect_kind;

static expect_kind expect_record(const model *m, const char *d, size_t dlen, bool eof_ok,
                                 size_t *len)
{
    size_t avail = m->w - m->pos;
    /* Only a delimiter that ends within max_line bytes matters: search no further (the
     * first delimiter, if it ends later, makes the record too long, as no delimiter does). */
    size_t window = avail < m->max_line ? avail : m->max_line;
    const char *hit = memmem(m->in + m->pos, window, d, dlen);
    if (hit) {
        *len = (size_t)(hit - (m->in + m->pos)) + dlen;
        return R_RECORD;
    }
    if (avail >= m->max_line) return R_TOO_LONG;
    if (!m->eof_sent) return R_WAIT;
    if (avail == 0) return R_END;
    *len = avail;
    return eof_ok ? R_LAST : R_NODATA;
}

/* readline (d == NULL) or read_until(d). Returns the call's result. */
static ssize_t op_record(model *m, const char *d, size_t dlen)
{
    bool line = d == NULL;
    if (line) { d = "\n"; dlen = 1; }
    size_t len = 0;
    expect_kind want = expect_record(m, d, dlen, line, &len);
    const char *data = NULL;
    ssize_t r = line ? weft_stream_readline(m->st, &data, 0)
                     : weft_stream_read_until(m->st, d, dlen, &data, 0);
    const char *what = line ? "readline" : "read_until";
    switch (want) {
    case R_RECORD:
    case R_LAST:
        if (r != (ssize_t)len) FAIL("%s returned %zd, expected a record of %zu", what, r, len);
        if (memcmp(data, m->in + m->pos, len) != 0) FAIL("%s: the record's bytes differ", what);
        m->pos += len;
        break;
    case R_TOO_LONG:
        if (r != -EMSGSIZE) FAIL("%s returned %zd, expected -EMSGSIZE", what, r);
        break;
    case R_NODATA:
        if (r != -ENODATA) FAIL("%s returned %zd, expected -ENODATA (%zu left)", what, r, len);
        break;
    case R_END:
        if (r != 0) FAIL("%s returned %zd at the end, expected 0", what, r);
        break;
    case R_WAIT:
        if (r != -ETIMEDOUT) FAIL("%s returned %zd, expected -ETIMEDOUT", what, r);
        break;
    }
    return r;
}

static ssize_t op_read(model *m, size_t n)
{
    size_t avail = m->w - m->pos;
    ssize_t r = weft_stream_read(m->st, m->scratch, n, 0);
    if (n == 0) {
        if (r != 0) FAIL("read(0) returned %zd", r);
    } else if (avail) {
        if (r < 1 || (size_t)r > n || (size_t)r > avail)
            FAIL("read(%zu) returned %zd with %zu available", n, r, avail);
        if (memcmp(m->scratch, m->in + m->pos, (size_t)r) != 0) FAIL("read: bytes differ");
        m->pos += (size_t)r;
    } else if (m->eof_sent) {
        if (r != 0) FAIL("read(%zu) returned %zd at the end", n, r);
    } else if (r != -ETIMEDOUT) {
        FAIL("read(%zu) returned %zd with nothing available", n, r);
    }
    return r;
}

static int op_read_exactly(model *m, size_t n)
{
    size_t avail = m->w - m->pos;
    int r = weft_stream_read_exactly(m->st, m->scratch, n, 0);
    if (avail >= n) {
        if (r != 0) FAIL("read_exactly(%zu) returned %d with %zu available", n, r, avail);
        if (memcmp(m->scratch, m->in + m->pos, n) != 0) FAIL("read_exactly: bytes differ");
        m->pos += n;
    } else if (r != (m->eof_sent ? -ENODATA : -ETIMEDOUT)) {
        FAIL("read_exactly(%zu) returned %d with %zu available", n, r, avail);
    }
    return r;
}

/* The payload and the reads' destination: static, not malloc'd per input (an ASan malloc
 * of 256 KiB per run would halve the speed); the stream's own buffers are the library's. */
static char payload_buf[PAYLOAD_MAX], scratch_buf[PAYLOAD_MAX];

/* Decodes the payload (see the file's comment) into m->in. */
static void decode_payload(model *m, const uint8_t *p, size_t n)
{
    m->in = payload_buf;
    m->total = 0;
    for (size_t i = 0; i < n && m->total < PAYLOAD_MAX;) {
        if (p[i] == 0xFF && i + 3 < n) {
            size_t run = (size_t)p[i + 1] << 8 | p[i + 2];
            if (run > PAYLOAD_MAX - m->total) run = PAYLOAD_MAX - m->total;
            memset(m->in + m->total, p[i + 3], run);
            m->total += run;
            i += 4;
        } else {
            m->in[m->total++] = (char)p[i++];
        }
    }
}

static size_t choose_max_line(uint8_t flags, uint8_t fine)
{
    switch ((flags >> 1) & 7) {
    case 0: return 1 + fine % 8;
    case 1: return 1 + fine;
    case 2: return 16 * 1024 - 128 + fine;        /* around the first read buffer's size */
    case 3: return 32 * 1024 - 128 + fine;
    case 4: return 0;                             /* the default, 64 KiB */
    case 5: return 1 + (size_t)fine * 64;
    default: return 1 + fine % 32;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    uint8_t flags = data[0];
    model mm = { 0 }, *m = &mm;
    size_t opt_max = choose_max_line(flags, data[1]);
    m->max_line = opt_max ? opt_max : DEFAULT_MAX_LINE;
    size_t nctl = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    if (nctl > size) nctl = size;
    m->ctl = data;
    m->nctl = nctl;
    decode_payload(m, data + nctl, size - nctl);
    m->scratch = scratch_buf;

    int fds[2];
    m->is_pipe = flags & 1;
    if (m->is_pipe ? pipe2(fds, O_CLOEXEC) : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
        FAIL("pipe/socketpair: %s", strerror(errno));
    m->wfd = fds[1];
    m->rfd = fds[0];
    fcntl(m->wfd, F_SETFL, fcntl(m->wfd, F_GETFL) | O_NONBLOCK);
    weft_stream_opts so = { .max_line = opt_max };
    int rc = weft_stream_open_fd(&m->st, fds[0], &so);
    if (rc) FAIL("weft_stream_open_fd: %s", weft_strerror(rc));

    /* The operations the input asks for. A read that would wait lets the writer go on. */
    while (m->nctl) {
        uint8_t c = next_byte(m, 0);
        ssize_t r = 0;
        switch (c % 8) {
        case 0: r = op_record(m, NULL, 0); break;
        case 1: case 2: {
            uint8_t k = next_byte(m, 0);
            r = op_record(m, delims[k % NDELIMS].s, delims[k % NDELIMS].n);
            break;
        }
        case 3: {
            uint8_t k = next_byte(m, 0);          /* 255: a large read, past the buffer */
            r = op_read(m, k == 255 ? 20000 : k);
            break;
        }
        case 4: r = op_read_exactly(m, next_byte(m, 0) * (size_t)(c >> 3 & 3 ? 1 : 97)); break;
        case 5: write_some(m, 1 + next_byte(m, 0)); break;
        case 6: write_some(m, 1 + (size_t)next_byte(m, 0) * 257); break;
        case 7: write_some(m, c >> 3 ? m->total : 0); break;  /* 0: all, then the end */
        }
        if (r == -ETIMEDOUT) write_some(m, 4096);
    }

    /* Then the rest and the end, read by lines (a line too long: by reads), the writer
     * going on whenever a read would wait (the rest may not fit in the pipe at once). After
     * 1,000 lines, the rest by large reads: a payload of 100,000 one-byte lines would
     * otherwise take seconds, and teach nothing new. */
    for (size_t lines = 0;; lines++) {
        if (lines > 4 * PAYLOAD_MAX) FAIL("no progress at the end");
        ssize_t r = lines < 1000 ? op_record(m, NULL, 0) : op_read(m, 65536);
        if (r == 0) break;
        if (r == -ETIMEDOUT) write_some(m, 0);
        if (r == -EMSGSIZE) {
            /* Skip the long line: read through its '\n' (or to the end), checking it. */
            const char *nl = memchr(m->in + m->pos, '\n', m->total - m->pos);
            size_t end = nl ? (size_t)(nl - m->in) + 1 : m->total;
            while (m->pos < end) {
                size_t want = end - m->pos;
                if (op_read(m, want < 65536 ? want : 65536) == -ETIMEDOUT) write_some(m, 0);
            }
        }
    }
    if (m->pos != m->total) FAIL("the end came with %zu bytes unread", m->total - m->pos);
    if (weft_stream_read_buffered(m->st)) FAIL("bytes buffered after the end");

    weft_stream_close(m->st, 0);
    return 0;
}
