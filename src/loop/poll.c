/* loop/poll.c — file-descriptor readiness: the loop's epoll poller and weft_io_wait.
 *
 * A loop creates its epoll instance and eventfd only when something first waits for an fd
 * (principle 5: no descriptor behind the caller's back); until then it sleeps on a futex.
 * Each waited-for fd is armed EPOLLONESHOT with the union of the directions its waiters
 * want; the table l->fds (indexed by fd) holds at most one reader and one writer waiter per
 * fd. Arming is MOD, falling back to ADD on ENOENT, so an fd number that was closed and
 * reused meanwhile is simply registered afresh (no stale registration can swallow a wait).
 * A wake-up for one direction disarms the fd; the other direction, if still awaited, is
 * re-armed. Loop thread only.
 *
 * Descriptors weft owns (sockets, net/) are registered for good instead, edge-triggered,
 * with the first loop that waits on them: a weft__pollfd. Its `ready` bits record edges
 * not yet followed by a failed (EAGAIN) or short transfer, so a read that comes back short
 * lets the next one park at once instead of paying for a read that says EAGAIN: an edge
 * that arrives after the short read is queued by the kernel for the next epoll_wait. The
 * event's data is the pollfd's address (tagged), valid until weft__pollfd_detach, which
 * runs on the loop's thread and deletes the registration first.
 *
 * A hang-up (RDHUP, HUP, ERR) is kept apart, in `hangup`, which a short transfer leaves
 * alone: the end of a stream is a state, not bytes, and often comes in the same edge as the
 * last bytes, which a short read takes while the end stays pending. Only an EAGAIN clears it
 * (an error already reported, a FIFO reopened): else a waiter would be told "ready" for
 * ever and its coroutine would spin between EAGAIN and the wait.
 *
 * epoll data tags: fd << 2 (one-shot waits), EVENTFD_MARK, pollfd address | 1.
 */
#include "loop/internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <weft/io.h>

#define EVENTFD_MARK 2u
#define POLLFD_TAG 1u

struct weft__fd_watch {
    weft__waiter *rd, *wr;            /* one-shot waits */
    weft__pollfd *pfd;                /* the fd's permanent registration, if any */
};

static int ensure_epoll(weft__loop *l)
{
    if (l->epfd >= 0) return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) { int e = -errno; close(ep); return e; }
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = EVENTFD_MARK };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0) {
        int err = -errno;
        close(ep); close(ev);
        return err;
    }
    l->epfd = ep;
    l->evfd = ev;
    return 0;
}

static int ensure_slot(weft__loop *l, int fd)
{
    if ((size_t)fd < l->fds_cap) return 0;
    size_t cap = l->fds_cap ? l->fds_cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    struct weft__fd_watch *t = weft__realloc(l->fds, cap * sizeof *t);
    if (!t) return -ENOMEM;
    memset(t + l->fds_cap, 0, (cap - l->fds_cap) * sizeof *t);
    l->fds = t;
    l->fds_cap = cap;
    return 0;
}

/* (Re-)arms fd for the directions its waiters want; nothing if none. */
static int arm(weft__loop *l, int fd)
{
    struct weft__fd_watch *s = &l->fds[fd];
    uint32_t want = (s->rd ? EPOLLIN | EPOLLRDHUP : 0) | (s->wr ? EPOLLOUT : 0);
    if (!want) return 0;
    struct epoll_event e = { .events = want | EPOLLONESHOT, .data.u64 = (uint64_t)fd << 2 };
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &e) == 0) return 0;
    if (errno == ENOENT && epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) == 0) return 0;
    return -errno;
}

static unsigned to_weft(uint32_t ev)
{
    unsigned r = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r |= WEFT_IO_READ;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) r |= WEFT_IO_WRITE;
    return r;
}

static void dispatch(weft__loop *l, int fd, uint32_t events)
{
    if ((size_t)fd >= l->fds_cap) return;
    struct weft__fd_watch *s = &l->fds[fd];
    unsigned ready = to_weft(events);
    weft__waiter *rd = s->rd, *wr = s->wr;
    if (rd && (ready & WEFT_IO_READ)) {
        rd->data = (void *)(uintptr_t)ready;
        s->rd = NULL;
        if (wr == rd) s->wr = NULL;
        weft__waiter_wake(rd, WEFT__W_WOKEN);
    }
    if (s->wr && (ready & WEFT_IO_WRITE)) {
        s->wr->data = (void *)(uintptr_t)ready;
        weft__waiter *w = s->wr;
        s->wr = NULL;
        weft__waiter_wake(w, WEFT__W_WOKEN);
    }
    if (s->rd || s->wr) arm(l, fd);   /* the one-shot fired for the other direction */
}

static _Atomic bool no_pwait2;   /* kernel < 5.11, or Valgrind: epoll_wait in ms instead */

/* epoll_pwait2 (nanosecond timeout), or epoll_wait with the timeout rounded up to ms. */
static int wait_events(int epfd, struct epoll_event *ev, int max, int64_t left)
{
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = weft__timespec(left);
        int n = epoll_pwait2(epfd, ev, max, left < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
    }
    int ms = left < 0 ? -1 : left > (int64_t)INT_MAX * WEFT_MS ? INT_MAX
                                 : (int)((left + WEFT_MS - 1) / WEFT_MS);
    return epoll_wait(epfd, ev, max, ms);
}

static void dispatch_pollfd(weft__pollfd *p, uint32_t events)
{
    unsigned ready = to_weft(events);
    p->ready |= ready;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) p->hangup |= WEFT_IO_READ;
    if (events & (EPOLLHUP | EPOLLERR)) p->hangup |= WEFT_IO_WRITE;
    if (p->rd && (ready & WEFT_IO_READ)) {
        weft__waiter *w = p->rd;
        p->rd = NULL;
        weft__waiter_wake(w, WEFT__W_WOKEN);
    }
    if (p->wr && (ready & WEFT_IO_WRITE)) {
        weft__waiter *w = p->wr;
        p->wr = NULL;
        weft__waiter_wake(w, WEFT__W_WOKEN);
    }
}

#define POLL_BATCH 256

void weft__loop_poll(weft__loop *l, int64_t deadline)
{
    weft__assert_loop_thread(l);
    struct epoll_event ev[POLL_BATCH];
    int64_t left = -1;                            /* no deadline */
    if (deadline != WEFT__NO_DEADLINE) {
        left = deadline == 0 ? 0 : deadline - weft_now();
        if (left < 0) left = 0;
    }
    int n = wait_events(l->epfd, ev, POLL_BATCH, left);
    for (int i = 0; i < n; i++) {
        uint64_t d = ev[i].data.u64;
        if (d & POLLFD_TAG) {
            dispatch_pollfd((weft__pollfd *)(uintptr_t)(d & ~(uint64_t)POLLFD_TAG),
                            ev[i].events);
        } else if (d == EVENTFD_MARK) {
            uint64_t v;
            ssize_t r = weft__sys_read(l->evfd, &v, sizeof v);
            (void)r;
        } else {
            dispatch(l, (int)(d >> 2), ev[i].events);
        }
    }
}

/* A thread without live coroutines: plain ppoll. */
static int wait_thread(int fd, unsigned events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = (short)((events & WEFT_IO_READ ? POLLIN : 0) |
                                                   (events & WEFT_IO_WRITE ? POLLOUT : 0)) };
    for (;;) {
        struct timespec ts, *tsp = NULL;
        if (deadline != WEFT__NO_DEADLINE) {
            int64_t left = deadline - weft_now();
            if (left < 0) left = 0;
            ts = weft__timespec(left);
            tsp = &ts;
        }
        int n = ppoll(&p, 1, tsp, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -ETIMEDOUT;
        if (p.revents & POLLNVAL) return -EBADF;
        unsigned r = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) r |= WEFT_IO_READ;
        if (p.revents & (POLLOUT | POLLHUP | POLLERR)) r |= WEFT_IO_WRITE;
        r &= events;
        if (r) return (int)r;
    }
}

/* Removes w from fd's slots after a timeout or cancel, re-arming for whoever remains. */
static void forget(weft__loop *l, int fd, weft__waiter *w)
{
    struct weft__fd_watch *s = &l->fds[fd];
    if (s->rd == w) s->rd = NULL;
    if (s->wr == w) s->wr = NULL;
    arm(l, fd);
}

/* The wait of a context that cannot or need not park on a loop: a thread's ppoll, also for
 * a coroutine whose deadline scope has already expired (a ready fd is still reported: only
 * waiting is refused). */
/* A cancelled caller is told what is ready now, without waiting, like every call that
 * need not wait; -ECANCELED only if it would have to wait. */
static int ready_or_cancelled(int fd, unsigned events)
{
    int rc = wait_thread(fd, events, 0);
    return rc == -ETIMEDOUT ? -ECANCELED : rc;
}

static int wait_polling(const weft__waiter *w, int fd, unsigned events, int64_t until,
                        weft__scope *by)
{
    if (w->coro && weft__cancel_pending()) return ready_or_cancelled(fd, events);
    int rc = wait_thread(fd, events, until);
    if (rc == -ETIMEDOUT && by) by->hit = true;
    return rc;
}

/* True when w must poll instead of parking (see wait_polling); *until and *by are the
 * deadline the scopes make of `deadline`. */
static bool must_poll(const weft__waiter *w, int64_t deadline, int64_t *until,
                      weft__scope **by)
{
    *until = weft__scope_clamp(deadline, by);
    return !w->coro || (*by && *until <= weft_now());
}

static int pollfd_park(weft__waiter *w, weft__pollfd *p, unsigned events, int64_t deadline);

int weft_io_wait(int fd, unsigned events, int64_t timeout)
{
    if (fd < 0 || events == 0 || (events & ~(unsigned)(WEFT_IO_READ | WEFT_IO_WRITE)))
        return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    weft__park local, *pk = weft__park_get(&local);   /* a compact coroutine's own */
    weft__waiter *w = &pk->w;
    weft__waiter_init(w);
    weft__scope *by;
    int64_t until;
    if (must_poll(w, deadline, &until, &by)) return wait_polling(w, fd, events, until, by);
    weft__loop *l = w->loop;
    if (weft__cancel_pending()) return ready_or_cancelled(fd, events);
    if ((rc = ensure_epoll(l)) || (rc = ensure_slot(l, fd))) return rc;
    struct weft__fd_watch *s = &l->fds[fd];
    if (s->pfd && atomic_load_explicit(&s->pfd->loop, memory_order_acquire) != l)
        s->pfd = NULL;    /* released by another thread (weft__pollfd_detach_remote): the
                             number was closed and may be another file's now */
    if (s->pfd) {
        /* A weft socket's fd, registered edge-triggered: its ready bits may be stale, so
         * ask the kernel once; if it is not ready now, the next change is an edge. */
        rc = wait_thread(fd, events, 0);
        if (rc != -ETIMEDOUT) return rc;
        s->pfd->ready &= ~events;
        return pollfd_park(w, s->pfd, events, deadline);
    }
    if (((events & WEFT_IO_READ) && s->rd) || ((events & WEFT_IO_WRITE) && s->wr))
        return -EBUSY;
    if (events & WEFT_IO_READ) s->rd = w;
    if (events & WEFT_IO_WRITE) s->wr = w;
    rc = arm(l, fd);
    if (rc) {
        forget(l, fd, w);
        /* epoll refuses regular files and the like: they are always ready, as poll says. */
        return rc == -EPERM ? (int)events : rc;
    }
    l->nfds++;
    rc = weft__waiter_park(w, deadline);
    l->nfds--;
    if (rc) {
        forget(l, fd, w);
        return rc;
    }
    return (int)((uintptr_t)w->data & events) ? (int)((uintptr_t)w->data & events)
                                               : (int)events;
}

/* ---- weft_io_poll: several fds at once ----------------------------------------------------- */

/* One look at fds, no waiting: ppoll's count (>= 0) or -errno. */
static int poll_now(struct pollfd *fds, size_t n)
{
    struct timespec zero = { 0, 0 };
    for (;;) {
        int r = ppoll(fds, (nfds_t)n, &zero, NULL);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

/* A thread's wait: ppoll until the deadline; 0 is -ETIMEDOUT. */
static int poll_thread(struct pollfd *fds, size_t n, int64_t deadline)
{
    for (;;) {
        struct timespec ts, *tsp = NULL;
        if (deadline != WEFT__NO_DEADLINE) {
            int64_t left = deadline - weft_now();
            ts = weft__timespec(left < 0 ? 0 : left);
            tsp = &ts;
        }
        int r = ppoll(fds, (nfds_t)n, tsp, NULL);
        if (r > 0) return r;
        if (r == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

static unsigned poll_dirs(short events)
{
    return (events & (POLLIN | POLLPRI | POLLRDHUP | POLLRDNORM | POLLRDBAND) ? WEFT_IO_READ : 0) |
           (events & (POLLOUT | POLLWRNORM | POLLWRBAND) ? WEFT_IO_WRITE : 0);
}

/* True when the loop's one-shot slots express what the entry asks exactly (a read slot is
 * EPOLLIN|EPOLLRDHUP, a write slot EPOLLOUT). Priority data, a hang-up alone, or nothing at
 * all (errors and hang-ups only, which poll always reports) are asked of the call's own
 * epoll instead: a read slot would wake for plain data that poll then does not report, and
 * the call would spin. */
static bool slot_exact(short ev)
{
    if (ev & (POLLPRI | POLLRDBAND | POLLWRBAND)) return false;
    if ((ev & POLLRDHUP) && !(ev & (POLLIN | POLLRDNORM))) return false;
    return poll_dirs(ev) != 0;
}

static uint32_t epoll_mask(short ev)
{
    uint32_t m = 0;
    if (ev & (POLLIN | POLLRDNORM)) m |= EPOLLIN;
    if (ev & POLLRDBAND) m |= EPOLLRDBAND;
    if (ev & POLLPRI) m |= EPOLLPRI;
    if (ev & POLLRDHUP) m |= EPOLLRDHUP;
    if (ev & (POLLOUT | POLLWRNORM)) m |= EPOLLOUT;
    if (ev & POLLWRBAND) m |= EPOLLWRBAND;
    return m;                      /* 0: epoll still reports EPOLLERR and EPOLLHUP */
}

/* The call's own epoll instance, level-triggered, with each entry's exact mask (an fd
 * listed twice gets the union), watched as one fd: for entries the slots cannot express,
 * and when a slot is taken by another waiter or the fd is a weft socket's permanent
 * registration (which a one-shot arming would overwrite). Descriptors epoll refuses
 * (EPERM: regular files, whose poll answer never changes) are left out: the look before
 * parking already reported them. */
static int park_own_epoll(struct pollfd *fds, size_t n, int64_t deadline)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int fd = fds[i].fd;
        if (fd < 0) continue;
        struct epoll_event e = { .events = epoll_mask(fds[i].events), .data.u64 = i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0) continue;
        if (errno == EEXIST) {
            for (size_t j = 0; j < i; j++)
                if (fds[j].fd == fd) e.events |= epoll_mask(fds[j].events);
            if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0) continue;
        }
        if (errno == EPERM) continue;
        rc = errno == EBADF ? 1 : -errno;        /* closed: the next look says POLLNVAL */
    }
    if (rc == 0) {
        int64_t left = WEFT_FOREVER;
        if (deadline != WEFT__NO_DEADLINE) {
            left = deadline - weft_now();
            if (left < 0) left = 0;
        }
        rc = weft_io_wait(ep, WEFT_IO_READ, left);
    }
    close(ep);
    return rc < 0 ? rc : 0;
}

/* Parks w once on every fd of fds (one-shot slots of w's loop); 0 when woken. */
static int park_many(weft__waiter *w, struct pollfd *fds, size_t n, int64_t deadline)
{
    weft__loop *l = w->loop;
    int rc = ensure_epoll(l);
    if (rc) return rc;
    size_t i;
    bool own = false;
    for (i = 0; i < n; i++) {
        int fd = fds[i].fd;
        if (fd < 0) continue;
        if (!slot_exact(fds[i].events)) { own = true; break; }
        unsigned d = poll_dirs(fds[i].events);
        if ((rc = ensure_slot(l, fd))) break;
        struct weft__fd_watch *s = &l->fds[fd];
        if (s->pfd && atomic_load_explicit(&s->pfd->loop, memory_order_acquire) != l)
            s->pfd = NULL;                   /* stale: see weft_io_wait */
        if (s->pfd || ((d & WEFT_IO_READ) && s->rd && s->rd != w) ||
            ((d & WEFT_IO_WRITE) && s->wr && s->wr != w)) {
            own = true;
            break;
        }
        if (d & WEFT_IO_READ) s->rd = w;
        if (d & WEFT_IO_WRITE) s->wr = w;
        if ((rc = arm(l, fd))) {
            forget(l, fd, w);
            if (rc == -EPERM) { rc = 0; continue; }   /* a regular file: see park_own_epoll */
            if (rc == -EBADF) rc = 1;                 /* closed: the next look says POLLNVAL */
            break;
        }
    }
    if (i == n && !rc && !own) {
        l->nfds++;
        rc = weft__waiter_park(w, deadline);   /* nothing armed: a sleep to the deadline */
        l->nfds--;
    }
    for (size_t j = 0; j < i && j < n; j++)
        if (fds[j].fd >= 0 && (size_t)fds[j].fd < l->fds_cap) forget(l, fds[j].fd, w);
    if (own) return park_own_epoll(fds, n, deadline);
    return rc < 0 ? rc : 0;
}

int weft_io_poll(struct pollfd *fds, size_t n, int64_t timeout)
{
    if (!fds && n) return -EINVAL;
    struct rlimit lim;
    if (n > 1024 && getrlimit(RLIMIT_NOFILE, &lim) == 0 && n > lim.rlim_cur) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if ((rc = poll_now(fds, n)) != 0) return rc;
    for (;;) {
        weft__park local, *pk = weft__park_get(&local);   /* a compact coroutine's own */
        weft__waiter *w = &pk->w;
        weft__waiter_init(w);
        weft__scope *by;
        int64_t until;
        if (must_poll(w, deadline, &until, &by)) {
            if (w->coro && weft__cancel_pending()) return -ECANCELED;
            rc = poll_thread(fds, n, until);
            if (rc == -ETIMEDOUT && by) by->hit = true;
            return rc;
        }
        if (weft__cancel_pending()) return -ECANCELED;
        if (deadline != WEFT__NO_DEADLINE && deadline <= weft_now()) return -ETIMEDOUT;
        if ((rc = park_many(w, fds, n, deadline))) return rc;
        if ((rc = poll_now(fds, n)) != 0) return rc;   /* else woken for nothing: again */
    }
}

/* ---- permanent registrations ------------------------------------------------------------ */

/* Registers p with l (l's thread). Until the kernel reports an edge, p is not ready for
 * the directions about to be waited for (the caller just saw EAGAIN); ADD reports the
 * current state as a first edge.
 *
 * Coroutines of several loops may first wait on p at the same moment: the loop is claimed
 * by one CAS of p->loop from NULL, before anything else, so exactly one loop registers p
 * and takes the reference; the others see *bound (the winner) and wait as for any fd on
 * their own loop (weft__pollfd_wait). A claim whose epoll ADD fails is given back (NULL):
 * a later wait may try again. Returns 0, -EAGAIN (another loop won: *bound says which), or
 * an error. */
static int pollfd_bind(weft__loop *l, weft__pollfd *p, unsigned events, weft__loop **bound)
{
    int rc;
    if ((rc = ensure_epoll(l)) || (rc = ensure_slot(l, p->fd))) return rc;
    struct weft__fd_watch *s = &l->fds[p->fd];
    if (s->rd || s->wr) return -EBUSY;    /* weft_io_wait of the same fd in progress */
    weft__loop *none = NULL;
    weft__loop_ref(l);
    weft__perturb(WEFT__PP_POLL_BIND_PUBLISH);
    if (!atomic_compare_exchange_strong_explicit(&p->loop, &none, l, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        weft__loop_unref(l);              /* not the last: the caller's thread holds one */
        *bound = none;
        return -EAGAIN;
    }
    weft__perturb(WEFT__PP_POLL_BIND_DONE);
    /* Ours: only this thread touches ready, hangup, rd and wr from now on. */
    struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uintptr_t)p | POLLFD_TAG };
    /* EEXIST: this loop's one-shot registration of the number (a weft_io_wait on it, no
     * waiter left) is still there: take it over. */
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, p->fd, &e) < 0 &&
        (errno != EEXIST || epoll_ctl(l->epfd, EPOLL_CTL_MOD, p->fd, &e) < 0)) {
        rc = -errno;
        atomic_store_explicit(&p->loop, NULL, memory_order_release);
        weft__loop_unref(l);
        return rc;
    }
    s->pfd = p;
    p->ready = (WEFT_IO_READ | WEFT_IO_WRITE) & ~events;
    return 0;
}

static int pollfd_park(weft__waiter *w, weft__pollfd *p, unsigned events, int64_t deadline)
{
    unsigned now = (p->ready | p->hangup) & events;
    if (now) return (int)now;
    if (((events & WEFT_IO_READ) && p->rd) || ((events & WEFT_IO_WRITE) && p->wr))
        return -EBUSY;
    weft__loop *l = w->loop;
    if (events & WEFT_IO_READ) p->rd = w;
    if (events & WEFT_IO_WRITE) p->wr = w;
    l->nfds++;
    int rc = weft__waiter_park(w, deadline);
    l->nfds--;
    if (p->rd == w) p->rd = NULL;
    if (p->wr == w) p->wr = NULL;
    if (rc) return rc;
    now = (p->ready | p->hangup) & events;
    return now ? (int)now : (int)events;
}

int weft__pollfd_wait(weft__pollfd *p, unsigned events, int64_t deadline)
{
    weft__park local, *pk = weft__park_get(&local);   /* a compact coroutine's own */
    weft__waiter *w = &pk->w;
    weft__waiter_init(w);
    weft__scope *by;
    int64_t until;
    if (must_poll(w, deadline, &until, &by)) return wait_polling(w, p->fd, events, until, by);
    if (weft__cancel_pending()) return -ECANCELED;
    weft__loop *bound = atomic_load_explicit(&p->loop, memory_order_acquire);
    if (!bound) {
        weft__perturb(WEFT__PP_POLL_BIND_SEEN);
        int rc = pollfd_bind(w->loop, p, events, &bound);
        if (rc == -EPERM) return (int)events;      /* regular file: always ready */
        if (rc == -EAGAIN) weft__assert(bound != w->loop, "a loop raced with itself");
        else if (rc) return rc;
        else bound = w->loop;
    }
    if (bound != w->loop) {
        /* Registered with another thread's loop: wait as for any fd, on this one. */
        int64_t left = deadline == WEFT__NO_DEADLINE ? WEFT_FOREVER
                     : deadline > weft_now() ? deadline - weft_now() : 0;
        return weft_io_wait(p->fd, events, left);
    }
    return pollfd_park(w, p, events, deadline);
}

void weft__pollfd_wake_all(weft__pollfd *p)
{
    weft__assert_loop_thread(atomic_load_explicit(&p->loop, memory_order_relaxed));
    if (p->rd) { weft__waiter *w = p->rd; p->rd = NULL; weft__waiter_wake(w, WEFT__W_WOKEN); }
    if (p->wr) { weft__waiter *w = p->wr; p->wr = NULL; weft__waiter_wake(w, WEFT__W_WOKEN); }
}

void weft__pollfd_detach(weft__pollfd *p, bool unref)
{
    weft__loop *l = atomic_load_explicit(&p->loop, memory_order_relaxed);
    if (!l) return;
    weft__assert(!p->rd && !p->wr, "a registration detached with waiters");
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    if ((size_t)p->fd < l->fds_cap && l->fds[p->fd].pfd == p) l->fds[p->fd].pfd = NULL;
    atomic_store_explicit(&p->loop, NULL, memory_order_relaxed);
    if (unref) weft__loop_unref(l);
}

/* Another thread's half of a release (see loop/internal.h). The registration's loop
 * reference keeps l, and so l->epfd, alive; l->epfd was set before p->loop was published
 * (pollfd_bind's CAS), and this acquire load sees it. EPOLL_CTL_DEL may come from any
 * thread: once it returns, no epoll_wait that starts later reports p. One that started
 * before may already hold p's event in its array: l's thread dispatches it to p, which is
 * why p's memory stays until l's thread has run weft__pollfd_forget (the caller's post),
 * after which that epoll_wait batch is over. p->loop goes back to NULL, so l's thread can
 * tell that its fd table's entry for the number (which may be reused at once) is stale. */
weft__loop *weft__pollfd_detach_remote(weft__pollfd *p)
{
    weft__loop *l = atomic_load_explicit(&p->loop, memory_order_acquire);
    if (!l) return NULL;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, p->fd, NULL);
    atomic_store_explicit(&p->loop, NULL, memory_order_release);
    return l;
}

/* l's thread, or the thread that drops l's last reference (its thread gone): no other. */
void weft__pollfd_forget(weft__loop *l, weft__pollfd *p)
{
    if ((size_t)p->fd < l->fds_cap && l->fds[p->fd].pfd == p) l->fds[p->fd].pfd = NULL;
}
