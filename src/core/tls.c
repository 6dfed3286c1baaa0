/* core/tls.c — the per-thread state and the hook that cleans it up at thread exit.
 *
 * weft__tls_self is plain thread-local storage; a pthread key whose value is non-NULL
 * once armed makes the thread's exit run, in order: the loop's shutdown (its coroutines
 * are cancelled and run to their end, then the loop is freed) and the locals' destructors.
 * The main thread does not run key destructors at exit(); weft_shutdown covers its loop.
 */
#include "core/internal.h"

#include <pthread.h>

_Thread_local weft__tls weft__tls_self __attribute__((tls_model("initial-exec")));

void (*weft__exit_loop_hook)(void);
void (*weft__exit_stack_hook)(void);

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *unused)
{
    (void)unused;
    weft__tls *t = weft__tls_get();
    if (t->loop && weft__exit_loop_hook) weft__exit_loop_hook();
    weft__locals_thread_exit();
    if ((t->stack_cache || t->stack_batch) && weft__exit_stack_hook) weft__exit_stack_hook();
    weft__blocks_thread_exit();
    t->exit_hook = false;
    t->stack_hook = false;              /* a later stack put arms it again */
}

static void make_key(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        weft__fatal("cannot create the thread-exit key");
}

void weft__tls_arm_exit_hook(void)
{
    weft__tls *t = weft__tls_get();
    if (t->exit_hook) return;
    pthread_once(&exit_key_once, make_key);
    pthread_setspecific(exit_key, t);
    t->exit_hook = true;
}
