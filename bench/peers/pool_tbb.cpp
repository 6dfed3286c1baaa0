// Peer benchmark: oneTBB task_group in an arena limited to 2 threads.
//
// tbb::task_arena arena(2); everything runs inside arena.execute(...).  The
// arena's concurrency of 2 counts the calling (main) thread, which takes the
// slot TBB reserves for it: so the 2 threads are the main thread and one TBB
// worker, and the main thread executes tasks too while it waits in
// task_group::wait() (that is how TBB's wait works; it has no "only wait").
//
// pool-throughput: one tbb::task_group; run() N times with a task that does
// an atomic increment of a shared counter, then wait(), which returns when
// all N have finished.  Interval: from the first run() until wait()
// returns.  Reported as tasks per second.
//
// pool-roundtrip: R times { tg.run(task computing arg + 1); tg.wait(); },
// checking the result.  NOTE: task_group::run pushes the task onto the
// calling thread's own deque and wait() pops from that deque first, so most
// round trips are executed by the main thread itself unless the worker
// steals the task in between; the share that ran on another thread is
// printed on stderr.  That is what TBB's run+wait costs, not a cross-thread
// hand-off.  Reported as ns per round trip, under two names: pool-roundtrip,
// and pool-roundtrip-caller-runs, the workload weft measures with a pool whose
// waiting threads run jobs no worker has started (caller_runs): TBB's wait
// always does that, so both names are the same figure.
//
// Each workload first runs a warm-up pass of a tenth of its count.
//
// Usage: pool_tbb [tasks [roundtrips]]   (default 1,000,000 and 100,000)
// Prints exactly:
//   RESULT pool-throughput <tasks per second>
//   RESULT pool-roundtrip <ns per round trip>
//   RESULT pool-roundtrip-caller-runs <the same>

#include "peer.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <thread>

namespace {


std::atomic<unsigned long> counter{0};

// N counter tasks, then wait for all; returns the elapsed ns.
double throughput_pass(unsigned long n) {
    counter.store(0);
    tbb::task_group tg;
    double t0 = peer_now_ns();
    for (unsigned long i = 0; i < n; i++)
        tg.run([] { counter.fetch_add(1); });
    tbb::task_group_status st = tg.wait();
    double t1 = peer_now_ns();
    if (st != tbb::complete || counter.load() != n) {
        std::fprintf(stderr, "pool_tbb: throughput pass: status %d, counter %lu of %lu\n",
                     static_cast<int>(st), counter.load(), n);
        std::exit(1);
    }
    return t1 - t0;
}

// R round trips; returns the elapsed ns.  *stolen counts the tasks that ran
// on a thread other than the caller's.
double roundtrip_pass(unsigned long r, unsigned long *stolen) {
    const std::thread::id me = std::this_thread::get_id();
    unsigned long other = 0;
    tbb::task_group tg;
    double t0 = peer_now_ns();
    for (unsigned long i = 1; i <= r; i++) {
        unsigned long result = 0;
        bool elsewhere = false;
        tg.run([i, &result, &elsewhere, me] {
            result = i + 1;
            elsewhere = std::this_thread::get_id() != me;
        });
        tbb::task_group_status st = tg.wait();
        if (st != tbb::complete || result != i + 1) {
            std::fprintf(stderr, "pool_tbb: round trip %lu: status %d, result %lu\n", i,
                         static_cast<int>(st), result);
            std::exit(1);
        }
        other += elsewhere;
    }
    double t1 = peer_now_ns();
    *stolen = other;
    return t1 - t0;
}

}  // namespace

int main(int argc, char **argv) {
    unsigned long tasks, roundtrips;
    peer_pool_counts("pool_tbb", argc, argv, 1ULL << 40, &tasks, &roundtrips);

    try {
        tbb::task_arena arena(2);
        double tp_ns = 0, rt_ns = 0;
        unsigned long stolen = 0;
        arena.execute([&] {
            throughput_pass(tasks / 10);
            tp_ns = throughput_pass(tasks);
            roundtrip_pass(roundtrips / 10, &stolen);
            rt_ns = roundtrip_pass(roundtrips, &stolen);
        });
        std::printf("RESULT pool-throughput %.1f\n", static_cast<double>(tasks) / (tp_ns / 1e9));
        std::printf("RESULT pool-roundtrip %.1f\n", rt_ns / static_cast<double>(roundtrips));
        std::printf("RESULT pool-roundtrip-caller-runs %.1f\n",
                    rt_ns / static_cast<double>(roundtrips));
        std::fprintf(stderr, "pool_tbb: %lu of %lu round-trip tasks ran on another thread\n",
                     stolen, roundtrips);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "pool_tbb: %s\n", e.what());
        return 1;
    }
    if (std::fflush(stdout) != 0) {
        std::perror("pool_tbb: stdout");
        return 1;
    }
    return 0;
}
