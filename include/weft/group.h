/* weft/group.h — structured concurrency: task groups, gather, wait_for, shield, deadline
 * scopes, and errors nobody collected.
 *
 * Part of <weft.h>; include that instead of this file. The cancellation rules these follow
 * are written down in docs/CANCELLATION.md.
 */
#ifndef WEFT_GROUP_H
#define WEFT_GROUP_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- task groups --------- */

/* asyncio.TaskGroup / Trio's nursery. Children are coroutines spawned into the group;
 * weft_group_wait ("leaving the group") waits for all of them. The first child that fails
 * (returns an error other than -ECANCELED) cancels the others; the group reports that first
 * error and keeps every child's outcome for inspection. The group belongs to the coroutine
 * (or thread) that created it: cancelling that coroutine cancels the group's children at
 * once (if it is inside a shielded scope then, its next weft_group_wait does), and its
 * weft_group_wait then waits for them and returns -ECANCELED. A coroutine that returns
 * without waiting for its group has the group cancelled and waited for as it returns,
 * before its own future completes: nothing outlives it. */
typedef struct weft_group weft_group;

/* Errors: -EINVAL (g NULL), -ENOMEM. Any context. */
WEFT_API int weft_group_create(weft_group **g);

/* Spawns fn(arg) into the group on the calling thread's loop (weft_spawn_ex's opts; may be
 * NULL). *task (may be NULL) receives the child's future (a reference of its own: release
 * it). Errors: weft_spawn's, and -ESHUTDOWN once the group is being cancelled (a child
 * failed, weft_group_cancel, its owner cancelled outside a shielded scope, a wait cut short)
 * or has been waited for. Any context; never blocks. */
WEFT_API int weft_group_spawn(weft_group *g, weft_future **task, const weft_spawn_opts *opts,
                              weft_fn fn, void *arg);

/* Leaves the group: waits until every child has ended; no child spawns afterwards
 * (-ESHUTDOWN). If the wait is cut short — the calling coroutine is (or gets) cancelled, a
 * deadline scope expires — the children are cancelled and waited for all the same (nothing
 * outlives the group). Returns, in this order of precedence: the first failure's error if a
 * child failed (never swallowed; a cancelled caller stays cancelled, so nothing is lost);
 * -ETIMEDOUT if a deadline scope cut the wait; -ECANCELED if the group was cancelled (its
 * owner, weft_group_cancel); else 0. Waiting again returns the same outcome at once.
 * Blocks (see weft/core.h). Errors besides those: -EINVAL, -EPERM (not called by the
 * coroutine or thread that created the group: a child of the group among others). */
WEFT_API int weft_group_wait(weft_group *g);

/* The outcome weft_group_wait returned, or -EBUSY while it has not been waited for. Any
 * context. */
WEFT_API int weft_group_result(weft_group *g);

/* Cancels every child (and refuses new ones). 0, -EINVAL. Any context; never blocks. */
WEFT_API int weft_group_cancel(weft_group *g);

/* Children spawned so far. */
WEFT_API size_t weft_group_size(weft_group *g);

/* Child i's outcome, in spawn order: its return value once it has ended (0, its error,
 * -ECANCELED), or -EBUSY while it runs; -EINVAL for a bad i. Reading it counts as
 * collecting the error (no "never retrieved" report). */
WEFT_API int weft_group_child_result(weft_group *g, size_t i);

/* How many children failed (an error other than -ECANCELED). */
WEFT_API size_t weft_group_failures(weft_group *g);

/* Destroys the group. A group not yet waited for is cancelled and waited for first, so that
 * no child outlives it (this blocks); that must happen on its owner's thread if the owner
 * is a coroutine still running (elsewhere: a report on stderr and abort), and never by one of
 * the group's own children, which would wait for itself (a report on stderr and abort). The
 * futures the children gave out stay valid until released. NULL is ignored. */
WEFT_API void weft_group_destroy(weft_group *g);

/* ---------------------------------------------------------------- gather, wait_for ---- */

/* asyncio.gather over futures of any source (coroutines, threads, user futures, later
 * pools): waits until all are done. Without return_exceptions, returns the first error at
 * once (the others keep running); with it, waits for all and stores each future's outcome
 * (0, error, -ECANCELED) in errs[i] (errs may be NULL then). Results stay readable with
 * weft_future_result(fs[i], 0, &r). Returns 0, the first error, -ETIMEDOUT (none are
 * cancelled), -ECANCELED (the calling coroutine was cancelled: the futures not yet done are
 * cancelled too, as asyncio does), -EINVAL (fs NULL or holding NULL), -EDEADLK (fs holds
 * the calling coroutine's own task), -ENOMEM. A future that completes as the wait is cut
 * counts as done (docs/CANCELLATION.md rule 8). */
WEFT_API int weft_gather(weft_future **fs, size_t n, int64_t timeout, bool return_exceptions,
                         int *errs);

/* asyncio.wait_for: weft_future_result with a timeout, but on timeout the future is
 * cancelled and waited for (uninterruptibly) before -ETIMEDOUT is returned; if the calling
 * coroutine is cancelled, so is the future (waited for the same way), and -ECANCELED is
 * returned. A future that completed anyway (before the cancellation reached it, or as the
 * wait was cut) reports its own outcome instead (docs/CANCELLATION.md rule 8: the outcome
 * wins). Otherwise as weft_future_result (-EDEADLK for the caller's own task). */
WEFT_API int weft_wait_for(weft_future *f, int64_t timeout, void **result);

/* asyncio.shield: *out receives a new future that completes as f does (same result or
 * error) but whose cancellation leaves f running. Use it where a wait would cancel what it
 * waits for (weft_wait_for, weft_gather). Errors: -EINVAL, -ENOMEM. Any context. */
WEFT_API int weft_shield(weft_future *f, weft_future **out);

/* ---------------------------------------------------------------- deadline scopes ----- */

/* asyncio.timeout / Trio's move_on_after and fail_after, and Trio's shielded scopes.
 * Caller-owned storage (on the stack, typically), entered and left in LIFO order by one
 * coroutine or thread. Inside, every weft call that would wait is bounded by the scope's
 * deadline: once it passes, such a call returns -ETIMEDOUT (at once, for calls made after
 * it passed); calls that need not wait still complete. Nested scopes compose: the earliest
 * deadline wins. A shielded scope (WEFT_SCOPE_SHIELD) stops cancellation and the deadlines
 * of the scopes around it from reaching the calls inside it: cleanup code may wait even
 * while its coroutine is being cancelled (only the shielded scope's own deadline, and those
 * of scopes inside it, apply). */
typedef struct weft_scope {
    WEFT_ALIGNAS(8) uint64_t opaque_[5];
} weft_scope;

/* weft_scope_enter's flag for a shielded scope (above). */
#define WEFT_SCOPE_SHIELD 1u

/* Enters a scope with a deadline timeout ns from now (WEFT_FOREVER: none, for a shield
 * alone). 0; -EINVAL (s NULL, bad timeout, unknown flags). */
WEFT_API int weft_scope_enter(weft_scope *s, int64_t timeout, unsigned flags);

/* Leaves the scope: its deadline no longer applies. Returns -ETIMEDOUT if the deadline cut
 * a wait inside it short (fail_after: the caller decides whether that is an error), else 0;
 * -EINVAL if s is not the innermost scope of the calling coroutine or thread. */
WEFT_API int weft_scope_leave(weft_scope *s);

/* True once the scope's deadline has passed (move_on_after: "did we time out?"). */
WEFT_API bool weft_scope_expired(const weft_scope *s);

/* ---------------------------------------------------------------- unretrieved errors -- */

/* Called when a future that failed (an error other than -ECANCELED) is freed without
 * anybody having read its outcome (weft_future_result, weft_group_child_result, gather with
 * return_exceptions...): for a detached coroutine, when it ends. task is valid only during
 * the call (do not retain it); it may be a task, a thread's future, or any future. */
typedef void (*weft_unretrieved_fn)(weft_future *task, int err, void *arg);

/* Sets the hook (NULL: the default, a line on stderr naming the task and the error, as
 * asyncio's "Task exception was never retrieved"). Any context. */
WEFT_API void weft_set_unretrieved_hook(weft_unretrieved_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_GROUP_H */
