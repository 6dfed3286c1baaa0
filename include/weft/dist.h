/* weft/dist.h — tasks across machines through Redis (RQ's and Celery's job), whose futures
 * lose nothing when a worker is killed.
 *
 * Part of libweft_dist (link with -lweft_dist -lweft; it needs hiredis). Not included by
 * <weft.h>. The message format, for other languages, is in docs/DIST.md (version 1).
 *
 * A client submits a named task with an argument of bytes to a queue and gets a future
 * whose result is bytes; it mixes with every other future (weft_wait, as_completed, from
 * threads and coroutines). Workers — programs that registered the task functions by name,
 * on any machine that reaches the server — take tasks from the queue and run them in
 * coroutines, threads or processes.
 *
 * The promise: at-least-once execution, exactly-once result. A task is taken by one worker
 * at a time; if that worker dies (kill -9, a crash, the machine gone), its heartbeat stops,
 * and within a few seconds (heartbeat_ttl) a live worker takes its tasks over and runs them
 * again (a worker also takes back its own tasks whose run was lost: a restart under the
 * same name, an outcome lost with a broken connection); a task's result is recorded once,
 * atomically on the server, and a second run after a takeover cannot overwrite it or
 * deliver it twice. A task whose runs are lost three times (it kills every worker that
 * takes it) ends with WEFT_ETASKLOST. A task that fails (returns a negative code) is
 * retried until it has failed `attempts` times, after a back-off; its last failure is its
 * result, and it goes to the queue's dead letters. A worker that cannot reach the server
 * for longer than heartbeat_ttl looks dead too: its tasks may then run twice at once.
 *
 * One Redis server (7.0 or later; not a cluster: the scripts name keys they compute). With
 * the server's append-only file on, nothing accepted survives only in memory: a restart
 * loses no task; clients and workers reconnect by themselves. Without it a restart loses
 * the tasks it held, and their futures wait until the client is destroyed (-ESHUTDOWN).
 * Arguments and results are limited by max_message (64 MiB by default; at most the
 * server's bulk-string size, 512 MB by default).
 *
 * What a worker reads from the server is checked before use (docs/DIST.md, "What a worker
 * trusts"): a task message carries a name and bytes, never code; a malformed or oversized
 * message is dead-lettered (WEFT_EBADTASK, -EMSGSIZE), never a crash or an unbounded
 * allocation. Task ids are 128 random bits (getrandom): a result is read through its id.
 *
 * Worker modes and timeouts: PROCESSES kills a task past its timeout (and a task that
 * crashes takes only its process down); COROUTINES bounds the task's weft calls by the
 * timeout (a deadline scope: a task that calls no weft function is not stopped); THREADS
 * cannot stop a task: its -ETIMEDOUT is reported when it returns, and a task that never
 * returns holds its slot for ever. Use PROCESSES for tasks that may hang.
 */
#ifndef WEFT_DIST_H
#define WEFT_DIST_H

#include "core.h"
#include "future.h"
#include "procpool.h"                   /* weft_proc_task: a task's function */

#ifdef __cplusplus
extern "C" {
#endif

/* A task went to the dead letters without a result of its own: three of its runs were lost
 * with workers that died running it. */
#define WEFT_ETASKLOST (-4100)
/* No worker on the task's queue knows its name (a worker that takes it fails it at once:
 * a queue's workers are expected to know the same tasks; route others elsewhere). */
#define WEFT_ENOTASK (-4101)
/* The task's record was malformed or gone (expired) when a worker took it. */
#define WEFT_EBADTASK (-4102)

typedef struct weft_dist_client weft_dist_client;
typedef struct weft_dist_worker weft_dist_worker;

/* Options for weft_dist_client_create. Initialise with WEFT_DIST_CLIENT_OPTS_INIT. */
typedef struct weft_dist_client_opts {
    const char *prefix;                 /* the keys' prefix (default "weft") */
    int64_t connect_timeout;            /* ns (default 5 s) */
    int64_t submit_timeout;             /* ns: a submit not accepted by the server by then
                                           fails with -ETIMEDOUT (default 30 s) */
    size_t max_message;                 /* the largest argument submitted and result read,
                                           in bytes (0: WEFT_DIST_MAX_MESSAGE): a larger
                                           argument fails the submit (-EMSGSIZE), a larger
                                           result the task's future (-EMSGSIZE; it is not
                                           read); over 512 MiB: -EINVAL */
} weft_dist_client_opts;
/* The default limit of a task's argument and result (weft_dist_client_opts.max_message,
 * weft_dist_worker_opts.max_message): 64 MiB. */
#define WEFT_DIST_MAX_MESSAGE ((size_t)64 << 20)
#define WEFT_DIST_CLIENT_OPTS_INIT { NULL, 5 * WEFT_SEC, 30 * WEFT_SEC, 0 }

/* A task's options. Initialise with WEFT_DIST_TASK_OPTS_INIT. */
typedef struct weft_dist_task_opts {
    const char *queue;                  /* default "default" */
    int attempts;                       /* failures allowed before the last one is the
                                           result (0 or 1: no retry); runs lost with a
                                           dead worker do not count (three of those:
                                           ETASKLOST) */
    int64_t backoff;                    /* ns before the run after the 1st failure,
                                           doubling after each; default 0 */
    int64_t timeout;                    /* ns: a run past it fails with -ETIMEDOUT (killed in
                                           process workers; cooperative in coroutines and
                                           threads, see weft_dist_worker_opts); 0: none */
    int64_t delay;                      /* ns from now before it may run; 0: at once */
    int64_t eta;                        /* absolute time (ns since the Unix epoch, as
                                           CLOCK_REALTIME) before which it may not run;
                                           0: none (the later of delay and eta wins) */
    const char *idempotency_key;        /* a second submit with the same key, within
                                           result_ttl of the first submit, gives the first
                                           task's outcome instead of a new task; NULL:
                                           none */
    int64_t result_ttl;                 /* ns the result is kept on the server after it is
                                           recorded (at least 1 ms; 0: the default, 1 day) */
} weft_dist_task_opts;
#define WEFT_DIST_TASK_OPTS_INIT { NULL, 1, 0, 0, 0, 0, NULL, 24 * 3600 * WEFT_SEC }

/* Connects to url (weft/redis.h's forms). opts may be NULL. Errors: -EINVAL, -ENOMEM,
 * weft_redis_connect's. Blocks (a coroutine parks) until connected. */
WEFT_API int weft_dist_client_create(weft_dist_client **c, const char *url,
                                     const weft_dist_client_opts *opts);

/* Submits task `name` with arg (len bytes, copied; NULL when len is 0). *f receives its
 * future; read its outcome with weft_dist_result. Submits from any number of contexts are
 * pipelined over one connection. Errors (of the call): -EINVAL (c, f or name NULL, an
 * empty name or one over 256 bytes, bad options), -EMSGSIZE (len over max_message), -ENOMEM, -ESHUTDOWN (the client is being destroyed). Errors of
 * the future: the task's own negative return code; -ETIMEDOUT (its timeout);
 * WEFT_ETASKLOST, WEFT_ENOTASK, WEFT_EBADTASK; -EMSGSIZE (the result, or for the worker
 * the argument, over a max_message); -ECANCELED; and the submit's failure
 * (-ETIMEDOUT when the server did not take it within submit_timeout, -ECONNRESET when the
 * connection broke before the server answered: it may have been accepted). Any context;
 * never blocks. */
WEFT_API int weft_dist_submit(weft_dist_client *c, weft_future **f, const char *name,
                              const void *arg, size_t len, const weft_dist_task_opts *opts);

/* Waits up to timeout for a task's future and gives its outcome: 0 with *data, *len set to
 * the result bytes (valid until the future is released; not NUL-terminated), or the
 * task's error, with *message (may be NULL) set to the error's name as the worker recorded
 * it ("EDOM"; "" when the error is the submit's own, as -ETIMEDOUT at submit_timeout;
 * valid as data). A wait's own -ETIMEDOUT / -ECANCELED leave the future pending
 * (weft_future_done tells them apart). -EINVAL for a future that is not a dist task's.
 * The future is completed by the client only: weft_future_set_result / _set_error on it
 * are a misuse. Blocks (a coroutine parks). */
WEFT_API int weft_dist_result(weft_future *f, int64_t timeout, const void **data, size_t *len,
                              const char **message);

/* The task's id (its key on the server), for logs and docs/DIST.md's readers. With an
 * idempotency key it becomes the first task's id once the server has answered the
 * submit (before that, the id this submit proposed). */
WEFT_API const char *weft_dist_task_id(weft_future *f);

/* weft_future_cancel on a task's future is a request sent to the server: a task no worker
 * has begun never runs (its future gets -ECANCELED); one already begun goes on, and its
 * outcome stands. */

/* Closes the client: futures still pending fail with -ESHUTDOWN (their tasks go on). Blocks
 * until its threads end. NULL: nothing. */
WEFT_API void weft_dist_client_destroy(weft_dist_client *c);

/* ---- workers ---------------------------------------------------------------------------- */

enum {
    WEFT_DIST_COROUTINES = 0,           /* each task a coroutine on the worker's loop: for
                                           tasks that wait (I/O through weft) */
    WEFT_DIST_THREADS = 1,              /* a thread pool: for CPU work */
    WEFT_DIST_PROCESSES = 2,            /* a process pool (weft/procpool.h): a task that
                                           crashes or hangs is killed, not the worker */
};

/* Options for weft_dist_worker_create. Initialise with WEFT_DIST_WORKER_OPTS_INIT. */
typedef struct weft_dist_worker_opts {
    const char *prefix;                 /* as the clients' (default "weft") */
    const char *queue;                  /* default "default" */
    const char *name;                   /* unique among the live workers; NULL: host.pid */
    int mode;                           /* WEFT_DIST_COROUTINES / THREADS / PROCESSES */
    int concurrency;                    /* tasks run at once; 0: the number of CPUs (1000
                                           for coroutines) */
    int64_t heartbeat;                  /* ns between heartbeats, sent by a thread of the
                                           worker's own: a task holding the loop does not
                                           stop them (0: the default, 1 s) */
    int64_t heartbeat_ttl;              /* ns without a heartbeat after which a worker is
                                           dead and its tasks are taken over (0: the
                                           default, 3 s; raised to 2 heartbeats if less) */
    size_t max_message;                 /* the largest argument a task may bring and result
                                           it may give, in bytes (0: WEFT_DIST_MAX_MESSAGE).
                                           A task whose argument is larger is not run (nor
                                           read: the server checks the size) and is
                                           recorded as -EMSGSIZE and dead-lettered; a
                                           larger result is recorded as -EMSGSIZE; over
                                           512 MiB: -EINVAL */
} weft_dist_worker_opts;
#define WEFT_DIST_WORKER_OPTS_INIT { NULL, NULL, NULL, WEFT_DIST_COROUTINES, 0, WEFT_SEC, \
                                     3 * WEFT_SEC, 0 }

/* Creates a worker connected to url. Register its tasks, then run it. Errors: -EINVAL,
 * -ENOMEM, weft_redis_connect's, the pools' (PROCESSES: weft_procpool_create's). Blocks
 * until connected (and, PROCESSES, until the pool's workers are forked: create it before
 * starting threads). */
WEFT_API int weft_dist_worker_create(weft_dist_worker **w, const char *url,
                                     const weft_dist_worker_opts *opts);

/* Registers task function fn under name (weft_proc_task: arg bytes in, result bytes out by
 * malloc, a negative return an error). Before weft_dist_worker_run. Errors: -EINVAL,
 * -EEXIST, -ENOMEM, -EBUSY (running). */
WEFT_API int weft_dist_worker_register(weft_dist_worker *w, const char *name, weft_proc_task fn);

/* Runs the worker until weft_dist_worker_stop: takes tasks, runs up to `concurrency` at
 * once, records their results, sends heartbeats, takes over dead workers' tasks and moves
 * delayed tasks to the queue when due. From a plain thread it runs its own loop; from a
 * coroutine, on the caller's loop. Returns 0 after a stop; errors: -EINVAL, -EBUSY (already
 * running), -ENOMEM. Blocks. */
WEFT_API int weft_dist_worker_run(weft_dist_worker *w);

/* Stops a running worker. now false (a warm stop, SIGTERM's): takes no more tasks, lets the
 * running ones finish and record their results, then run returns. now true (cold, a second
 * SIGTERM): the running tasks are abandoned (coroutines cancelled, processes killed; a
 * thread's task cannot be stopped: the stop waits for it) and go back to the queue, not
 * counted as a run; tasks taken but not begun stay with the worker's name and are taken
 * over by the other workers. A stop before the run makes the run end at once (a SIGTERM
 * between create and run is not lost). Any context; never blocks (the run it stops may
 * wait, as said). */
WEFT_API int weft_dist_worker_stop(weft_dist_worker *w, bool now);

/* weft_dist_worker_run with Celery's shutdown: SIGTERM or SIGINT once, a warm stop; twice,
 * a cold stop. The signals are watched during the call only. Blocks. */
WEFT_API int weft_dist_worker_run_until_signalled(weft_dist_worker *w);

/* Tasks this worker has recorded results for, and taken over from dead workers. */
WEFT_API unsigned long weft_dist_worker_done(weft_dist_worker *w);
WEFT_API unsigned long weft_dist_worker_taken_over(weft_dist_worker *w);

/* Frees a worker that is not running (stop it and let run return first). NULL: nothing. */
WEFT_API void weft_dist_worker_destroy(weft_dist_worker *w);

/* ---- inspection (rq info, celery inspect) ------------------------------------------------ */

/* A worker, as weft_dist_inspect sees it. */
typedef struct weft_dist_worker_info {
    char name[128];                     /* its name (weft_dist_worker_opts.name) */
    bool alive;                         /* its heartbeat is current */
    int64_t last_heartbeat;             /* ns since the Unix epoch */
    long pending;                       /* tasks it holds (taken, not yet recorded) */
} weft_dist_worker_info;

/* A queue and the workers, as weft_dist_inspect fills it. */
typedef struct weft_dist_info {
    long queued;                        /* in the queue, not yet taken */
    long running;                       /* taken by a worker, result not yet recorded */
    long delayed;                       /* waiting for their time (delay, eta, back-off) */
    long dead;                          /* dead letters */
    size_t nworkers;                    /* workers[0 .. nworkers) */
    weft_dist_worker_info workers[64];  /* the first 64: those holding tasks of the queue,
                                           then every worker in the registry
                                           (P:workers: any queue) — each worker that sent
                                           a heartbeat and has not stopped cleanly (a
                                           clean stop removes its entry; a killed one
                                           stays, alive false) */
} weft_dist_info;

/* Fills *info for a queue (NULL: "default") of the server at url, with prefix (NULL:
 * "weft"). A queue no worker has read yet counts nothing running. On an error *info is
 * all zeros. Errors: -EINVAL, -ENOMEM, weft_redis_connect's, WEFT_EREDIS (the server
 * refused one of its commands — NOPERM for a user without the rights DIST.md lists,
 * NOAUTH for a URL without the server's password, WRONGTYPE for a key of another type),
 * -EPROTO (an answer of an unexpected type), -ETIMEDOUT (a command unanswered for 10 s).
 * Threads and coroutines (it makes a connection of its own); blocks (a coroutine parks)
 * until the answers are in. */
WEFT_API int weft_dist_inspect(const char *url, const char *prefix, const char *queue,
                               weft_dist_info *info);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_DIST_H */
