/* dist/scripts.c — the server-side steps of a task's life, as Lua scripts (each runs
 * atomically on the server: that is what makes "the result is recorded once" true).
 * docs/DIST.md describes the keys and fields they use (format version 1).
 *
 * Every script takes the key prefix as ARGV[1] and builds its key names (one server, not a
 * cluster). Scripts are loaded (SCRIPT LOAD) when first used on a connection and run with
 * EVALSHA; a server that lost them (a restart) answers NOSCRIPT, and they are loaded again.
 */
#include "dist/internal.h"
#include "dist/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SUBMIT: P, queue, id, name, arg, attempts, timeout_ms, backoff_ms, ttl_ms, reply list,
 * not_before_ms (0: now), now_ms, idempotency key ('' none). Returns the task's id (the
 * earlier task's, for a repeated idempotency key). */
static const char submit_lua[] =
    "local P, Q, id, reply, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[10], ARGV[9]\n"
    "if ARGV[13] ~= '' then\n"
    "  local k = P .. ':k:' .. ARGV[13]\n"
    "  local old = redis.call('GET', k)\n"
    "  if old then\n"
    "    local w = P .. ':t:' .. old .. ':w'\n"
    "    if reply ~= '' then\n"
    "      redis.call('SADD', w, reply)\n"
    "      redis.call('PEXPIRE', w, ttl)\n"
    "      if redis.call('EXISTS', P .. ':r:' .. old) == 1 then\n"
    "        redis.call('RPUSH', reply, old)\n"
    "        redis.call('PEXPIRE', reply, 86400000)\n"
    "      end\n"
    "    end\n"
    "    return old\n"
    "  end\n"
    "  redis.call('SET', k, id, 'PX', ttl)\n"
    "end\n"
    "redis.call('HSET', P .. ':t:' .. id, 'v', '1', 'name', ARGV[4], 'arg', ARGV[5],\n"
    "  'attempts', ARGV[6], 'timeout', ARGV[7], 'backoff', ARGV[8], 'ttl', ttl,\n"
    "  'reply', reply, 'queue', Q, 'state', 'queued', 'attempt', '0', 'submitted', ARGV[12])\n"
    "if tonumber(ARGV[11]) > tonumber(ARGV[12]) then\n"
    "  redis.call('ZADD', P .. ':d:' .. Q, ARGV[11], id)\n"
    "else\n"
    "  redis.call('XADD', P .. ':q:' .. Q, '*', 'id', id)\n"
    "end\n"
    "return id\n";

/* START: P, id, worker, now_ms, max_message. Returns {0} if the task already has a result
 * (cancelled, or recorded by another run), {-1} if its record is gone or malformed (no
 * version 1, no name or one over 256 bytes, no argument, a number field over 15 bytes —
 * the reply must stay within the worker's limit, or it would fail and be retried for
 * ever), {-2} if its argument is over
 * max_message (checked here, so that an oversized argument never crosses the wire), else
 * {1, attempt (this run's number), name, arg, attempts, timeout_ms, failures (runs that
 * returned an error)}: the runs before this one that neither failed nor ended the task
 * were lost with their workers. The worker checks every field again (dist/message.c). */
static const char start_lua[] =
    "local t = ARGV[1] .. ':t:' .. ARGV[2]\n"
    "if redis.call('EXISTS', ARGV[1] .. ':r:' .. ARGV[2]) == 1 then return {0} end\n"
    "if redis.call('TYPE', t).ok ~= 'hash' then return {-1} end\n"
    "local f = redis.call('HMGET', t, 'v', 'name', 'arg', 'attempts', 'timeout', 'failures')\n"
    "if f[1] ~= '1' or not f[2] or not f[3] or #f[2] > 256 then return {-1} end\n"
    "for i = 4, 6 do if f[i] and #f[i] > 15 then return {-1} end end\n"
    "if #f[3] > tonumber(ARGV[5]) then return {-2} end\n"
    "local n = redis.pcall('HINCRBY', t, 'attempt', 1)\n"
    "if type(n) ~= 'number' then return {-1} end\n"
    "redis.call('HSET', t, 'state', 'running', 'worker', ARGV[3], 'started', ARGV[4])\n"
    "return {1, n, f[2], f[3], f[4] or '1', f[5] or '0', f[6] or '0'}\n";

/* FINISH: P, queue, id, stream entry id ('' none), rc, message, data, now_ms, 'final' (no
 * retry whatever the attempts) or '', worker. Records the outcome once and tells the
 * waiting clients, or (a failure, with fewer failures than `attempts`) puts the task back
 * after its back-off; acknowledges and deletes the stream entry either way. Returns 1
 * (recorded), 2 (retried), 0 (a result was there already: nothing changed). A record
 * someone else has spoiled (a key of another type, fields that are not numbers) must not
 * make it fail: the task would stay pending and be taken again for ever. So the record's
 * type is checked, its numbers have defaults, and what only wakes others is a pcall. */
static const char finish_lua[] =
    "local P, Q, id = ARGV[1], ARGV[2], ARGV[3]\n"
    "local t, r, q = P .. ':t:' .. id, P .. ':r:' .. id, P .. ':q:' .. Q\n"
    "local function ack()\n"
    "  if ARGV[4] ~= '' then\n"
    "    redis.call('XACK', q, 'workers', ARGV[4])\n"
    "    redis.call('XDEL', q, ARGV[4])\n"
    "  end\n"
    "end\n"
    "if redis.call('EXISTS', r) == 1 then ack() return 0 end\n"
    "local rc = tonumber(ARGV[5])\n"
    "local th = redis.call('TYPE', t).ok == 'hash'\n"
    "local f = th and redis.call('HMGET', t, 'attempt', 'attempts', 'backoff', 'ttl', 'reply')\n"
    "  or {}\n"
    "local function int(v, d)\n"
    "  local x = tonumber(v)\n"
    "  if not x or x ~= math.floor(x) or x < 0 or x > 1e15 then return d end\n"
    "  return x\n"
    "end\n"
    "local attempt, attempts = int(f[1], 1), int(f[2], 1)\n"
    "local failures = 0\n"
    "if rc < 0 and ARGV[9] ~= 'final' and th then\n"
    "  failures = redis.pcall('HINCRBY', t, 'failures', 1)\n"
    "  if type(failures) ~= 'number' then failures = attempts end\n"
    "end\n"
    "if rc < 0 and ARGV[9] ~= 'final' and failures < attempts then\n"
    "  local delay = int(f[3], 0) * 2 ^ (failures - 1)\n"
    "  redis.call('HSET', t, 'state', 'queued', 'error', ARGV[5], 'message', ARGV[6])\n"
    "  if delay > 0 then\n"
    "    redis.call('ZADD', P .. ':d:' .. Q, tonumber(ARGV[8]) + delay, id)\n"
    "  else\n"
    "    redis.call('XADD', q, '*', 'id', id)\n"
    "  end\n"
    "  ack()\n"
    "  return 2\n"
    "end\n"
    "local ttl = int(f[4], 0)\n"
    "if ttl < 1 then ttl = 86400000 end\n"
    "redis.call('HSET', r, 'rc', ARGV[5], 'msg', ARGV[6], 'data', ARGV[7], 'worker', ARGV[10],\n"
    "  'attempts', tostring(attempt))\n"
    "redis.call('PEXPIRE', r, ttl)\n"
    "if th then\n"
    "  redis.call('HSET', t, 'state', rc < 0 and 'failed' or 'done', 'error', ARGV[5],\n"
    "    'message', ARGV[6])\n"
    "  redis.call('PEXPIRE', t, ttl)\n"
    "end\n"
    "if rc < 0 then\n"
    "  redis.pcall('LPUSH', P .. ':dead:' .. Q, id)\n"
    "  redis.pcall('LTRIM', P .. ':dead:' .. Q, 0, 9999)\n"
    "end\n"
    "local function tell(list)\n"
    "  redis.pcall('RPUSH', list, id)\n"
    "  redis.pcall('PEXPIRE', list, 86400000)\n"
    "end\n"
    "if f[5] and f[5] ~= '' then tell(f[5]) end\n"
    "local ws = redis.pcall('SMEMBERS', t .. ':w')\n"
    "if type(ws) == 'table' and not ws.err then\n"
    "  for _, w in ipairs(ws) do tell(w) end\n"
    "end\n"
    "ack()\n"
    "return 1\n";

/* CANCEL: P, id, now_ms. A task not begun gets the result -ECANCELED (0); one running or
 * done: -16 (EBUSY); unknown: -2 (ENOENT). */
static const char cancel_lua[] =
    "local P, id = ARGV[1], ARGV[2]\n"
    "local t, r = P .. ':t:' .. id, P .. ':r:' .. id\n"
    "local f = redis.call('HMGET', t, 'state', 'queue', 'ttl', 'reply')\n"
    "if not f[1] then return -2 end\n"
    "if f[1] ~= 'queued' or redis.call('EXISTS', r) == 1 then return -16 end\n"
    "local ttl = f[3] or '86400000'\n"
    "redis.call('HSET', r, 'rc', '-125', 'msg', 'cancelled', 'data', '', 'worker', '',\n"
    "  'attempts', '0')\n"
    "redis.call('PEXPIRE', r, ttl)\n"
    "redis.call('HSET', t, 'state', 'cancelled')\n"
    "redis.call('PEXPIRE', t, ttl)\n"
    "if f[2] then redis.call('ZREM', P .. ':d:' .. f[2], id) end\n"
    "local function tell(list)\n"
    "  redis.call('RPUSH', list, id)\n"
    "  redis.call('PEXPIRE', list, 86400000)\n"
    "end\n"
    "if f[4] and f[4] ~= '' then tell(f[4]) end\n"
    "for _, w in ipairs(redis.call('SMEMBERS', t .. ':w')) do tell(w) end\n"
    "return 0\n";

/* REQUEUE: P, queue, id, stream entry id. A task a stopping worker abandons goes back to
 * the queue, the attempt not counted. Returns 1, or 0 if it had a result. */
static const char requeue_lua[] =
    "local P, Q, id = ARGV[1], ARGV[2], ARGV[3]\n"
    "local t, q = P .. ':t:' .. id, P .. ':q:' .. Q\n"
    "redis.call('XACK', q, 'workers', ARGV[4])\n"
    "redis.call('XDEL', q, ARGV[4])\n"
    "if redis.call('EXISTS', P .. ':r:' .. id) == 1 then return 0 end\n"
    "redis.pcall('HINCRBY', t, 'attempt', -1)\n"
    "redis.pcall('HSET', t, 'state', 'queued')\n"
    "redis.call('XADD', q, '*', 'id', id)\n"
    "return 1\n";

/* TAKE: P, queue, stream entry ids (claimed by this worker with XCLAIM JUSTID). Checks
 * each entry on the server, so that a huge or malformed entry never crosses the wire:
 * returns, in order, each entry's task id, or '' for an entry that is gone (acknowledged)
 * or malformed — not exactly {id: <1..95 printable bytes>} — which is acknowledged,
 * deleted and dead-lettered as 'malformed-<entry id>'. */
static const char take_lua[] =
    "local P, Q = ARGV[1], ARGV[2]\n"
    "local q, d = P .. ':q:' .. Q, P .. ':dead:' .. Q\n"
    "local out = {}\n"
    "for i = 3, #ARGV do\n"
    "  local m, id = ARGV[i], ''\n"
    "  local e = redis.call('XRANGE', q, m, m)\n"
    "  if #e == 1 then\n"
    "    local f = e[1][2]\n"
    "    if #f == 2 and f[1] == 'id' and #f[2] > 0 and #f[2] <= 95 and\n"
    "       not string.find(f[2], '[^!-~]') then\n"
    "      id = f[2]\n"
    "    else\n"
    "      redis.call('XACK', q, 'workers', m)\n"
    "      redis.call('XDEL', q, m)\n"
    "      redis.call('LPUSH', d, 'malformed-' .. m)\n"
    "      redis.call('LTRIM', d, 0, 9999)\n"
    "    end\n"
    "  else\n"
    "    redis.call('XACK', q, 'workers', m)\n"
    "  end\n"
    "  out[#out + 1] = id\n"
    "end\n"
    "return out\n";

/* PROMOTE: P, queue, now_ms. Moves the delayed tasks that are due to the queue (up to
 * 1,000); returns how many. */
static const char promote_lua[] =
    "local P, Q = ARGV[1], ARGV[2]\n"
    "local d, q = P .. ':d:' .. Q, P .. ':q:' .. Q\n"
    "local ids = redis.call('ZRANGEBYSCORE', d, '-inf', ARGV[3], 'LIMIT', 0, 1000)\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZREM', d, id)\n"
    "  redis.call('XADD', q, '*', 'id', id)\n"
    "end\n"
    "return #ids\n";

static const char *const texts[DIST_NSCRIPTS] = {
    submit_lua, start_lua, finish_lua, cancel_lua, requeue_lua, promote_lua, take_lua,
};

int dist_scripts_load(weft_redis *r, dist_scripts *s)
{
    for (int i = 0; i < DIST_NSCRIPTS; i++) {
        /* On every later connection of r too, before anything else: a restarted server
         * has lost them. */
        if (!s->loaded) {
            const char *argv[3] = { "SCRIPT", "LOAD", texts[i] };
            int rc = dist_redis_add_init(r, 3, argv);
            if (rc) return rc;
        }
        weft_redis_reply *rep;
        int rc = weft_redis_callf(r, &rep, 30 * WEFT_SEC, "SCRIPT LOAD %s", texts[i]);
        if (rc == 0 && (rep->type != WEFT_REDIS_STRING || rep->len >= sizeof s->sha[i]))
            rc = -EPROTO;
        /* Loaded again after a restart, a script has the same SHA1: not stored again
         * (other threads read them meanwhile). */
        if (rc == 0 && !s->loaded) memcpy(s->sha[i], rep->str, rep->len + 1);
        weft_redis_reply_free(rep);
        if (rc) return rc;
    }
    s->loaded = true;
    return 0;
}

/* EVALSHA sha 0 argv... as an argument vector (a, l of n + 3). */
static int build(const dist_scripts *s, int which, int n, const char *const *argv,
                 const size_t *lens, const char **a, size_t *l)
{
    if (n + 3 > DIST_MAX_ARGS) return -EINVAL;
    a[0] = "EVALSHA";
    l[0] = 7;
    a[1] = s->sha[which];
    l[1] = strlen(s->sha[which]);
    a[2] = "0";
    l[2] = 1;
    for (int i = 0; i < n; i++) {
        a[i + 3] = argv[i];
        l[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    return 0;
}

int dist_eval_send_cb(weft_redis *r, const dist_scripts *s, int which, int n,
                      const char *const *argv, const size_t *lens, dist_reply_cb cb, void *arg)
{
    const char *a[DIST_MAX_ARGS];
    size_t l[DIST_MAX_ARGS];
    int rc = build(s, which, n, argv, lens, a, l);
    return rc ? rc : dist_redis_send_cb(r, n + 3, a, l, cb, arg);
}

bool dist_noscript(const weft_redis_reply *rep)
{
    return rep && rep->type == WEFT_REDIS_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

int dist_eval(weft_redis *r, dist_scripts *s, int which, weft_redis_reply **out,
              int64_t timeout, int n, const char *const *argv, const size_t *lens)
{
    *out = NULL;
    const char *a[DIST_MAX_ARGS];
    size_t l[DIST_MAX_ARGS];
    int rc = build(s, which, n, argv, lens, a, l);
    if (rc) return rc;
    rc = weft_redis_call(r, out, timeout, n + 3, a, l);
    if (rc == WEFT_EREDIS && dist_noscript(*out)) {          /* the server restarted */
        weft_redis_reply_free(*out);
        *out = NULL;
        rc = dist_scripts_load(r, s);
        if (rc) return rc;
        a[1] = s->sha[which];
        rc = weft_redis_call(r, out, timeout, n + 3, a, l);
    }
    return rc;
}
