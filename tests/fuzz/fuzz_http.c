/* tests/fuzz/fuzz_http.c — libFuzzer target: the request path of examples/httpd.c, that
 * is its request reader (examples/httpd_reader.c: libhttp-parser and the server's rules),
 * fed as httpd.c's serve_requests feeds it, minus the socket.
 *
 * The bytes go in three ways — all at once, in chunks whose sizes the input chooses, and a
 * byte at a time — and each run records what the server would do: each "100 Continue",
 * each request (method, target, body, keep-alive, HEAD, HTTP/1.0) and the refusal that
 * ends the connection. Checked:
 *   - the reader's own promises: on HTTPD_MORE it took every byte; it never takes more than
 *     it was given; after a refusal it takes nothing; a refusal's status is one of those
 *     httpd_reader.h lists; a request's target is shorter than HTTPD_TARGET_MAX and
 *     NUL-terminated, its body at most body_max bytes; "100 Continue" only for HTTP/1.1,
 *     at most once per request; no event loops without progress;
 *   - that how the bytes were split does not matter: the three runs record the same
 *     thing. (One difference is allowed, in the refusal's status only: fed in pieces, a
 *     target or a chunked body may reach its limit — 414, 413 — before the parser meets
 *     an invalid byte further on, since the parser hands over what it has at the end of
 *     each piece; fed at once, the parser finds that byte before it hands over the target
 *     or the chunk, and the answer is 400. Both refuse, and nothing before differs.)
 * ASan and UBSan watch the memory and the arithmetic meanwhile.
 *
 * Input: [seed][limit][request bytes...]: seed drives the chunk sizes, limit the body_max
 * (small, so that 413 is reachable, or 1 MiB). See tests/fuzz/README.md to run it.
 */
#include "httpd_reader.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_http: " __VA_ARGS__); fputc('\n', stderr); \
    abort(); } while (0)

/* What the server would do, as text: one line per event. */
typedef struct {
    char *s;
    size_t len, cap;
    int refused;                      /* the refusal's status, 0 if none */
    bool ended;                       /* refused, or a request that ends the connection */
} record;

static void put(record *rec, const void *p, size_t n)
{
    if (rec->len + n > rec->cap) {
        rec->cap = (rec->len + n) * 2 + 256;
        rec->s = realloc(rec->s, rec->cap);
        if (!rec->s) FAIL("out of memory");
    }
    memcpy(rec->s + rec->len, p, n);
    rec->len += n;
}

static void put_str(record *rec, const char *s)
{
    put(rec, s, strlen(s));
}

static bool listed_status(int st)
{
    return st == 400 || st == 413 || st == 414 || st == 417 || st == 431 || st == 500 ||
           st == 505;
}

/* Feeds in[0, n) in pieces of the sizes `next_size` gives, as serve_requests does. */
static void run(const char *in, size_t n, size_t body_max, size_t (*next_size)(uint32_t *),
                uint32_t seed, record *rec)
{
    httpd_reader r;
    httpd_reader_init(&r, body_max);
    bool continued = false;           /* 100 Continue sent for the current request */
    size_t events = 0;
    for (size_t off = 0; off < n && !rec->ended;) {
        size_t piece = next_size(&seed);
        if (piece > n - off) piece = n - off;
        /* The piece is what one read brought: feed until it is all taken. */
        for (size_t p = 0; p < piece && !rec->ended;) {
            size_t used = 12345;
            httpd_event ev = httpd_reader_feed(&r, in + off + p, piece - p, &used);
            if (used > piece - p) FAIL("took %zu of %zu bytes", used, piece - p);
            if (++events > 4 * n + 16) FAIL("events without progress");
            p += used;
            switch (ev) {
            case HTTPD_MORE:
                if (p != piece) FAIL("HTTPD_MORE with %zu bytes not taken", piece - p);
                break;
            case HTTPD_CONTINUE:
                if (continued) FAIL("a second 100 Continue for one request");
                if (r.parser.http_major != 1 || r.parser.http_minor < 1)
                    FAIL("100 Continue to HTTP/%u.%u", r.parser.http_major,
                         r.parser.http_minor);
                if (!httpd_reader_begun(&r)) FAIL("100 Continue outside a request");
                continued = true;
                put_str(rec, "100 Continue\n");
                break;
            case HTTPD_REQUEST: {
                httpd_request rq;
                httpd_reader_request(&r, &rq);
                size_t tlen = strlen(rq.target);
                if (tlen >= HTTPD_TARGET_MAX) FAIL("a target of %zu bytes", tlen);
                if (rq.body_len > body_max) FAIL("a body of %zu bytes", rq.body_len);
                if (rq.body[rq.body_len] != '\0') FAIL("the body is not NUL-terminated");
                if (httpd_reader_begun(&r)) FAIL("a request complete but still begun");
                bool ka = httpd_reader_keep_alive(&r);
                char flags[64];
                snprintf(flags, sizeof flags, " keep-alive=%d head=%d http10=%d body=%zu:", ka,
                         httpd_reader_head(&r), httpd_reader_http10(&r), rq.body_len);
                put_str(rec, rq.method);
                put_str(rec, " ");
                put_str(rec, rq.target);
                put_str(rec, flags);
                put(rec, rq.body, rq.body_len);          /* may hold any byte, NUL too */
                put_str(rec, "\n");
                continued = false;
                if (!ka) rec->ended = true;
                break;
            }
            case HTTPD_REFUSE: {
                int st = httpd_reader_status(&r);
                if (!listed_status(st)) FAIL("refused with %d", st);
                size_t again = 1;
                if (httpd_reader_feed(&r, "x", 1, &again) != HTTPD_REFUSE || again != 0)
                    FAIL("the reader took bytes after a refusal");
                rec->refused = st;
                rec->ended = true;
                break;
            }
            default:
                FAIL("event %d", (int)ev);
            }
        }
        off += piece;
    }
    httpd_reader_destroy(&r);
}

static size_t all_at_once(uint32_t *s)
{
    (void)s;
    return SIZE_MAX;
}

static size_t byte_by_byte(uint32_t *s)
{
    (void)s;
    return 1;
}

/* Mostly small pieces, sometimes large ones (xorshift32). */
static size_t chosen(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s % 4 ? 1 + *s % 16 : 1 + *s % 2048;
}

/* The records must match, but for the one allowed difference (see the file's comment). */
static void compare(const record *a, const record *b, const char *how)
{
    bool same = a->len == b->len && (!a->len || memcmp(a->s, b->s, a->len) == 0) &&
                a->ended == b->ended;
    bool allowed = same && (a->refused == b->refused ||
                            (a->refused == 400 && (b->refused == 413 || b->refused == 414)));
    if (!allowed)
        FAIL("fed %s, the server would act otherwise than fed at once:\n--- at once (refused "
             "%d):\n%.*s--- %s (refused %d):\n%.*s", how, a->refused, (int)a->len, a->s, how,
             b->refused, (int)b->len, b->s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint32_t seed = data[0] * 2654435761u + 1;
    size_t body_max = data[1] & 0x80 ? (size_t)1 << 20 : 1 + data[1] % 64u;
    const char *in = (const char *)data + 2;
    size_t n = size - 2;

    record whole = { 0 }, pieces = { 0 }, bytes = { 0 };
    run(in, n, body_max, all_at_once, seed, &whole);
    run(in, n, body_max, chosen, seed, &pieces);
    run(in, n, body_max, byte_by_byte, seed, &bytes);
    compare(&whole, &pieces, "in pieces");
    compare(&whole, &bytes, "a byte at a time");
    free(whole.s);
    free(pieces.s);
    free(bytes.s);
    return 0;
}
