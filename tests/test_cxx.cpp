// The public headers from C++ (C++11 and C++17, g++ and clang++): weft.h compiles, links
// and runs from a C++ program — coroutines on a loop, a pool with futures, a lock shared by
// both — and the results are checked. Built twice by tests/meson.build (-std=c++11 and
// -std=c++17); nothing here uses weft's internals.
#include <weft.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CXX_CHECK(cond) do { if (!(cond)) { \
    std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    std::abort(); } } while (0)

namespace {

struct shared {
    weft_lock *lock;
    long total;
};

// A coroutine: adds its number to the total under the weft lock, after a short sleep so
// that the coroutines overlap.
int add_later(void *arg, void **result)
{
    auto *s = static_cast<shared *>(arg);
    CXX_CHECK(weft_sleep(WEFT_MS) == 0);
    CXX_CHECK(weft_lock_acquire(s->lock, WEFT_FOREVER) == 0);
    s->total += 1;
    CXX_CHECK(weft_lock_release(s->lock) == 0);
    *result = reinterpret_cast<void *>(static_cast<intptr_t>(7));
    return 0;
}

int square(void *arg, void **result)
{
    intptr_t x = reinterpret_cast<intptr_t>(arg);
    *result = reinterpret_cast<void *>(x * x);
    return 0;
}

int cxx_main(void *arg, void **result)
{
    auto *s = static_cast<shared *>(arg);
    // 100 coroutines on this loop.
    std::vector<weft_future *> tasks(100);
    for (auto &t : tasks) CXX_CHECK(weft_spawn(&t, add_later, s) == 0);
    for (auto *t : tasks) {
        void *r = nullptr;
        CXX_CHECK(weft_future_result(t, 10 * WEFT_SEC, &r) == 0);
        CXX_CHECK(reinterpret_cast<intptr_t>(r) == 7);
        weft_future_release(t);
    }
    // A pool's futures, waited for from the coroutine.
    weft_pool *pool = nullptr;
    CXX_CHECK(weft_pool_create(&pool, nullptr) == 0);
    std::vector<weft_future *> jobs(50);
    for (size_t i = 0; i < jobs.size(); i++)
        CXX_CHECK(weft_pool_submit(pool, &jobs[i], square,
                                   reinterpret_cast<void *>(static_cast<intptr_t>(i))) == 0);
    intptr_t sum = 0;
    for (auto *j : jobs) {
        void *r = nullptr;
        CXX_CHECK(weft_future_result(j, 10 * WEFT_SEC, &r) == 0);
        sum += reinterpret_cast<intptr_t>(r);
        weft_future_release(j);
    }
    CXX_CHECK(weft_pool_shutdown(pool, true, false) == 0);
    weft_pool_destroy(pool);
    *result = reinterpret_cast<void *>(sum);
    return 0;
}

}  // namespace

int main()
{
    shared s{nullptr, 0};
    CXX_CHECK(weft_lock_create(&s.lock) == 0);
    void *r = nullptr;
    CXX_CHECK(weft_run(cxx_main, &s, &r) == 0);
    CXX_CHECK(s.total == 100);
    intptr_t want = 0;
    for (intptr_t i = 0; i < 50; i++) want += i * i;
    CXX_CHECK(reinterpret_cast<intptr_t>(r) == want);
    weft_lock_destroy(s.lock);
    std::printf("ok C++ %ld: 100 coroutines, 50 pool jobs\n", static_cast<long>(__cplusplus));
    return 0;
}
