/* task/internal.h — what the task layer's files share (task groups build on tasks).
 */
#ifndef WEFT_TASK_INTERNAL_H
#define WEFT_TASK_INTERNAL_H

#include "future/internal.h"

/* Creates a task for fn(arg) on the calling thread's loop without making it runnable, its
 * future holding refs references (the loop's one included). The caller may attach to the
 * future what must be there before the task can run, then calls weft__task_start. Errors as
 * weft_spawn_ex. Any context; never blocks. */
int weft__task_new(weft_future **task, const weft_spawn_opts *opts, weft_fn fn, void *arg,
                   uint32_t refs);

/* Makes a task from weft__task_new runnable. Same thread as weft__task_new. */
void weft__task_start(weft_future *task);

/* The coroutine behind a task's future (task.c), for its owner's cancel hooks. */
weft__coro *weft__task_coro(weft_future *task);

#endif /* WEFT_TASK_INTERNAL_H */
