/* tests/fuzz/fuzz_procpool.c — libFuzzer target: the process pool's result-frame decoder
 * (weft__procpool_decode, src/proc/internal.h), which the pool's manager runs on whatever a
 * worker process writes — a worker whose memory a task has overwritten may write anything.
 *
 * Input: [max class][chunk seed][frames...]: the bytes after the first two are a stream of
 * frames (header { u64 id, i64 rc, u64 len } in the machine's order, then len bytes),
 * decoded the way take_results does it — repeatedly from the front of what has arrived —
 * with the bytes arriving in chunks the seed chooses. Checked against the contract:
 *   - a result > 0 takes the header and exactly len bytes, len <= max, and data points at
 *     the bytes right after the header; rc fits an int, and an error carries no bytes;
 *   - 0 ("not whole") only when fewer than a header, or fewer than header + len bytes, are
 *     there, with len <= max (the caller then reads on: so it never waits for more than
 *     max + a header);
 *   - -EMSGSIZE exactly when the header's len is over max; -EPROTO for a bad rc/len pair;
 *   - the frames decoded in chunks are the frames decoded from the whole (nothing lost,
 *     repeated or split differently), and decoding stops at the first error in both.
 * See tests/fuzz/README.md to run it.
 */
#include "proc/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_procpool: " __VA_ARGS__); \
    fprintf(stderr, "\n"); abort(); } while (0)

static const size_t maxes[4] = { 0, 16, 4096, (size_t)1 << 30 };

typedef struct { uint64_t id; int rc; size_t len; size_t off; } seen;

/* Decodes buf[0..n) from the front as the manager does: the frames into out (up to cap),
 * their count; *end the bytes taken, *err the error that stopped it (0: ran out). */
static size_t decode_all(const unsigned char *buf, size_t n, size_t max, seen *out,
                         size_t cap, size_t *end, int *err)
{
    size_t off = 0, k = 0;
    *err = 0;
    while (k < cap) {
        weft__pp_frame f;
        memset(&f, 0xAB, sizeof f);
        ssize_t r = weft__procpool_decode(buf + off, n - off, max, &f);
        weft__pp_result_hdr h;
        size_t have = n - off;
        if (have >= sizeof h) memcpy(&h, buf + off, sizeof h);
        if (r > 0) {
            if (have < sizeof h) FAIL("a frame from %zu bytes, less than a header", have);
            if (h.len > max) FAIL("a frame of %llu bytes over max %zu",
                                  (unsigned long long)h.len, max);
            if ((size_t)r != sizeof h + h.len || (size_t)r > have)
                FAIL("took %zd of %zu for len %llu", r, have, (unsigned long long)h.len);
            if (f.id != h.id || f.len != h.len || (int64_t)f.rc != h.rc)
                FAIL("the frame is not its header");
            if (f.data != buf + off + sizeof h) FAIL("data is not after the header");
            if (f.rc < 0 && f.len) FAIL("an error with bytes");
            out[k++] = (seen){ f.id, f.rc, f.len, off };
            off += (size_t)r;
            continue;
        }
        if (r == 0) {
            if (have >= sizeof h && (h.len > max || have - sizeof h >= h.len))
                FAIL("not whole, with %zu bytes for len %llu (max %zu)", have,
                     (unsigned long long)h.len, max);
        } else if (r == -EMSGSIZE) {
            if (have < sizeof h || h.len <= max) FAIL("-EMSGSIZE for len within max");
        } else if (r == -EPROTO) {
            if (have < sizeof h || h.len > max ||
                !(h.rc < INT_MIN || h.rc > INT_MAX || (h.rc < 0 && h.len)))
                FAIL("-EPROTO for a good header");
        } else {
            FAIL("unexpected result %zd", r);
        }
        *err = (int)(r < 0 ? r : 0);
        break;
    }
    *end = off;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t max = maxes[data[0] & 3] + (data[0] >> 2);
    unsigned seed = data[1];
    data += 2;
    size -= 2;
    /* Frames' lengths are mostly small in inputs libFuzzer makes; a copy of our own so
     * that ASan sees any read past what "arrived". */
    enum { CAP = 4096 };
    static seen whole[CAP], part[CAP];
    size_t whole_end;
    int whole_err;
    size_t nw = decode_all(data, size, max, whole, CAP, &whole_end, &whole_err);
    /* In chunks: each time the bytes arrived so far are decoded from where the last
     * decode stopped, in a buffer exactly that long. */
    size_t arrived = 0, off = 0, np = 0;
    int err = 0;
    while (arrived < size && !err && np < CAP) {
        size_t chunk = 1 + (seed = seed * 1103515245u + 12345u) % 97;
        arrived = arrived + chunk > size ? size : arrived + chunk;
        unsigned char *b = malloc(arrived - off ? arrived - off : 1);
        if (!b) return 0;
        memcpy(b, data + off, arrived - off);
        size_t end;
        size_t k = decode_all(b, arrived - off, max, part + np, CAP - np, &end, &err);
        for (size_t i = 0; i < k; i++) part[np + i].off += off;
        np += k;
        off += end;
        free(b);
        if (err && arrived < size && err != -EMSGSIZE && err != -EPROTO) FAIL("odd error");
    }
    if (np < CAP && nw < CAP) {
        if (np != nw) FAIL("%zu frames in chunks, %zu whole", np, nw);
        for (size_t i = 0; i < nw; i++)
            if (memcmp(&part[i], &whole[i], sizeof part[i]) != 0)
                FAIL("frame %zu differs in chunks", i);
        if (err != whole_err) FAIL("error %d in chunks, %d whole", err, whole_err);
    }
    return 0;
}
