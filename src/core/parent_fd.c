/* core/parent_fd.c — descriptors that a forked child must not keep.
 *
 * A fork copies every descriptor. Some of weft's are the parent's half of a conversation
 * whose end is signalled by closing: the write end of a subprocess's stdin, the read end of
 * its stdout (a copy held by a child keeps the writer from ever seeing "no reader"), the
 * child ends of those pipes while a subprocess is being started (a copy of its stdout's
 * write end keeps the parent from ever reading EOF), the manager's end of a process pool's
 * worker socket. Close-on-exec covers children that exec; a child that does not (a
 * weft_process, a pool worker, the program's own fork) would hold them for its whole life:
 * a `communicate` in one thread hangs until an unrelated child started by another thread
 * exits (the bug Python's multiprocessing has with subprocess pipes under fork).
 *
 * So such descriptors are registered here, and in the child of every fork (core/fork.c)
 * each is made to point at /dev/null: the pipe or socket loses the child's reference,
 * while the number stays taken, so that a child which later closes the parent's object
 * (a destroy in cleanup code) closes the placeholder and never somebody else's descriptor.
 *
 * Locking: `lock` guards the table; the fork hook holds it across every fork, so a
 * descriptor made with weft__parent_pipe / weft__parent_socketpair is registered before
 * any fork can copy it. The lock is never held while calling out (allocation aside: the
 * allocator's fork rank is later than this one).
 */
#include "core/internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int *table;                   /* under lock */
static size_t used, cap;
static _Atomic size_t registered;    /* `used`, readable without the lock: the fast path of
                                        weft__parent_fd_close for descriptors never added */
static pthread_once_t hooked = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }

/* In the child: only async-signal-safe calls (open, dup3, close). */
static void fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    if (used == 0) return;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (size_t i = 0; i < used; i++) {
        if (null >= 0) dup3(null, table[i], O_CLOEXEC);
        else close(table[i]);        /* no /dev/null (a bare chroot): the plain close */
    }
    if (null >= 0) close(null);
    used = 0;
    atomic_store_explicit(&registered, 0, memory_order_relaxed);
}

static void hook(void)
{
    weft__fork_hook(WEFT__FORK_PARENT_FD, fork_prepare, fork_parent, fork_child);
}

/* With lock held. */
static int add_locked(int fd)
{
    if (used == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        int *t = weft__realloc(table, ncap * sizeof *t);
        if (!t) return -ENOMEM;
        table = t;
        cap = ncap;
    }
    table[used++] = fd;
    atomic_store_explicit(&registered, used, memory_order_relaxed);
    return 0;
}

static int make_pair(int fds[2], bool pipe, int flags)
{
    pthread_once(&hooked, hook);
    pthread_mutex_lock(&lock);
    int rc = pipe ? pipe2(fds, flags) : socketpair(AF_UNIX, SOCK_STREAM | flags, 0, fds);
    if (rc != 0) {
        rc = -errno;
    } else if ((rc = add_locked(fds[0])) != 0 || (rc = add_locked(fds[1])) != 0) {
        if (used && table[used - 1] == fds[0]) used--;
        atomic_store_explicit(&registered, used, memory_order_relaxed);
        close(fds[0]);
        close(fds[1]);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int weft__parent_pipe(int fds[2], int flags)
{
    return make_pair(fds, true, flags);
}

int weft__parent_socketpair(int fds[2], int flags)
{
    return make_pair(fds, false, flags);
}

int weft__parent_fd_close(int fd)
{
    if (atomic_load_explicit(&registered, memory_order_relaxed) != 0) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < used; i++)
            if (table[i] == fd) {
                table[i] = table[--used];
                atomic_store_explicit(&registered, used, memory_order_relaxed);
                break;
            }
        /* Closed under the lock: a fork cannot come between forgetting the number and
         * closing it (the child would keep a copy), nor find it registered once the
         * number may be reused by an unrelated open. */
        int rc = close(fd);
        pthread_mutex_unlock(&lock);
        return rc;
    }
    return close(fd);
}

void weft__parent_fd_forget(int fd)
{
    if (atomic_load_explicit(&registered, memory_order_relaxed) == 0) return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < used; i++)
        if (table[i] == fd) {
            table[i] = table[--used];
            atomic_store_explicit(&registered, used, memory_order_relaxed);
            break;
        }
    pthread_mutex_unlock(&lock);
}
