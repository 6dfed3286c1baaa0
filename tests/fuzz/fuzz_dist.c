/* tests/fuzz/fuzz_dist.c — libFuzzer target: what a weft_dist worker reads from Redis.
 * RESP bytes as the server would send them go through the connection's reply builder
 * (dist_reply_parse: hiredis's reader with weft's reply functions and the max_reply
 * limit), then through the worker's two decoders (dist_decode_entry for a stream entry —
 * applied to the reply and, as the fetcher does, to each entry of an XREADGROUP-shaped
 * reply — and dist_decode_start for START's answer). Anyone who can write to the Redis
 * instance chooses these bytes. Checked:
 *   - no crash, leak or read out of bounds anywhere (ASan, UBSan);
 *   - the builder never holds more than max_reply for a reply: a reply whose strings and
 *     arrays (counted as weft counts them) are over it is -EMSGSIZE, never built;
 *   - a decoded entry's stream id is 1..47 and its task id 0..95 printable ASCII bytes
 *     without space (0: malformed, dead-lettered);
 *   - a decoded START answer to run has a name of 1..256 bytes with no NUL, an argument
 *     of at most max_message bytes, an attempt >= 1 and non-negative numbers; any other
 *     answer is 0 (acknowledge), WEFT_EBADTASK or -EMSGSIZE.
 * Input: [max_message class][RESP...]. See tests/fuzz/README.md to run it.
 */
#include "dist/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_dist: " __VA_ARGS__); \
    fprintf(stderr, "\n"); abort(); } while (0)

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

static void check_entry(const weft_redis_reply *r)
{
    dist_entry e;
    int rc = dist_decode_entry(r, &e);
    if (rc == -EPROTO) return;
    if (rc != 0) FAIL("dist_decode_entry gave %d", rc);
    size_t m = strnlen(e.msgid, sizeof e.msgid), i = strnlen(e.id, sizeof e.id);
    if (m == 0 || m > DIST_MSGID_MAX || !printable(e.msgid, m)) FAIL("bad msgid");
    if (i > DIST_ID_MAX || !printable(e.id, i)) FAIL("bad id");
}

static size_t weight(const weft_redis_reply *r)
{
    size_t n = sizeof *r + (r->str ? r->len + 1 : 0) + r->elements * sizeof(void *);
    for (size_t i = 0; i < r->elements; i++) n += weight(r->element[i]);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const size_t maxes[4] = { 0, 8, 300, 1 << 20 };
    size_t max_message = maxes[data[0] & 3] + (data[0] >> 2);
    size_t max_reply = (data[0] & 0x80) ? 256 : 1 << 20;
    weft_redis_reply *r;
    int rc = dist_reply_parse((const char *)data + 1, size - 1, max_reply, &r);
    if (rc == -EAGAIN || rc == -EPROTO || rc == -EMSGSIZE || rc == -ENOMEM) return 0;
    if (rc != 0) FAIL("dist_reply_parse gave %d", rc);
    if (weight(r) > max_reply) FAIL("a reply of %zu bytes over max_reply %zu", weight(r),
                                    max_reply);
    check_entry(r);
    /* XREADGROUP's shape: [[stream, [entry...]]]. */
    if (r->type == WEFT_REDIS_ARRAY && r->elements == 1 &&
        r->element[0]->type == WEFT_REDIS_ARRAY && r->element[0]->elements == 2) {
        const weft_redis_reply *entries = r->element[0]->element[1];
        for (size_t i = 0; entries->type == WEFT_REDIS_ARRAY && i < entries->elements; i++)
            check_entry(entries->element[i]);
    }
    dist_start s;
    int what = dist_decode_start(r, max_message, &s);
    if (what == 1) {
        size_t n = strlen(s.name);
        if (n == 0 || n > DIST_NAME_MAX || n != r->element[2]->len) FAIL("bad name");
        if (s.arg_len > max_message) FAIL("argument over max_message");
        if (s.arg_len && !s.arg) FAIL("argument without bytes");
        if (s.attempt < 1 || s.failures < 0 || s.timeout_ms < 0) FAIL("bad numbers");
        volatile unsigned char sum = 0;            /* every byte readable */
        for (size_t i = 0; i < s.arg_len; i++) sum ^= ((const unsigned char *)s.arg)[i];
        (void)sum;
    } else if (what != 0 && what != WEFT_EBADTASK && what != -EMSGSIZE) {
        FAIL("dist_decode_start gave %d", what);
    }
    weft_redis_reply_free(r);
    return 0;
}
