/* tests/net_check.h — for the network tests: knowing that a call on a socket is in progress
 * before closing the socket under it (a bare socket closed before the call starts would be
 * a use after free, see weft_socket_close; and a close that comes first tests nothing). */
#ifndef WEFT_TESTS_NET_CHECK_H
#define WEFT_TESTS_NET_CHECK_H

#include "check.h"
#include "net/internal.h"

/* The references s has now: take it while no call is in progress (its owner's, plus one per
 * stream over it). */
static inline uint32_t socket_refs(weft_socket *s)
{
    return atomic_load(&s->refs);
}

/* Waits until a call on s is in progress (more references than idle_refs), then a little
 * longer, so that a reader that first takes bytes already there is most likely parked in
 * its next call. Yields meanwhile (a coroutine peer gets to run). */
static inline void wait_call_in_progress(weft_socket *s, uint32_t idle_refs)
{
    int64_t t0 = weft_now();
    while (socket_refs(s) <= idle_refs) {
        CHECK(weft_now() - t0 < 10 * WEFT_SEC);
        CHECK_OK(weft_sleep(WEFT_MS / 2));
    }
    CHECK_OK(weft_sleep(2 * WEFT_MS));
}

#endif
