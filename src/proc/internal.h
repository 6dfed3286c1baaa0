/* proc/internal.h — what the files of the proc layer share: the subprocess object and the
 * spawner.
 *
 * Layer rule: proc uses every layer above it in docs/ARCHITECTURE.md (core ... net) and is
 * used by none of them.
 *
 * Files: spawn.c starts a child (clone3 / clone, the code the child runs before exec, the
 * PATH search); subprocess.c owns the handle (pipes, wait and reaping, signals, destroy,
 * detach and the list of detached children); communicate.c the transfers (communicate,
 * run).
 */
#ifndef WEFT_PROC_INTERNAL_H
#define WEFT_PROC_INTERNAL_H

#include "net/internal.h"

#include <weft/proc.h>
#include <weft/process.h>

/* What communicate has read from one output pipe and not yet handed back. */
typedef struct weft__capture {
    char *buf;
    size_t len, cap;
    bool eof;                         /* the pipe has ended */
    bool over;                        /* more than the handle's max_output arrived: every
                                         later read of this pipe is -EMSGSIZE */
} weft__capture;

/* A running (or ended) child.
 *
 * pid, pidfd and the streams are set at start and never change (destroy and detach close
 * the streams). `reaped`, `lost` and `code` are
 * written once, under `mu`, by whoever reaps the child (a waiter, a signal sender that
 * found it ended, destroy); readers that see reaped (acquire) read code without the lock.
 * The communicate fields belong to the one communicate caller at a time (and to the
 * coroutines it runs, which it waits for before returning). */
struct weft_subprocess {
    pid_t pid;
    int pidfd;
    weft__mutex mu;                   /* orders reapers: one waitid at a time */
    _Atomic bool reaped;
    bool lost;                        /* reaped by somebody else: the status is lost */
    int code;                         /* the return code (Python's), once reaped */
    _Atomic(weft_event *) reaped_ev;  /* made on demand: set once reaped, for a second
                                         coroutine of one loop waiting (see wait) */
    weft_stream *io[3];               /* the parent's pipe ends (NULL: not a pipe) */
    /* communicate */
    bool comm_started;
    bool input_done;                  /* all written (or the child stopped reading), and
                                         stdin closed */
    const char *input;                /* what the writer sends: the caller's bytes, or
                                         input_copy */
    const void *input_arg;            /* the caller's pointer, for "the same input again" */
    char *input_copy;                 /* a compact caller's input lying on its stack: a
                                         copy, since the writer child sends it while the
                                         caller is parked (freed with the handle) */
    size_t input_len, input_off;
    weft__capture cap[2];             /* stdout, stderr */
    size_t max_output;                /* opts' max_output (0: no limit); set at start */
    struct weft_subprocess *next_detached;  /* on the list of detached children */
};

/* ---- spawn.c ---------------------------------------------------------------------------- */

/* Where each of the child's descriptors 0, 1, 2 comes from. */
enum { WEFT__SRC_KEEP = -1, WEFT__SRC_DEVNULL = -2 };

/* Everything the child needs, prepared by the parent (the child must not allocate: it
 * shares the parent's memory until it execs). */
typedef struct weft__spawn_req {
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    int src[3];                       /* an fd to put at 0, 1, 2; WEFT__SRC_KEEP: leave it;
                                         WEFT__SRC_DEVNULL: open /dev/null */
    bool new_session;
    int process_group;                /* -1: none */
    const int *keep;                  /* fds >= 3 kept open (sorted, distinct) */
    size_t nkeep;
} weft__spawn_req;

/* Starts the child described by req. On success returns 0, with its pid and a pidfd
 * (close-on-exec). On failure (the child's own failures before exec included: that child
 * has been reaped) returns -errno and leaves nothing behind. Any context. A thread blocks
 * until the child has called exec or exited; a coroutine hands the start to a thread of the
 * spawn pool (its loop runs meanwhile) and waits by the hand-off rule (weft_to_thread's:
 * cancelled before the start began, -ECANCELED and no child; once begun, its outcome). */
int weft__spawn(const weft__spawn_req *req, pid_t *pid, int *pidfd);

/* The spawning method: 0 not chosen yet, then one of these (tests may set it before a
 * start, to run the fallbacks on a system that has clone3). */
enum {
    WEFT__SPAWN_CLONE3 = 1,           /* clone3: CLONE_PIDFD, CLONE_CLEAR_SIGHAND */
    WEFT__SPAWN_CLONE = 2,            /* clone + CLONE_PIDFD; handlers reset in the child;
                                         an error pipe (memory may not be shared, as under
                                         Valgrind or qemu) */
    WEFT__SPAWN_CLONE_PIDFD_OPEN = 3, /* as 2, without CLONE_PIDFD: pidfd_open after */
};
extern _Atomic int weft__spawn_method;

/* ---- subprocess.c ----------------------------------------------------------------------- */

/* Reaps p if it has ended (waitid WNOHANG): 0 (reaped, now or before: p->code holds the
 * code, or p->lost is set), -EAGAIN (still running), or waitid's error. Any context; never
 * blocks. */
int weft__subprocess_try_reap(weft_subprocess *p);

/* Waits (pidfd readiness) until p is reaped or the absolute deadline. 0, -ETIMEDOUT,
 * -ECANCELED. */
int weft__subprocess_wait_until(weft_subprocess *p, int64_t deadline);

/* Sends SIGKILL unless p has been reaped, then waits for it, shielded from cancellation
 * and deadline scopes. */
void weft__subprocess_kill_and_reap(weft_subprocess *p);

/* Waits until fd is ready for `events` or the absolute deadline (weft_io_wait), also in a
 * pool job, whose cancellation it notices within a millisecond. */
int weft__proc_wait_fd(int fd, unsigned events, int64_t deadline);

/* A handle for a child started otherwise (process.c's fork), with no pipes: waits, signals
 * and destroy as for any subprocess. Takes pidfd over. NULL: no memory. */
weft_subprocess *weft__subprocess_adopt(pid_t pid, int pidfd);

/* ---- signal.c: around fork (process.c) ------------------------------------------------- */


/* ---- process.c ---------------------------------------------------------------------------- */

/* The pidfd of a process started by weft_process_start (owned by the handle). */
int weft__process_pidfd(const weft_process *p);
/* Test hook: while > 0, weft_process_start fails with -EAGAIN (fork's error when the
 * process limit is reached; root is exempt from RLIMIT_NPROC, so tests cannot cause it)
 * and counts one down. */
extern _Atomic long weft__process_fail_next;
/* For tests: how many times a process pool's manager, out of memory, put off a read or a
 * dispatch to try again. */
extern _Atomic unsigned long weft__procpool_memory_retries;

/* ---- the process pool's result frame (procpool.c), as the manager reads it from a
 * worker; the fuzzer (tests/fuzz/fuzz_procpool.c) calls the decoder directly ---------- */

/* A result frame on the wire: this header, then len bytes (the worker's native byte order:
 * both ends are one program, forked). id 0 is the worker's greeting. */
typedef struct weft__pp_result_hdr {
    uint64_t id;
    int64_t rc;
    uint64_t len;
} weft__pp_result_hdr;

/* One decoded frame: data points into the buffer given to the decoder. */
typedef struct weft__pp_frame {
    uint64_t id;
    int rc;
    size_t len;
    const unsigned char *data;
} weft__pp_frame;

/* Decodes the frame at the start of buf (have bytes): the bytes it takes (> 0) with *f
 * filled; 0 if the frame is not whole yet (nothing is allocated for it: the caller reads
 * on only while the frame is within max_len); -EMSGSIZE if its length is over max_len
 * (the caller must not wait for those bytes); -EPROTO if it is malformed: a return code
 * outside int, or bytes with an error (a worker never sends those). Any context. */
ssize_t weft__procpool_decode(const void *buf, size_t have, size_t max_len,
                              weft__pp_frame *f);

#endif /* WEFT_PROC_INTERNAL_H */
