/* Issue 11, bug 1: a socket registered by two loops at once (src/loop/poll.c,
 * weft__pollfd_wait / pollfd_bind). Coroutines on two loops that first wait on the same
 * weft_socket at the same time both see it unbound, both add its fd to their own epoll and
 * take a loop reference; the last store of p->loop wins. The other loop's reference, epoll
 * fd and eventfd leak, its fd table keeps a pointer to the socket after it is freed.
 *
 * Each try: a fresh socket (one end of a socketpair, never written to); two threads each
 * run a loop whose main coroutine waits, released together, for the socket to be readable
 * (1 ms timeout), so both bind it; both threads end; the socket is closed. After all tries
 * the process holds as many descriptors as before: a loop that lost the race keeps two;
 * and each wait timed out: a wait that says -EBUSY met the other loop's waiter in the
 * socket's one reader slot.
 * Perturbation points that widen the window: poll.bind.seen, poll.bind.publish.
 */
#include "perturb_check.h"

#include <sys/socket.h>

static struct {
    weft_socket *s;
    atomic_int go;
    atomic_int ready;
    atomic_int odd;                  /* waits that did not time out */
} T;

static int waiter_main(void *arg, void **result)
{
    (void)arg; (void)result;
    char c;
    atomic_fetch_add(&T.ready, 1);
    while (!atomic_load(&T.go)) {}
    ssize_t n = weft_socket_recv(T.s, &c, 1, 0, WEFT_MS);
    /* -EBUSY: the other loop's waiter sits in this loop's slot (both bound it). */
    if (n != -ETIMEDOUT) atomic_fetch_add(&T.odd, 1);
    return 0;
}

static void test_two_loops_bind_one_socket(void)
{
    int tries = perturb_tries(slow_tools() ? 1500 : 3000);
    int64_t budget = 30 * WEFT_SEC, t0 = weft_now();
    int before = perturb_count_fds();
    int leaked_tries = 0, done = 0, last = before;
    loop_job job = { waiter_main, NULL };
    for (int i = 0; i < tries && weft_now() - t0 < budget; i++, done++) {
        int sv[2];
        CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) ? -errno
                                                                                          : 0);
        CHECK_OK(weft_socket_adopt(&T.s, sv[0]));
        atomic_store(&T.go, 0);
        atomic_store(&T.ready, 0);
        weft_thread *a = start_loop_thread(&job), *b = start_loop_thread(&job);
        while (atomic_load(&T.ready) < 2) sched_yield();
        atomic_store(&T.go, 1);
        join_and_release(a);
        join_and_release(b);
        CHECK_OK(weft_socket_close(T.s));
        close(sv[1]);
        int now = perturb_count_fds();
        if (now > last) leaked_tries++;
        last = now;
    }
    int after = perturb_count_fds();
    int odd = atomic_load(&T.odd);
    printf("   %d tries, %d of them leaked descriptors (%d before, %d after); %d waits "
           "did not time out\n", done, leaked_tries, before, after, odd);
    fflush(stdout);
    if (odd)
        fprintf(stderr, "a socket bound by two loops at once: %d waits met the other "
                "loop's waiter (-EBUSY) (issue 11 bug 1)\n", odd);
    if (after != before)
        fprintf(stderr, "a socket bound by two loops at once: %d descriptors leaked in %d "
                "of %d tries (issue 11 bug 1)\n", after - before, leaked_tries, done);
    CHECK_EQ(after, before);
    CHECK_EQ(odd, 0);
}

int main(void)
{
    RUN(test_two_loops_bind_one_socket);
    return check_done();
}
