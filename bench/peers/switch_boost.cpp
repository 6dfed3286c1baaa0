// Peer benchmark: raw boost.context context switch (jump_fcontext).
//
// Two contexts -- the main one and one made with make_fcontext -- jump back
// and forth.  Every jump_fcontext call is one one-way switch; the figure is
// nanoseconds per one-way switch.
//
// Usage: switch_boost [switches]   (default 20,000,000 one-way switches)
// Prints exactly: RESULT switch <ns per one-way switch>

#include <boost/context/detail/fcontext.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ctx = boost::context::detail;

namespace {

constexpr std::size_t kStackSize = 64 * 1024;

// Touched by the coroutine on every resume so the loop has a visible effect.
volatile std::uint64_t g_resumes = 0;

void coroutine_entry(ctx::transfer_t t) {
    for (;;) {
        g_resumes = g_resumes + 1;
        t = ctx::jump_fcontext(t.fctx, nullptr);
    }
}

double now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Performs `round_trips` main->coroutine->main round trips (2 switches each).
// Returns the context to resume next time.
ctx::fcontext_t ping_pong(ctx::fcontext_t co, std::uint64_t round_trips) {
    for (std::uint64_t i = 0; i < round_trips; ++i) {
        co = ctx::jump_fcontext(co, nullptr).fctx;
    }
    return co;
}

std::uint64_t parse_count(const char *s) {
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0) {
        std::fprintf(stderr, "switch_boost: bad iteration count '%s'\n", s);
        std::exit(2);
    }
    return static_cast<std::uint64_t>(v);
}

}  // namespace

int main(int argc, char **argv) {
    std::uint64_t switches = 20000000ULL;
    if (argc > 1) switches = parse_count(argv[1]);
    std::uint64_t round_trips = switches / 2;
    if (round_trips == 0) round_trips = 1;

    void *stack = std::malloc(kStackSize);
    if (stack == nullptr) {
        std::perror("malloc");
        return 1;
    }
    // The stack grows down: make_fcontext wants the top of the region.
    void *top = static_cast<char *>(stack) + kStackSize;
    ctx::fcontext_t co = ctx::make_fcontext(top, kStackSize, coroutine_entry);

    // Warm-up (also performs the first entry into the coroutine).
    std::uint64_t warm = round_trips / 10;
    if (warm < 1000) warm = 1000;
    co = ping_pong(co, warm);

    double t0 = now_ns();
    co = ping_pong(co, round_trips);
    double t1 = now_ns();

    if (g_resumes != warm + round_trips) {
        std::fprintf(stderr, "switch_boost: resume count mismatch (%llu)\n",
                     static_cast<unsigned long long>(g_resumes));
        return 1;
    }
    (void)co;  // the coroutine is suspended forever; its stack is simply leaked
    double per_switch = (t1 - t0) / static_cast<double>(2 * round_trips);
    std::printf("RESULT switch %.3f\n", per_switch);
    return 0;
}
