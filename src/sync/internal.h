/* sync/internal.h — shared helpers of the synchronisation primitives. */
#ifndef WEFT_SYNC_INTERNAL_H
#define WEFT_SYNC_INTERNAL_H

#include "loop/internal.h"

/* Aborts with a message if a primitive is destroyed while someone waits on it: freeing it
 * would leave the waiters on freed memory, and returning quietly would hide the bug. */
void weft__destroy_busy(const char *what, const weft__list *waiters);

/* Unlinks a waiter's node after its park returned a timeout or a cancel, if no waker has
 * already taken it off the list. Call with the primitive's mutex held. */
static inline void weft__wait_node_forget(weft__wait_node *n)
{
    if (weft__list_linked(&n->link)) weft__list_unlink(&n->link);
}

/* Debug builds: forgets every weft_lock coroutine c still holds (a later release by another
 * context must not reach c once it is gone) and returns how many there were. */
int weft__locks_forget_owner(weft__coro *c);

#endif /* WEFT_SYNC_INTERNAL_H */
