/* loop/scope.c — deadline scopes: asyncio.timeout, Trio's move_on_after / fail_after and
 * shielded cancel scopes.
 *
 * A scope is caller-owned storage linked into a per-context stack: the running coroutine's
 * (weft__coro.scope) or, for a thread's own code, the thread's (weft__tls.scope). Only that
 * context touches its stack, so no locking. The waiter (waiter.c) applies the stack to every
 * park: the earliest deadline up to the innermost shield bounds the wait, and a shield keeps
 * cancellation out; a wait cut short by a scope's deadline marks that scope.
 */
#include "loop/internal.h"

#include <assert.h>

static_assert(sizeof(weft__scope) <= sizeof(weft_scope), "weft_scope is too small");
static_assert(WEFT_SCOPE_SHIELD == 1u, "weft__scope_limits tests the shield as bit 0");

bool weft__cancel_pending(void)
{
    weft__coro *c = weft__coro_current();
    weft__scope *sc;
    if (c) {
        if (!(c->cancelled || atomic_load_explicit(&c->cancel_asked, memory_order_relaxed)))
            return false;
        sc = c->scope;
    } else {
        /* A thread: cancellable only while it runs a pool job. */
        weft__tls *t = weft__tls_get();
        if (!t->job_cancel || !atomic_load_explicit(t->job_cancel, memory_order_relaxed))
            return false;
        sc = t->scope;
    }
    weft__limits lim;
    weft__scope_limits(sc, &lim);
    return !lim.shielded;
}

int64_t weft__scope_clamp(int64_t deadline, weft__scope **by)
{
    *by = NULL;
    weft__scope *sc = *weft__scope_slot();
    if (weft__likely(!sc)) return deadline;
    weft__limits lim;
    weft__scope_limits(sc, &lim);
    if (lim.deadline >= deadline) return deadline;
    *by = lim.by;
    return lim.deadline;
}

int weft_scope_enter(weft_scope *scope, int64_t timeout, unsigned flags)
{
    if (!scope || (flags & ~WEFT_SCOPE_SHIELD)) return -EINVAL;
    weft__scope *s = (weft__scope *)(void *)scope;
    int rc = weft__deadline(timeout, &s->deadline);
    if (rc) return rc;
    weft__scope **slot = weft__scope_slot();
    s->flags = flags;
    s->hit = false;
    s->outer = *slot;
    *slot = s;
    weft__coro *c = weft__coro_current();
    if (c && (flags & WEFT_SCOPE_SHIELD)) c->shields++;
    return 0;
}

int weft_scope_leave(weft_scope *scope)
{
    if (!scope) return -EINVAL;
    weft__scope *s = (weft__scope *)(void *)scope;
    weft__scope **slot = weft__scope_slot();
    if (*slot != s) return -EINVAL;         /* not the innermost scope of this context */
    *slot = s->outer;
    weft__coro *c = weft__coro_current();
    if (c && (s->flags & WEFT_SCOPE_SHIELD)) c->shields--;
    return s->hit ? -ETIMEDOUT : 0;
}

bool weft_scope_expired(const weft_scope *scope)
{
    if (!scope) return false;
    const weft__scope *s = (const weft__scope *)(const void *)scope;
    return s->deadline != WEFT__NO_DEADLINE && weft_now() >= s->deadline;
}
