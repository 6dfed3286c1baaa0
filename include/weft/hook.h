/* weft/hook.h — libweft_hook: blocking C libraries run cooperatively in coroutines
 * (gevent's monkey patching, for C). See docs/HOOKS.md.
 *
 * Not part of <weft.h>: a program that links libweft_hook (`-lweft_hook -lweft`, before
 * libc; pkg-config weft-hook) or runs with LD_PRELOAD=libweft_hook.so gets cooperative
 * libc calls whether or not it includes this header. The header only adds the switch and
 * the counters below.
 *
 * What changes: read, write, readv, writev, recv, recvfrom, recvmsg, send, sendto,
 * sendmsg, connect, accept, accept4, poll, ppoll, select, pselect, epoll_wait,
 * epoll_pwait, sleep, usleep, nanosleep, clock_nanosleep, getaddrinfo, getnameinfo,
 * gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r (and glibc's
 * _FORTIFY_SOURCE forms of read, recv, recvfrom, poll, ppoll), called from a coroutine,
 * park that coroutine instead of blocking its thread; the loop runs the thread's other
 * coroutines meanwhile. Called from a thread (outside any coroutine), they are libc's.
 * A descriptor its owner made blocking still behaves as blocking for the caller (the call
 * returns when done; SO_RCVTIMEO / SO_SNDTIMEO are honoured); one made non-blocking still
 * says EAGAIN. In a coroutine, cancellation makes the call fail with ECANCELED and a
 * deadline scope's expiry with ETIMEDOUT (never EINTR, which libraries retry).
 */
#ifndef WEFT_HOOK_H
#define WEFT_HOOK_H

#include "core.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Switches the hooks off (false) or on again (true, the default) for the calling thread:
 * its coroutines' calls then go to libc and block the thread, for code that must not
 * switch (a library that keeps a thread-local lock across a read, say). Returns the
 * previous setting. Any context; never blocks. */
WEFT_API bool weft_hook_set_enabled(bool on);

/* True when a hooked call made here would park the caller instead of blocking the thread:
 * a coroutine, with hooks on for its thread. Any context; never blocks. */
WEFT_API bool weft_hook_active(void);

/* How many times a hooked call parked a coroutine since the program started (every
 * thread), and how many of those waits ended with a cancellation or a deadline. For tests
 * and monitoring; read without a lock, may lag. Any context; never blocks. */
WEFT_API uint64_t weft_hook_parks(void);
WEFT_API uint64_t weft_hook_interrupts(void);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HOOK_H */
