/* hook/internal.h — libweft_hook's private header: libc's own functions, the rule that
 * decides whether a call is made cooperative, and the wait every hooked call uses.
 *
 * libweft_hook (docs/HOOKS.md) defines read, write, poll, connect, nanosleep, getaddrinfo
 * and the rest under their libc names. Linked before libc (or preloaded), its definitions
 * are the ones every library of the program calls. Each one asks one question first —
 * hook__active(): is the caller a coroutine, with hooks not switched off for its thread?
 * — and if not, calls libc's function, found with dlsym(RTLD_NEXT). In a coroutine, a call
 * that would block instead tries without blocking (MSG_DONTWAIT, RWF_NOWAIT, a descriptor
 * made non-blocking for a moment) and, when the answer is EAGAIN, parks the coroutine in
 * weft_io_wait / weft_io_poll / weft_sleep until the descriptor is ready, then tries again:
 * the caller sees the blocking call it made, its thread runs the loop's other coroutines.
 *
 * Only libweft's public API is used (this is a library of its own, over libweft.so).
 */
#ifndef WEFT_HOOK_INTERNAL_H
#define WEFT_HOOK_INTERNAL_H

#include <weft.h>
#include <weft/hook.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HOOK_EXPORT __attribute__((visibility("default")))

/* libc's functions, resolved on first use (a call may come before any constructor of
 * ours has run: another library's constructor, say). */
struct hook_real {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*close)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                   const sigset_t *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
                       socklen_t, int);
    struct hostent *(*gethostbyname)(const char *);
    struct hostent *(*gethostbyname2)(const char *, int);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                           struct hostent **, int *);
    int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
                            struct hostent **, int *);
};

extern struct hook_real hook__real;
/* Fills hook__real (idempotent; racing callers store the same pointers). Dies with a
 * message if libc lacks one: a program cannot run half hooked. */
void hook__resolve(void);

#define REAL(name) \
    (__builtin_expect(__atomic_load_n(&hook__real.name, __ATOMIC_RELAXED) != NULL, 1) \
         ? __atomic_load_n(&hook__real.name, __ATOMIC_RELAXED) \
         : (hook__resolve(), __atomic_load_n(&hook__real.name, __ATOMIC_RELAXED)))

/* Set by weft_hook_set_enabled(false) for the calling thread. */
extern __thread bool hook__off __attribute__((tls_model("initial-exec")));

/* The one check every hooked call makes first. */
static inline bool hook__active(void)
{
    return !hook__off && weft_in_coroutine();
}

/* ---- waiting (wait.c) ----------------------------------------------------------------- */

/* Deadlines are absolute, on weft_now()'s clock; HOOK_NEVER is none. */
#define HOOK_NEVER INT64_MAX

/* Turns a timeval timeout of a socket (SO_RCVTIMEO / SO_SNDTIMEO; zero is none) into a
 * deadline from now. */
int64_t hook__sockopt_deadline(int fd, int opt);

/* Parks the calling coroutine until fd is ready for dir (WEFT_IO_READ / WEFT_IO_WRITE) or
 * the deadline passes. gen is fd's close generation read when the call began (so a close
 * between the call's first try and its wait is seen too). Returns 0 (ready: try again),
 * -EAGAIN (the deadline passed: the caller's own timeout), -ETIMEDOUT (a deadline
 * scope's), -ECANCELED, -EBADF (the descriptor was closed meanwhile, by a hooked close),
 * -ENOMEM. Coroutine only. */
int hook__wait(int fd, unsigned dir, int64_t deadline, uint32_t gen);

/* errno for a weft error a hooked call must report: -ECANCELED is ECANCELED, never EINTR
 * (libraries retry on EINTR, and a cancelled coroutine would spin), -ETIMEDOUT ETIMEDOUT. */
static inline int hook__fail(int err)
{
    errno = -err;
    return -1;
}

/* True when the descriptor is non-blocking as its owner set it (F_GETFL); -1 on EBADF. */
int hook__nonblocking(int fd);

/* True for descriptors that are always ready (regular files, directories, block devices):
 * their calls go to libc as they are. */
bool hook__always_ready(int fd);

/* ---- descriptors closed while waited on (fd.c) ---------------------------------------- */

/* fd's close generation (0 for fds beyond the table). */
uint32_t hook__fd_gen(int fd);
/* True if fd was closed (by a hooked close, dup2 or dup3) since gen was read. */
bool hook__fd_closed_since(int fd, uint32_t gen);

#endif /* WEFT_HOOK_INTERNAL_H */
