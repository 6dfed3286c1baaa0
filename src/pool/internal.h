/* pool/internal.h — the hand-off protocol: what every call that hands work to another thread
 * and waits for it (weft_run_in_executor and weft_to_thread, weft_pool_map, the file calls
 * of net/file.c, weft_resolve in net/addr.c) shares. Implemented in executor.c.
 *
 * The rule (docs/CANCELLATION.md, "Hand-offs"): when such a call returns -ECANCELED or
 * -ETIMEDOUT, the operation did not happen and left nothing behind; when it happened, the
 * call reports its real outcome. Hence:
 *   1. look first (weft__handoff_check): a caller that is already cancelled, or past a
 *      deadline scope, gets -ECANCELED / -ETIMEDOUT at once and nothing is submitted;
 *   2. once submitted, a wait that is cut short, in whatever way a wait can fail, cancels
 *      the work — work that has not started never runs — and waits for what has started,
 *      shielded and with no limit, because it may write into the caller's memory
 *      (weft__handoff_wait); it never frees or returns while the work may still write;
 *   3. work that ended is reported as it ended, even if the wait was cut meanwhile.
 * A call whose work writes only into a record it shares by reference count with the
 * work (weft_resolve) may leave the work to finish alone instead of step 2: what it left
 * behind then goes when the work ends.
 */
#ifndef WEFT_POOL_INTERNAL_H
#define WEFT_POOL_INTERNAL_H

#include "future/internal.h"

/* Before handing work to another thread: -ECANCELED if cancellation reaches the calling
 * context now (a cancelled coroutine, a pool job asked to stop; not inside a shielded
 * scope), -ETIMEDOUT if a deadline scope of it has passed (that scope is marked as if a
 * wait had been cut by it), else 0. Any context; never blocks. */
int weft__handoff_check(void);

/* Waits for the job of future f (the caller holds a reference; it keeps it) and returns
 * its outcome, storing its result in *result (result may be NULL) if it succeeded. If the
 * wait is cut short (the caller is cancelled, a deadline scope expires), f is cancelled
 * and waited for without limit, shielded: a job that had not started never runs and the
 * call returns why the wait was cut (-ECANCELED or -ETIMEDOUT); a job that had started is
 * reported as it ended — its own -ECANCELED (it stopped when asked) again as why the wait
 * was cut. Any context; blocks. */
int weft__handoff_wait(weft_future *f, void **result);

/* weft's own lazily made pools (the default pool of to_thread, the file and resolver
 * pools): *slot, made with o on first use. A failed creation (-ENOMEM, no thread could be
 * started) is not remembered, as pthread_once would: the next call tries again, so a
 * moment without memory does not turn into -ENOMEM for the rest of the process. Returns
 * the pool, or NULL if it cannot be made now. Any context; the first call may block on
 * the creation (a few microseconds), under a process-wide internal mutex. */
weft_pool *weft__lazy_pool(weft_pool *_Atomic *slot, const weft_pool_opts_ex *o);

#endif /* WEFT_POOL_INTERNAL_H */
