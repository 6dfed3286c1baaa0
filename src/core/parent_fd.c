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
/* The one registered descriptor that the calling thread's next fork hands to its child
 * (weft__parent_fd_keep_in_child): thread-local, so the child — a copy of this thread —
 * reads the forking thread's value. */
static _Thread_local int keep_in_child = -1;

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }

/* In the child: only async-signal-safe calls (open, dup3, close). */
static void fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    if (used == 0) return;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (size_t i = 0; i < used; i++) {
        if (table[i] == keep_in_child) continue;
        if (null >= 0) dup3(null, table[i], O_CLOEXEC);
        else close(table[i]);        /* no /dev/null (a bare chroot): the plain close */
    }
    if (null >= 0) close(null);
    used = 0;
    keep_in_child = -1;
    atomic_store_explicit(&registered, 0, memory_order_relaxed);
}

/* Installed when the library is loaded, not on first use: a fork racing the first pair
 * could have copied the hooks table before this hook was in it (core/fork.c), and then
 * neither held the lock nor cleaned the child. */
__attribute__((constructor)) static void hook(void)
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

/* With lock held: moves fd to a number >= min (close-on-exec). 0 or -errno. */
static int move_above_locked(int *fd, int min)
{
    if (*fd >= min) return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, min);
    if (moved < 0) return -errno;
    close(*fd);
    *fd = moved;
    return 0;
}

static int make_pair(int fds[2], bool pipe, int flags, int min_fd)
{
    pthread_mutex_lock(&lock);
    int rc = pipe ? pipe2(fds, flags) : socketpair(AF_UNIX, SOCK_STREAM | flags, 0, fds);
    if (rc != 0) {
        pthread_mutex_unlock(&lock);
        return -errno;
    }
    size_t before = used;
    if ((rc = move_above_locked(&fds[0], min_fd)) != 0 ||
        (rc = move_above_locked(&fds[1], min_fd)) != 0 || (rc = add_locked(fds[0])) != 0 ||
        (rc = add_locked(fds[1])) != 0) {
        used = before;                           /* forget what this call added */
        atomic_store_explicit(&registered, used, memory_order_relaxed);
        close(fds[0]);
        close(fds[1]);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int weft__parent_pipe(int fds[2], int flags, int min_fd)
{
    return make_pair(fds, true, flags, min_fd);
}

int weft__parent_socketpair(int fds[2], int flags)
{
    return make_pair(fds, false, flags, 0);
}

void weft__parent_fd_keep_in_child(int fd)
{
    keep_in_child = fd;
}

int weft__parent_fd_close(int fd)
{
    if (atomic_load_explicit(&registered, memory_order_relaxed) != 0) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < used; i++)
            if (table[i] == fd) {
                table[i] = table[--used];
                atomic_store_explicit(&registered, used, memory_order_relaxed);
                /* A registered one is closed under the lock: a fork cannot come between
                 * forgetting the number and closing it (the child would keep a copy), nor
                 * find it registered once the number may be reused by an unrelated open.
                 * Those are our pipes and Unix sockets: their close does not wait. */
                int rc = close(fd);
                pthread_mutex_unlock(&lock);
                return rc;
            }
        pthread_mutex_unlock(&lock);
    }
    /* Any other descriptor closes outside the lock (a socket with SO_LINGER may wait in
     * close for seconds: forks and other closes must not wait with it). */
    return close(fd);
}
