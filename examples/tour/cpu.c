/* cpu.c — tour section 2, CPU-bound: the seeds' prime check of twelve large numbers,
 * sequentially, on a thread pool and on a process pool of one worker per core; the seeds'
 * Python beside them (where its threads wait for the GIL). */
#include "tour.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The twelve largest primes below 2^48: each costs about eight million trial divisions
 * (enough that starting a pool is small beside the work). */
#define NUMBERS 12
static const uint64_t numbers[NUMBERS] = {
    281474976710597ull, 281474976710591ull, 281474976710567ull, 281474976710563ull,
    281474976710509ull, 281474976710491ull, 281474976710467ull, 281474976710423ull,
    281474976710413ull, 281474976710399ull, 281474976710339ull, 281474976710327ull,
};
static bool is_prime_answer[NUMBERS];

static bool is_prime(uint64_t n)
{
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    uint64_t root = (uint64_t)sqrt((double)n);
    for (uint64_t d = 3; d <= root + 1 && d < n; d += 2)
        if (n % d == 0) return false;
    return true;
}

/* A thread pool job: is numbers[arg] prime? */
static int check_job(void *arg, void **result)
{
    *result = (void *)(intptr_t)is_prime(numbers[(intptr_t)arg]);
    return 0;
}

#ifndef TOUR_NO_FORK
/* A process pool task: the number arrives as 8 bytes, the answer leaves as 1. */
static int check_task(const void *arg, size_t len, void **out, size_t *out_len)
{
    uint64_t n;
    if (len != sizeof n) return -EINVAL;
    memcpy(&n, arg, sizeof n);
    unsigned char *answer = malloc(1);
    if (!answer) return -ENOMEM;
    *answer = is_prime(n);
    *out = answer;
    *out_len = 1;
    return 0;
}

#endif

static void on_threads(int workers)
{
    weft_pool *p;
    weft_pool_opts o = { workers };
    if (weft_pool_create(&p, &o) != 0) {
        tour_fail("no thread pool");
        return;
    }
    weft_future *f[NUMBERS];
    int n = 0, rc = 0;
    for (; n < NUMBERS; n++)
        if ((rc = weft_pool_submit(p, &f[n], check_job, (void *)(intptr_t)n)) != 0) break;
    for (int i = 0; i < n; i++) {
        void *res;
        if (weft_future_result(f[i], TOUR_TIMEOUT, &res) != 0 ||
            (bool)(intptr_t)res != is_prime_answer[i])
            rc = rc ? rc : -EPROTO;
        weft_future_release(f[i]);
    }
    if (rc) tour_fail("a thread's answer differs");
    weft_pool_shutdown(p, true, false);
    weft_pool_destroy(p);
}

#ifndef TOUR_NO_FORK
/* 0, an error, or -ENOSYS: processes cannot be started here. */
static int on_processes(int workers)
{
    weft_procpool *p;
    weft_procpool_opts o = WEFT_PROCPOOL_OPTS_INIT;
    o.workers = workers;
    int rc = weft_procpool_create(&p, &o);
    if (rc) return rc;
    weft_future *f[NUMBERS];
    int n = 0;
    for (; n < NUMBERS; n++)
        if ((rc = weft_procpool_submit(p, &f[n], check_task, &numbers[n], sizeof numbers[n])))
            break;
    for (int i = 0; i < n; i++) {
        const void *data;
        size_t len;
        int r = weft_procpool_result(f[i], TOUR_TIMEOUT, &data, &len);
        if (r == 0 && (len != 1 || *(const unsigned char *)data != is_prime_answer[i]))
            r = -EPROTO;
        if (r && !rc) rc = r;
        weft_future_release(f[i]);
    }
    weft_procpool_destroy(p);
    return rc;
}
#endif

static const char py_primes[] =
    "import sys, time, math\n"
    "from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor\n"
    "def is_prime(n):\n"
    "    if n < 2: return False\n"
    "    if n % 2 == 0: return n == 2\n"
    "    for d in range(3, math.isqrt(n) + 2, 2):\n"
    "        if n % d == 0: return n == d\n"
    "    return True\n"
    "nums = [int(x) for x in sys.argv[1].split(',')]\n"
    "how, workers = sys.argv[2].split(':')\n"
    "t = time.perf_counter()\n"
    "if how == 'seq': list(map(is_prime, nums))\n"
    "elif how == 'threads':\n"
    "    with ThreadPoolExecutor(int(workers)) as ex: list(ex.map(is_prime, nums))\n"
    "else:\n"
    "    with ProcessPoolExecutor(int(workers)) as ex: list(ex.map(is_prime, nums))\n"
    "print(time.perf_counter() - t)\n";

static void python_rows(double base, int workers)
{
    char list[NUMBERS * 21];
    size_t k = 0;
    for (int i = 0; i < NUMBERS; i++)
        k += (size_t)sprintf(list + k, "%s%llu", i ? "," : "", (unsigned long long)numbers[i]);
    static const char *hows[] = { "seq", "threads", "processes" };
    static const char *kinds[] = { "Python, sequential", "Python, ThreadPoolExecutor(%d)",
                                   "Python, ProcessPoolExecutor(%d)" };
    double py_base = 0;       /* the notes: speed-up against Python's sequential time */
    for (int i = 0; i < 3; i++) {
        char label[64], how[32], note[64];
        snprintf(label, sizeof label, kinds[i], workers);
        snprintf(how, sizeof how, "%s:%d", hows[i], workers);
        tour_row r;
        tour_row_begin(&r, label);
        double t = tour_python(py_primes, list, how);
        if (i == 0) py_base = t;
        if (i == 0) snprintf(note, sizeof note, "the same loop in Python");
        else snprintf(note, sizeof note, "%.1fx over Python's sequential", py_base / t);
        tour_row_end_measured(&r, t, base, t > 0 && py_base > 0 ? note : NULL);
    }
}

void tour_cpu(void)
{
    /* The cores this process may run on (its affinity, which a container or taskset may
     * narrow), and at most one worker per number. */
    cpu_set_t set;
    long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
    int workers = (int)(cores > 0 ? cores : 2);
    if (workers > NUMBERS) workers = NUMBERS;
    char why[256];
    snprintf(why, sizeof why, "Pure computation: threads and processes run in parallel in C "
             "(%d workers for the %ld cores this process may use, so at best %d.0x, less the "
             "pool's start, which every pool row includes); Python's threads wait for the GIL.",
             workers, cores, workers);
    tour_heading("2. CPU-bound: is each of 12 numbers just below 2^48 prime?", why);
    tour_columns(true);
    tour_row r;
    tour_row_begin(&r, "weft, sequential");
    for (int i = 0; i < NUMBERS; i++) is_prime_answer[i] = is_prime(numbers[i]);
    double base = tour_row_end(&r, 0, NULL);
    char label[64];
    snprintf(label, sizeof label, "weft, thread pool of %d", workers);
    tour_row_begin(&r, label);
    on_threads(workers);
    tour_row_end(&r, base, "one job per number");
    snprintf(label, sizeof label, "weft, process pool of %d", workers);
    tour_row_begin(&r, label);
#ifdef TOUR_NO_FORK
    tour_row_skip(&r, TOUR_NO_FORK);
#else
    int rc = on_processes(workers);
    if (rc == -ENOSYS) {
        tour_row_skip(&r, "no pidfd_open here");
    } else {
        tour_row_end(&r, base, "one task per number, 8 bytes in, 1 out");
        if (rc) tour_fail(weft_strerror(rc));
    }
#endif
    int primes = 0;
    for (int i = 0; i < NUMBERS; i++) primes += is_prime_answer[i];
    tour_remark("%d of the 12 are prime", primes);
    if (primes != NUMBERS) tour_fail("all 12 are prime: is_prime is wrong");
    if (tour_have_python()) python_rows(base, workers);
}
