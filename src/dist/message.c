/* dist/message.c — the decoders of what a worker reads from the server (dist/internal.h).
 *
 * Anyone who can write to the Redis instance can put anything in a queue's stream or a
 * task's record. A worker therefore trusts no field: each is checked for its type, its
 * size and its syntax here, before the worker uses it, and a message that fails is
 * dead-lettered by the caller. Task messages carry bytes only (a name looked up among the
 * functions the worker registered, and an argument handed to that function as bytes):
 * nothing read from the server is ever run as code, loaded or interpreted. */
#include "dist/internal.h"

#include <string.h>

static bool is_string(const weft_redis_reply *r)
{
    return r && r->type == WEFT_REDIS_STRING && r->str;
}

/* A printable ASCII token of 1..max bytes (no space, no NUL): what goes into key names. */
static bool token_ok(const weft_redis_reply *r, size_t max)
{
    if (!is_string(r) || r->len == 0 || r->len > max) return false;
    for (size_t i = 0; i < r->len; i++)
        if ((unsigned char)r->str[i] <= ' ' || (unsigned char)r->str[i] >= 0x7f) return false;
    return true;
}

int dist_decode_entry(const weft_redis_reply *entry, dist_entry *e)
{
    memset(e, 0, sizeof *e);
    if (!entry || entry->type != WEFT_REDIS_ARRAY || entry->elements != 2 ||
        !token_ok(entry->element[0], DIST_MSGID_MAX))
        return -EPROTO;
    memcpy(e->msgid, entry->element[0]->str, entry->element[0]->len);
    const weft_redis_reply *f = entry->element[1];
    /* Exactly one field, "id", whose value is a task id. */
    if (f && f->type == WEFT_REDIS_ARRAY && f->elements == 2 && is_string(f->element[0]) &&
        f->element[0]->len == 2 && memcmp(f->element[0]->str, "id", 2) == 0 &&
        token_ok(f->element[1], DIST_ID_MAX))
        memcpy(e->id, f->element[1]->str, f->element[1]->len);
    return 0;
}

/* A plain decimal (digits only, no sign) of at most 15 digits: true with *v. */
static bool decimal(const weft_redis_reply *r, long long *v)
{
    if (!is_string(r) || r->len == 0 || r->len > 15) return false;
    long long x = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9') return false;
        x = x * 10 + (r->str[i] - '0');
    }
    *v = x;
    return true;
}

int dist_decode_start(const weft_redis_reply *r, size_t max_message, dist_start *s)
{
    memset(s, 0, sizeof *s);
    if (!r || r->type != WEFT_REDIS_ARRAY || r->elements < 1 ||
        r->element[0]->type != WEFT_REDIS_INTEGER)
        return WEFT_EBADTASK;
    long long what = r->element[0]->integer;
    if (what == 0 && r->elements == 1) return 0;
    if (what == -2) return -EMSGSIZE;            /* the script saw the argument's size */
    if (what != 1 || r->elements != 7) return WEFT_EBADTASK;
    const weft_redis_reply *const *e = (const weft_redis_reply *const *)r->element;
    long long attempts;
    if (e[1]->type != WEFT_REDIS_INTEGER || e[1]->integer < 1 ||
        !decimal(e[4], &attempts) || !decimal(e[5], &s->timeout_ms) ||
        !decimal(e[6], &s->failures))
        return WEFT_EBADTASK;
    s->attempt = e[1]->integer;
    if (!is_string(e[2]) || e[2]->len == 0 || e[2]->len > DIST_NAME_MAX ||
        memchr(e[2]->str, 0, e[2]->len))
        return WEFT_EBADTASK;
    if (!is_string(e[3])) return WEFT_EBADTASK;
    if (e[3]->len > max_message) return -EMSGSIZE;
    s->name = e[2]->str;
    s->arg = e[3]->str;
    s->arg_len = e[3]->len;
    return 1;
}
