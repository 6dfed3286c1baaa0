/* core/fork.c — fork safety for every fork of the process, weft's or the program's own.
 *
 * A fork copies one thread. Weft's global state — the locks the other threads may hold at
 * that instant, the registry of threads, the lazy pools, the signal router — describes
 * threads the child does not have. Each module that owns such state registers a hook here
 * on first use; one pthread_atfork, installed with the first hook, runs them all: before
 * the fork each `prepare` takes the module's lock (in rank order: a module whose lock is
 * held while it calls into a higher-ranked one comes first), after it the parent's hooks
 * release them and the child's re-make them and forget what belonged to the parent's
 * threads (in reverse rank order).
 *
 * So a program that forks by itself (Python's os.fork) gets a child whose weft works: its
 * exit does not wait for threads it does not have, and pools and the signal router start
 * afresh when used. Registering is rare (once per module); the hooks table is written
 * under a lock and read, at the fork, from a copy taken in `prepare` (a hook registered
 * during a fork in another thread runs from the next fork on).
 */
#include "core/internal.h"

#include <pthread.h>
#include <string.h>

typedef struct {
    void (*prepare)(void), (*parent)(void), (*child)(void);
} fork_hook;

static fork_hook hooks[WEFT__FORK_RANKS];
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static _Thread_local fork_hook taken[WEFT__FORK_RANKS];   /* the forking thread's copy */

static void run_prepare(void)
{
    pthread_mutex_lock(&hooks_lock);
    memcpy(taken, hooks, sizeof taken);
    pthread_mutex_unlock(&hooks_lock);
    for (int r = 0; r < WEFT__FORK_RANKS; r++)
        if (taken[r].prepare) taken[r].prepare();
}

static void run_parent(void)
{
    for (int r = WEFT__FORK_RANKS - 1; r >= 0; r--)
        if (taken[r].parent) taken[r].parent();
}

static void run_child(void)
{
    pthread_mutex_init(&hooks_lock, NULL);
    for (int r = WEFT__FORK_RANKS - 1; r >= 0; r--)
        if (taken[r].child) taken[r].child();
}

static void install(void)
{
    pthread_atfork(run_prepare, run_parent, run_child);
}

void weft__fork_hook(int rank, void (*prepare)(void), void (*parent)(void),
                     void (*child)(void))
{
    pthread_once(&installed, install);
    pthread_mutex_lock(&hooks_lock);
    hooks[rank] = (fork_hook){ prepare, parent, child };
    pthread_mutex_unlock(&hooks_lock);
}
