"""weft_dist.py: submit tasks to weft_dist workers from Python (redis-py 4.x, Redis 7+).

The contract is docs/DIST.md (format version 1): the SUBMIT and CANCEL scripts below are
byte-for-byte those of src/dist/scripts.c (tests/test_dist_python.py checks it).

    c = Client("unix:///tmp/redis.sock")
    t = c.submit("square", (7).to_bytes(8, "little", signed=True))
    int.from_bytes(t.result(timeout=10), "little", signed=True)    # 49

A result is waited for by reading the result hash P:r:<id> (the truth) and, between reads,
blocking on the client's notification list P:c:<client id> (BLMPOP): a wake-up only, so
an id popped by another waiter costs at most one POLL period of latency, never a result.
"""
import errno
import os
import threading
import time

import redis

__all__ = ["Client", "Task", "TaskError", "error_name"]

# weft's own error codes (include/weft/errors.h); the rest are errno values.
_WEFT_ERRORS = {
    -4097: "EWORKERDIED",
    -4100: "ETASKLOST",
    -4101: "ENOTASK",
    -4102: "EBADTASK",
    -125: "ECANCELED",
    -110: "ETIMEDOUT",
}

POLL = 1.0          # longest block on the notification list before reading the result again

SUBMIT_LUA = """\
local P, Q, id, reply, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[10], ARGV[9]
if ARGV[13] ~= '' then
  local k = P .. ':k:' .. ARGV[13]
  local old = redis.call('GET', k)
  if old then
    local w = P .. ':t:' .. old .. ':w'
    if reply ~= '' then
      redis.call('SADD', w, reply)
      redis.call('PEXPIRE', w, ttl)
      if redis.call('EXISTS', P .. ':r:' .. old) == 1 then
        redis.call('RPUSH', reply, old)
        redis.call('PEXPIRE', reply, 86400000)
      end
    end
    return old
  end
  redis.call('SET', k, id, 'PX', ttl)
end
redis.call('HSET', P .. ':t:' .. id, 'v', '1', 'name', ARGV[4], 'arg', ARGV[5],
  'attempts', ARGV[6], 'timeout', ARGV[7], 'backoff', ARGV[8], 'ttl', ttl,
  'reply', reply, 'queue', Q, 'state', 'queued', 'attempt', '0', 'submitted', ARGV[12])
if tonumber(ARGV[11]) > tonumber(ARGV[12]) then
  redis.call('ZADD', P .. ':d:' .. Q, ARGV[11], id)
else
  redis.call('XADD', P .. ':q:' .. Q, '*', 'id', id)
end
return id
"""

CANCEL_LUA = """\
local P, id = ARGV[1], ARGV[2]
local t, r = P .. ':t:' .. id, P .. ':r:' .. id
local f = redis.call('HMGET', t, 'state', 'queue', 'ttl', 'reply')
if not f[1] then return -2 end
if f[1] ~= 'queued' or redis.call('EXISTS', r) == 1 then return -16 end
local ttl = f[3] or '86400000'
redis.call('HSET', r, 'rc', '-125', 'msg', 'cancelled', 'data', '', 'worker', '',
  'attempts', '0')
redis.call('PEXPIRE', r, ttl)
redis.call('HSET', t, 'state', 'cancelled')
redis.call('PEXPIRE', t, ttl)
if f[2] then redis.call('ZREM', P .. ':d:' .. f[2], id) end
local function tell(list)
  redis.call('RPUSH', list, id)
  redis.call('PEXPIRE', list, 86400000)
end
if f[4] and f[4] ~= '' then tell(f[4]) end
for _, w in ipairs(redis.call('SMEMBERS', t .. ':w')) do tell(w) end
return 0
"""


def error_name(rc):
    """The name of a (negative) weft error code: 'EDOM', 'ENOTASK', ..."""
    return _WEFT_ERRORS.get(rc) or errno.errorcode.get(-rc, str(rc))


class TaskError(Exception):
    """A task's outcome was a failure: rc (negative), name ('EDOM'), message (the
    worker's `msg` field)."""

    def __init__(self, rc, name, message):
        super().__init__(rc, name, message)
        self.rc, self.name, self.message = rc, name, message

    def __str__(self):
        return "task failed: %s (%d)%s" % (
            self.name, self.rc, ": " + self.message if self.message and
            self.message != self.name else "")


def _ms(seconds):
    return str(int(seconds * 1000))


def _now_ms():
    return int(time.time() * 1000)        # ms since the Unix epoch, as the workers compare


class Task:
    """A submitted task. Its result is read from the server; one Task may be waited for
    from several threads."""

    def __init__(self, client, task_id):
        self.client, self.id = client, task_id
        self._outcome = None                # (rc, msg, data) once known

    def _read(self):
        rc, msg, data = self.client.redis.hmget(self.client._key("r", self.id),
                                                "rc", "msg", "data")
        if rc is not None:
            self._outcome = (int(rc), (msg or b"").decode(errors="replace"), data or b"")
        return self._outcome

    def done(self):
        """True once the result is recorded (does not wait)."""
        return (self._outcome or self._read()) is not None

    def result(self, timeout=None):
        """The result bytes; raises TaskError for a failure, TimeoutError if none came
        within timeout seconds (None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        c = self.client
        while not (self._outcome or self._read()):
            left = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError("no result for task %s" % self.id)
            # A wake-up when any of this client's tasks is recorded; the ids popped are
            # not ours to keep (every waiter reads its own result hash after a wake-up).
            c.redis.execute_command("BLMPOP", max(left, 0.01), 1, c.reply_key,
                                    "LEFT", "COUNT", 1000)
        rc, msg, data = self._outcome
        if rc < 0:
            raise TaskError(rc, error_name(rc), msg)
        return data

    def cancel(self):
        """Cancels the task if it has not begun (its result becomes ECANCELED): True if
        it did, False if it was running, done or unknown."""
        args = [self.client.prefix, self.id, _now_ms()]
        return self.client._cancel(keys=[], args=args) == 0

    def __repr__(self):
        return "Task(%r)" % self.id


class Client:
    """A submitter: a redis URL (redis://, unix://...) or a redis.Redis (without
    decode_responses), and the key prefix the workers use."""

    def __init__(self, url_or_redis, prefix="weft"):
        if isinstance(url_or_redis, str):
            url_or_redis = redis.Redis.from_url(url_or_redis)
        if url_or_redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("weft_dist needs a redis.Redis without decode_responses")
        self.redis, self.prefix = url_or_redis, prefix
        self.client_id = os.urandom(8).hex()              # 16 hex, as weft's clients
        self.reply_key = self._key("c", self.client_id)
        self._counter, self._lock = 0, threading.Lock()
        # EVALSHA, loaded again (SCRIPT LOAD) on NOSCRIPT after a server restart.
        self._submit = self.redis.register_script(SUBMIT_LUA)
        self._cancel = self.redis.register_script(CANCEL_LUA)

    def _key(self, kind, name):
        return "%s:%s:%s" % (self.prefix, kind, name)

    def submit(self, name, arg=b"", queue="default", attempts=1, backoff=0.0, timeout=0.0,
               delay=0.0, idempotency_key=None, result_ttl=86400.0):
        """Submits task `name` with argument bytes `arg`; times in seconds. Returns its
        Task (for a repeated idempotency key, the first task's)."""
        if not name or not queue or attempts < 1 or min(backoff, timeout, delay) < 0 \
                or result_ttl < 0.001 or idempotency_key == "":
            raise ValueError("bad task options")
        # 128 random bits, as weft's clients: the id is the capability to read the result
        # (docs/DIST.md), so it must not be guessable from another (a counter was).
        task_id = "%s-%s" % (self.client_id, os.urandom(16).hex())
        now = _now_ms()
        not_before = now + int(delay * 1000) if delay > 0 else 0
        args = [self.prefix, queue, task_id, name, bytes(arg), str(attempts), _ms(timeout),
                _ms(backoff), _ms(result_ttl), self.reply_key, str(not_before), str(now),
                idempotency_key or ""]
        return Task(self, self._submit(keys=[], args=args).decode())

    def task(self, task_id):
        """A Task for an id submitted earlier (by any client)."""
        return Task(self, task_id)

    def inspect(self, queue="default"):
        """The queue at a glance, as weft_dist_inspect: queued, running, delayed and dead
        counts, and workers {name: {pending, last_heartbeat (ms epoch), alive}}."""
        r, q = self.redis, self._key("q", queue)
        entries = r.xlen(q)
        running, workers = 0, {}
        try:
            summary = r.xpending(q, "workers")
            running = summary["pending"]
            for cons in summary["consumers"] or []:
                workers[cons["name"].decode()] = {"pending": int(cons["pending"]),
                                                  "last_heartbeat": 0, "alive": False}
        except redis.ResponseError:         # no queue or no group yet
            pass
        for name, beat in r.hgetall(self.prefix + ":workers").items():
            w = workers.setdefault(name.decode(), {"pending": 0})
            w["last_heartbeat"] = int(beat)
            w["alive"] = r.exists(self._key("w", name.decode())) == 1
        return {"queued": max(entries - running, 0), "running": running,
                "delayed": r.zcard(self._key("d", queue)),
                "dead": r.llen(self._key("dead", queue)), "workers": workers}
