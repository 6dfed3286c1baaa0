/* weft/proc.h — processes running programs: Python's subprocess module, without its traps.
 *
 * Part of <weft.h>; include that instead of this file. Linux 5.4 or later (pidfds,
 * waitid(P_PIDFD)); 5.9 for close_range (older kernels close descriptors one by one).
 *
 * A weft_subprocess is a running program (Popen): started with an argument vector, an
 * optional environment and working directory; each of its stdin, stdout and stderr
 * inherited, a pipe, /dev/null, a descriptor of the caller's, or (stderr) merged into
 * stdout; optionally in a new session or process group. Every other descriptor is closed in
 * the child, whatever its close-on-exec flag (close_range between the fork and the exec), so
 * a pipe another thread is creating at the same moment never leaks into this child.
 *
 * Each child has a pidfd from the moment it exists (clone3 with CLONE_PIDFD): waiting
 * watches the pidfd (a coroutine's loop keeps running meanwhile; no SIGCHLD handler is
 * needed, and weft installs none), and a signal is sent through it, so it can never reach
 * another process that reused the PID. The application must not reap weft's children
 * itself: a waitpid(-1) elsewhere, or SIGCHLD set to SIG_IGN (the kernel then reaps them),
 * takes the exit status away, and the wait says -ECHILD (it never hangs).
 *
 * The child starts with no signal blocked, with SIGPIPE and SIGXFSZ at their default
 * action (as Python's restore_signals: weft ignores SIGPIPE in the parent once it adopts a
 * pipe), every other signal the parent ignores still ignored (nohup's SIGHUP), and every
 * handled signal at its default (exec does that).
 *
 * Contexts: every call works from threads and coroutines. Waits (wait, communicate, run)
 * suspend only the calling coroutine; a thread blocks (running its loop's coroutines if it
 * has any). Starting a child blocks the calling thread until the child has called exec
 * (the parent is suspended as by vfork: tens of microseconds), not until the program runs.
 * Timeouts are ns from the call (WEFT_FOREVER; 0: do not wait); deadline scopes cut the
 * waits too. Cancellation (docs/CANCELLATION.md): a cancelled wait returns -ECANCELED and
 * leaves the child as it was; what can complete without waiting completes (a child that has
 * already ended is reaped and its return code reported).
 *
 * Several contexts may wait for, and signal, one child at once. communicate is one caller
 * at a time, and the pipes' streams are used by one context at a time (as any stream).
 * Destroy or detach a handle only when no other call on it is in progress.
 *
 * Process-wide state: the spawning method (clone3, or clone on systems that refuse clone3,
 * chosen at the first start) and the list of detached children not yet reaped (see
 * weft_subprocess_detach).
 */
#ifndef WEFT_PROC_H
#define WEFT_PROC_H

#include "stream.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_subprocess weft_subprocess;

/* What one of the child's stdin, stdout, stderr is. */
typedef enum weft_stdio {
    WEFT_STDIO_INHERIT = 0,   /* the parent's own descriptor 0, 1 or 2 */
    WEFT_STDIO_PIPE,          /* a new pipe; the parent's end is a weft stream
                                 (weft_subprocess_stdin / _stdout / _stderr) */
    WEFT_STDIO_DEVNULL,       /* /dev/null */
    WEFT_STDIO_FD,            /* a descriptor of the caller's (stdin_fd...): the child gets a
                                 copy; the caller's stays open and stays the caller's */
    WEFT_STDIO_STDOUT,        /* stderr only: wherever stdout goes (2>&1) */
} weft_stdio;

/* Options for weft_subprocess_start. Initialise with WEFT_SUBPROCESS_OPTS_INIT; more fields
 * may be added at the end. Nothing is kept after the call: strings and arrays are read
 * during it only. */
typedef struct weft_subprocess_opts {
    const char *const *envp;  /* "NAME=value" strings, NULL-terminated; NULL: the caller's
                                 environment (environ) at the call */
    const char *cwd;          /* the child's working directory; NULL: the caller's. A
                                 relative program path is looked up from there (Python's rule) */
    weft_stdio stdin_mode, stdout_mode, stderr_mode;  /* what each of the child's stdin,
                                                         stdout and stderr is */
    int stdin_fd, stdout_fd, stderr_fd;   /* for WEFT_STDIO_FD */
    bool new_session;         /* setsid() in the child (Python's start_new_session) */
    int process_group;        /* -1: the parent's; 0: a new group led by the child; > 0: join
                                 that group (Python's process_group) */
    const int *pass_fds;      /* descriptors (>= 3) the child keeps open under the same numbers
                                 (their close-on-exec flag is cleared in the child); each
                                 must be open in the caller (-EBADF otherwise) */
    size_t n_pass_fds;        /* the number of pass_fds */
    int pipe_size;            /* the pipes' capacity in bytes (F_SETPIPE_SZ); 0: the system's
                                 (64 KiB) */
    const weft_stream_opts *stream_opts;  /* for the pipes' streams; NULL: the defaults */
    size_t max_output;        /* the most bytes communicate (and run) keeps from each of
                                 stdout and stderr; more is the error -EMSGSIZE (see
                                 weft_subprocess_communicate). 0: no limit (Python's rule:
                                 everything the child writes is kept in memory) */
} weft_subprocess_opts;

/* weft_subprocess_opts with every field at its default (each stream inherited). */
#define WEFT_SUBPROCESS_OPTS_INIT { NULL, NULL, WEFT_STDIO_INHERIT, WEFT_STDIO_INHERIT, \
    WEFT_STDIO_INHERIT, -1, -1, -1, false, -1, NULL, 0, 0, NULL, 0 }

/* What communicate and run hand back. out and err are the bytes read from the child's stdout
 * and stderr pipes, NUL-terminated (the NUL is not counted in the length), owned by the
 * caller (weft_subprocess_result_free); NULL when that stream was not a pipe. */
typedef struct weft_subprocess_result {
    int returncode;           /* as Python's: the exit status (0..255), or minus the number of
                                 the signal that ended the child (-9 for SIGKILL) */
    char *out;                /* the bytes read from stdout (above) */
    size_t out_len;           /* their number */
    char *err;                /* the bytes read from stderr (above) */
    size_t err_len;           /* their number */
} weft_subprocess_result;

/* The error weft_subprocess_run returns with WEFT_SUBPROCESS_CHECK when the child's return
 * code is not 0 (Python's CalledProcessError); the result still holds the code and the
 * output. An errno value no other call of this API returns ("Remote I/O error"). */
#define WEFT_SUBPROCESS_FAILED (-EREMOTEIO)

/* Starts argv[0] with arguments argv (NULL-terminated; argv[0] is also the program's
 * argv[0]). A name without '/' is searched in the PATH of the child's environment (the
 * caller's PATH when envp is NULL; "/bin:/usr/bin" if unset), as execvpe does (no /bin/sh
 * retry for a file without #!). opts may be NULL (everything inherited).
 * *p receives the handle; give it back with weft_subprocess_destroy (or _detach).
 *
 * Errors, with nothing left behind (no child, no descriptor): -EINVAL (p or argv NULL,
 * argv[0] NULL, a bad mode in opts, WEFT_STDIO_FD with a negative descriptor,
 * WEFT_STDIO_STDOUT for stdin or stdout, a pass_fds entry < 3, process_group < -1,
 * pipe_size < 0); -EBADF (a WEFT_STDIO_FD descriptor or a pass_fds entry that is not
 * open); -ENOMEM; -EMFILE
 * and -ENFILE (no descriptor for a pipe or the pidfd); -EAGAIN (the process limit);
 * -ENOSYS (a kernel older than 5.4); F_SETPIPE_SZ's errors for pipe_size (-EPERM).
 * The child's own failures before the program runs are this call's errors too, never an
 * exit code 127: exec's errors (-ENOENT: no such program, or no such working directory;
 * -EACCES: not executable, or the directory is not searchable; -ENOEXEC, -ENOTDIR, -E2BIG,
 * -ETXTBSY, ...), chdir's (-ENOENT, -ENOTDIR, -EACCES), setsid's and setpgid's (-EPERM).
 * Any context. A thread blocks until the child has called exec. A coroutine hands the start
 * to one of weft's "weft-spawn" threads and waits for it: its loop runs meanwhile, and the
 * starts of several coroutines proceed at once. There the hand-off rule applies (as for
 * weft_to_thread): a coroutine cancelled (or past a scope's deadline) before the start
 * began gets -ECANCELED (-ETIMEDOUT) and no child; once begun, the start's own outcome. The
 * child is then made by that thread: what Linux keeps per thread (CPU affinity, scheduling
 * policy and nice value set with sched_* for one thread only) comes from it, not from the
 * coroutine's thread. */
WEFT_API int weft_subprocess_start(weft_subprocess **p, const char *const argv[],
                                   const weft_subprocess_opts *opts);

/* The child's process id (for logs and kill(1); signal it with weft_subprocess_send_signal,
 * which cannot hit a recycled PID). */
WEFT_API pid_t weft_subprocess_pid(const weft_subprocess *p);

/* The child's pidfd (readable once the child has ended), for callers that watch it
 * themselves. It stays the subprocess's: do not close it or wait on it with waitid. */
WEFT_API int weft_subprocess_pidfd(const weft_subprocess *p);

/* The parent's end of a pipe (WEFT_STDIO_PIPE) as a stream, or NULL when that stream is not
 * a pipe. Borrowed: valid until weft_subprocess_destroy / _detach, which close it; do not
 * close it yourself. weft_stream_write_eof on stdin lets the child see the end of its
 * input. Reading stdout line by line while the child runs is the common use. */
WEFT_API weft_stream *weft_subprocess_stdin(weft_subprocess *p);
WEFT_API weft_stream *weft_subprocess_stdout(weft_subprocess *p);
WEFT_API weft_stream *weft_subprocess_stderr(weft_subprocess *p);

/* Waits until the child has ended, reaps it, and stores its return code (Python's rule,
 * see weft_subprocess_result) in *returncode (may be NULL). Waiting again, from any
 * context, returns the same code at once. Several contexts may wait at once.
 * Errors: -EINVAL (p NULL, bad timeout); -ETIMEDOUT and -ECANCELED (the child is untouched
 * and still waitable); -ECHILD (the exit status was taken by somebody else, through the
 * pidfd or the PID: it is lost). Blocks (see above) until the child ends. */
WEFT_API int weft_subprocess_wait(weft_subprocess *p, int64_t timeout, int *returncode);

/* Sends signal sig (1..SIGRTMAX; 0 checks only) through the pidfd. Returns 0, or -ESRCH
 * once the child has ended (it is reaped then, if it was not: nothing is ever sent to a
 * recycled PID), -EINVAL (p NULL, bad signal number), -EPERM. Sending twice is harmless.
 * Any context; never blocks. terminate sends SIGTERM, kill SIGKILL. */
WEFT_API int weft_subprocess_send_signal(weft_subprocess *p, int sig);
WEFT_API int weft_subprocess_terminate(weft_subprocess *p);
WEFT_API int weft_subprocess_kill(weft_subprocess *p);

/* Popen.communicate: writes input (may be NULL) to the child's stdin while reading its
 * stdout and stderr, concurrently (no deadlock, whatever the child writes while it is being
 * fed); then closes stdin (at once when there is no input: the child sees the end of its
 * input), reads until both outputs end, and waits for the child. On success, returns 0 and
 * fills *r (returncode, and out / err for the streams that are pipes: everything the child
 * wrote there that the program had not read through the streams itself; the caller frees
 * them with weft_subprocess_result_free).
 *
 * Timeout and cancellation (-ETIMEDOUT, -ECANCELED): the child keeps running; r is not
 * touched; what has been read is kept (weft_subprocess_captured shows it), and a later call
 * continues where this one stopped and returns everything (Python's rule). The later call
 * must pass the same input (or NULL): input is read from the caller's memory, which must
 * stay valid until a call returns 0 or the handle is destroyed. With no time left (timeout
 * 0, or a deadline scope that has expired) one pass is made without waiting: what is there
 * is taken, and the call completes if that was all. A child that stops reading its input
 * (or has ended) is not an error: writing stops (EPIPE), as in Python. Bytes the program
 * wrote to the stdin stream without draining them are sent first (a timeout or a
 * cancellation while they go drops them, as weft_stream_drain does).
 *
 * Output limit (opts' max_output, when not 0): a child that writes more than max_output
 * bytes to stdout or to stderr makes the call fail with -EMSGSIZE as soon as the excess is
 * read; r is not touched, the capture keeps the first max_output bytes of that stream
 * (weft_subprocess_captured), the rest is not read (what was read beyond is dropped), the
 * child keeps running, and every later communicate returns -EMSGSIZE at once (kill or
 * destroy the child). Memory held per stream: at most about twice max_output (128 KiB at
 * least).
 *
 * Errors: -EINVAL (p or r NULL, bad timeout, input given but stdin is not a pipe, input
 * other than the first call's), -ENOMEM, -ETIMEDOUT, -ECANCELED, -EMSGSIZE (above),
 * -ECHILD (as for wait), the pipes' read errors (-EIO...), -EBUSY (stdin's pipe is
 * registered with another thread's loop and cannot be closed from here: see
 * weft_stream_write_eof).
 * Blocks until the outputs end and the child has ended. From a coroutine, or a thread whose
 * loop has live coroutines, the transfers run as three coroutines of the caller's loop (a
 * task group); from a plain thread, in one poll(2) loop. One caller at a time. */
WEFT_API int weft_subprocess_communicate(weft_subprocess *p, const void *input, size_t len,
                                         int64_t timeout, weft_subprocess_result *r);

/* What communicate has read so far from stdout (fd 1) or stderr (fd 2) and not yet handed
 * back (Python's TimeoutExpired.output / .stderr). Borrowed: valid until the next call on p.
 * NULL if that stream is not a pipe or fd is neither 1 nor 2; *len (may be NULL) gets the
 * length. */
WEFT_API const char *weft_subprocess_captured(const weft_subprocess *p, int fd, size_t *len);

/* Frees out and err and zeroes *r (NULL, or a zeroed result: nothing). */
WEFT_API void weft_subprocess_result_free(weft_subprocess_result *r);

/* Closes the handle. If the child has not been reaped: it is reaped if it has ended, and
 * otherwise killed (SIGKILL) and reaped (a handle leaves no zombie and no orphan behind, as
 * boost.process's child; wait first for a graceful end, or detach to let it run). The
 * parent's pipe ends are closed first (bytes buffered in the stdin stream are dropped).
 * Blocks until the killed child is gone (normally microseconds; a process stuck in the
 * kernel delays it), shielded from cancellation and deadline scopes. NULL: nothing. */
WEFT_API void weft_subprocess_destroy(weft_subprocess *p);

/* Closes the handle and lets the child run on (a daemon, a program the user keeps). The
 * parent's pipe ends are closed (the child reads end of input, and a write to a closed
 * output pipe fails with EPIPE or SIGPIPE: use DEVNULL for children meant to outlive the
 * handle). weft keeps the child's pidfd on a process-wide list and reaps the child at a
 * later weft_subprocess_start, _destroy or _detach once it has ended (Python's rule for
 * Popen objects dropped while running): its zombie lasts until then at most. NULL:
 * nothing. Any context; never blocks. */
WEFT_API void weft_subprocess_detach(weft_subprocess *p);

/* subprocess.run: start, communicate(input, timeout), and destroy. flags: */
#define WEFT_SUBPROCESS_CAPTURE 1u  /* stdout and stderr to pipes, captured in r (Python's
                                       capture_output); opts must leave them INHERIT */
#define WEFT_SUBPROCESS_CHECK   2u  /* a return code other than 0 is an error:
                                       WEFT_SUBPROCESS_FAILED */
/* input (may be NULL) makes stdin a pipe (opts must leave stdin INHERIT or PIPE); without
 * it stdin is as opts say. The timeout covers the whole run: when it passes (or the calling
 * coroutine is cancelled), the child is killed (SIGKILL) and reaped, and -ETIMEDOUT
 * (-ECANCELED) is returned with r holding what was read so far and the killed child's
 * return code (Python's TimeoutExpired). If everything was over when the time ran out (the
 * outputs had ended and the child had exited), the outcome is reported, not a timeout.
 * *r is always set (zeroed first): free it with weft_subprocess_result_free whatever the
 * call returned. Returns 0; WEFT_SUBPROCESS_FAILED (CHECK); weft_subprocess_start's errors;
 * communicate's (-EMSGSIZE: more output than opts' max_output; the child is killed and r
 * holds the first max_output bytes and the child's returncode — usually -9 (SIGKILL), but
 * the child may have exited by itself before the kill, e.g. after writing everything, and
 * then it is its own exit status, 0 included: the return value -EMSGSIZE is the sign of
 * the limit, never returncode). Blocks until the child has ended. */
WEFT_API int weft_subprocess_run(weft_subprocess_result *r, const char *const argv[],
                                 const weft_subprocess_opts *opts, const void *input,
                                 size_t input_len, int64_t timeout, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_PROC_H */
