/* Task groups under stress: three nested levels of groups with failures, cancellation of the
 * owner from outside, deadline scopes and shielded cleanup (a table of deterministic cases);
 * then thousands of random groups on two loops at once, cancelled by sibling coroutines and
 * by another thread, cut by deadline scopes. Nothing here depends on timing for correctness:
 * expectations come from what the children did (their counters and results).
 *
 * The random generator is seeded with a fixed value (printed; WEFT_TEST_SEED=0x... overrides
 * it). Each worker's sequence of choices is reproducible; the interleaving of two loops and a
 * canceller thread is not.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------- helpers ------------- */

static atomic_int unretrieved_calls;

static void count_unretrieved(weft_future *task, int err, void *arg)
{
    (void)arg;
    const char *name = weft_task_name(task);
    fprintf(stderr, "unretrieved hook: %s failed with %s\n", name ? name : "a future",
            weft_errname(err));
    atomic_fetch_add(&unretrieved_calls, 1);
}

static inline bool is_failure(int err)
{
    return err < 0 && err != -ECANCELED;
}

static uint64_t seed = 0x9E3779B97F4A7C15ull;

/* After a group was waited for (rc): the outcome stays, children are as recorded, no new
 * child is accepted. child_rcs[i]: what child i returned. */
static int refused_child(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK(!"a child spawned into a group that was waited for ran");
    return 0;
}

static void check_waited(weft_group *g, int rc, size_t n, const int *child_rcs)
{
    CHECK_RC(weft_group_result(g), rc);
    CHECK_RC(weft_group_wait(g), rc);               /* again: the same outcome, at once */
    CHECK_EQ(weft_group_size(g), n);
    size_t failures = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_RC(weft_group_child_result(g, i), child_rcs[i]);
        if (is_failure(child_rcs[i])) failures++;
    }
    CHECK_RC(weft_group_child_result(g, n), -EINVAL);
    CHECK_EQ(weft_group_failures(g), failures);
    CHECK_RC(weft_group_spawn(g, NULL, NULL, refused_child, NULL), -ESHUTDOWN);
}

/* ---------------------------------------------------------------- nested groups ------- */

/* owner --L1--> b1 "L2 owners" --L2--> b2 "L3 owners" each --L3--> b3 leaves.
 * Leaf l belongs to L3 group m = l / b3, which belongs to branch (L1 child) i = m / b2. */
enum { MAXB = 4, MAXM = MAXB * MAXB, MAXLEAF = MAXB * MAXB * MAXB };
enum { NEST_OK, NEST_FAIL, NEST_CANCEL, NEST_DEADLINE };

typedef struct {
    const char *name;
    int b1, b2, b3;
    int fail_leaf;          /* -1, or the leaf that returns -EIO */
    bool fail_on_cancel;    /* it fails when cancelled (else: once every leaf has started) */
    bool outside_cancel;    /* the owner's task is cancelled by another coroutine */
    int deadline_branch;    /* -1, or the L1 child whose L2 wait is in a 20 ms deadline scope */
    bool shield_cleanup;    /* a cancelled leaf sleeps 5 ms in a shielded scope, returns 0 */
} nest_case;

static const nest_case nest_cases[] = {
    /* name                                              b1 b2 b3 fail  onc   outside dl  shield */
    { "a: 4x4x4, nothing fails",                          4, 4, 4, -1, false, false, -1, false },
    { "a: 1x1x1, nothing fails",                          1, 1, 1, -1, false, false, -1, false },
    { "a: 1x3x2, nothing fails",                          1, 3, 2, -1, false, false, -1, false },
    { "b: a middle leaf fails",                           3, 3, 3, 13, false, false, -1, false },
    { "b: the first leaf fails",                          3, 2, 4,  0, false, false, -1, false },
    { "b: the last leaf fails",                           2, 3, 3, 17, false, false, -1, false },
    { "b: one branch, one sibling",                       1, 1, 2,  1, false, false, -1, false },
    { "c: owner cancelled from outside",                  3, 3, 3, -1, false, true,  -1, false },
    { "c: owner cancelled, a leaf fails as it stops",     3, 3, 3, 22, true,  true,  -1, false },
    { "d: deadline on branch 1",                          3, 3, 3, -1, false, false,  1, false },
    { "d: deadline on the only branch",                   1, 2, 2, -1, false, false,  0, false },
    { "d: deadline, a leaf there fails as it stops",      3, 3, 3, 13, true,  false,  1, false },
    { "e: b with shielded cleanup",                       3, 3, 3, 13, false, false, -1, true  },
    { "e: c with shielded cleanup",                       3, 3, 3, -1, false, true,  -1, true  },
    { "e: c, a failing leaf, shielded cleanup",           2, 2, 3,  5, true,  true,  -1, true  },
    { "e: d with shielded cleanup",                       3, 3, 3, -1, false, false,  2, true  },
};

static struct {
    const nest_case *c;
    int nleaf, per_branch;
    int started, ended;
    int branch_started[MAXB], branch_ended[MAXB];
    int leaf_starts[MAXLEAF], leaf_ends[MAXLEAF], leaf_completed[MAXLEAF], leaf_rc[MAXLEAF];
    int leaf_cleanups[MAXLEAF], leaf_cleanup_rc[MAXLEAF];
    bool leaf_saw_cancel[MAXLEAF];
    int l3_runs[MAXM], l3_rc[MAXM];            /* l3_rc: the L3 wait, = what the L3 owner returns */
    size_t l3_failures[MAXM];
    bool l3_owner_cancelled[MAXM];
    int l2_runs[MAXB], l2_rc[MAXB], l2_leave_rc[MAXB], l1child_ret[MAXB];
    size_t l2_failures[MAXB];
    bool l1child_cancelled[MAXB];
    int64_t l2_scoped_wait_ns;
    int owner_runs, l1_rc, owner_ret;
    size_t l1_failures;
    bool owner_cancelled;
} N;

static int nest_kind(const nest_case *c)
{
    if (c->outside_cancel) return NEST_CANCEL;
    if (c->deadline_branch >= 0) return NEST_DEADLINE;
    if (c->fail_leaf >= 0) return NEST_FAIL;
    return NEST_OK;
}

/* Leaves that get cancelled: every one but the failing leaf (b), all (c), those of the
 * deadline's branch (d). They block until then. */
static bool nest_leaf_cancelled(const nest_case *c, int leaf)
{
    switch (nest_kind(c)) {
    case NEST_FAIL: return leaf != c->fail_leaf;
    case NEST_CANCEL: return true;
    case NEST_DEADLINE: return leaf / (c->b2 * c->b3) == c->deadline_branch;
    default: return false;
    }
}

static int nest_leaf(void *arg, void **result)
{
    (void)result;
    const nest_case *c = N.c;
    int leaf = (int)(intptr_t)arg;
    int br = leaf / N.per_branch;
    N.leaf_starts[leaf]++;
    N.started++;
    N.branch_started[br]++;
    int rc;
    if (leaf == c->fail_leaf && !c->fail_on_cancel) {
        while (N.started < N.nleaf) CHECK_OK(weft_yield());   /* everybody is in place */
        rc = -EIO;
    } else if (nest_leaf_cancelled(c, leaf)) {
        rc = weft_sleep(30 * WEFT_SEC);
        CHECK_RC(rc, -ECANCELED);
        CHECK(weft_cancelled());
        N.leaf_saw_cancel[leaf] = true;
        if (leaf == c->fail_leaf) {
            rc = -EIO;                       /* fails while being cancelled: a failure all the same */
        } else if (c->shield_cleanup) {
            weft_scope s;
            CHECK_OK(weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
            CHECK(!weft_cancelled());
            N.leaf_cleanup_rc[leaf] = weft_sleep(5 * WEFT_MS);
            N.leaf_cleanups[leaf]++;
            CHECK_OK(weft_scope_leave(&s));
            CHECK(weft_cancelled());                  /* still cancelled: it is sticky */
            CHECK_RC(weft_yield(), -ECANCELED);
            rc = 0;
        }
    } else {
        CHECK_OK(weft_sleep(WEFT_MS));
        N.leaf_completed[leaf]++;
        rc = 0;
    }
    N.leaf_rc[leaf] = rc;
    N.leaf_ends[leaf]++;
    N.ended++;
    N.branch_ended[br]++;
    return rc;
}

/* A new group with n children fn((void *)(first + k)), k = 0..n-1: one level of the tree. */
static weft_group *nest_group(int n, weft_fn fn, int first)
{
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int k = 0; k < n; k++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, fn, (void *)(intptr_t)(first + k)));
    return g;
}

static int nest_l3_owner(void *arg, void **result)
{
    (void)result;
    const nest_case *c = N.c;
    int m = (int)(intptr_t)arg;
    N.l3_runs[m]++;
    weft_group *g = nest_group(c->b3, nest_leaf, m * c->b3);
    int rc = weft_group_wait(g);
    check_waited(g, rc, (size_t)c->b3, &N.leaf_rc[m * c->b3]);
    N.l3_rc[m] = rc;
    N.l3_failures[m] = weft_group_failures(g);
    N.l3_owner_cancelled[m] = weft_cancelled();
    weft_group_destroy(g);
    return rc;                               /* propagates the L3 outcome */
}

static int nest_l2_owner(void *arg, void **result)
{
    (void)result;
    const nest_case *c = N.c;
    int i = (int)(intptr_t)arg;
    N.l2_runs[i]++;
    weft_group *g = nest_group(c->b2, nest_l3_owner, i * c->b2);
    int rc;
    if (i == c->deadline_branch) {
        /* Deterministic: this branch's leaves all block, every other branch is done. */
        while (N.branch_started[i] < N.per_branch ||
               N.ended - N.branch_ended[i] < N.nleaf - N.per_branch)
            CHECK_OK(weft_sleep(200 * WEFT_US));
        weft_scope s;
        int64_t t0 = weft_now();             /* before: the deadline counts from the enter */
        CHECK_OK(weft_scope_enter(&s, 20 * WEFT_MS, 0));
        rc = weft_group_wait(g);
        N.l2_scoped_wait_ns = weft_now() - t0;
        CHECK(weft_scope_expired(&s));
        N.l2_leave_rc[i] = weft_scope_leave(&s);
    } else {
        rc = weft_group_wait(g);
    }
    check_waited(g, rc, (size_t)c->b2, &N.l3_rc[i * c->b2]);
    N.l2_rc[i] = rc;
    N.l2_failures[i] = weft_group_failures(g);
    N.l1child_cancelled[i] = weft_cancelled();
    weft_group_destroy(g);
    /* move_on_after: the branch's own deadline is not an error for the level above */
    int ret = i == c->deadline_branch && rc == -ETIMEDOUT ? 0 : rc;
    N.l1child_ret[i] = ret;
    return ret;
}

static int nest_owner(void *arg, void **result)
{
    (void)arg; (void)result;
    const nest_case *c = N.c;
    N.owner_runs++;
    weft_group *g = nest_group(c->b1, nest_l2_owner, 0);
    int rc = weft_group_wait(g);
    check_waited(g, rc, (size_t)c->b1, N.l1child_ret);
    N.l1_rc = rc;
    N.l1_failures = weft_group_failures(g);
    N.owner_cancelled = weft_cancelled();
    weft_group_destroy(g);
    return rc;
}

static int nest_canceller(void *arg, void **result)
{
    (void)result;
    weft_future *owner = arg;
    while (N.started < N.nleaf) CHECK_OK(weft_sleep(200 * WEFT_US));
    CHECK_OK(weft_sleep(2 * WEFT_MS));
    CHECK_OK(weft_future_cancel(owner));
    return 0;
}

static int nest_main(void *arg, void **result)
{
    (void)result;
    const nest_case *c = arg;
    CHECK_EQ(weft_live_coroutines(), 1);
    weft_future *owner, *canceller = NULL;
    CHECK_OK(weft_spawn(&owner, nest_owner, NULL));
    if (c->outside_cancel) CHECK_OK(weft_spawn(&canceller, nest_canceller, owner));
    N.owner_ret = weft_future_result(owner, WEFT_FOREVER, NULL);
    if (canceller) {
        CHECK_OK(weft_future_result(canceller, WEFT_FOREVER, NULL));
        weft_future_release(canceller);
    }
    weft_future_release(owner);
    CHECK_EQ(weft_live_coroutines(), 1);     /* just this one: nothing outlived its group */
    return 0;
}

static void nest_verify(const nest_case *c)
{
    int kind = nest_kind(c);
    int fl = c->fail_leaf;
    int fm = fl >= 0 ? fl / c->b3 : -1;
    int fi = fl >= 0 ? fm / c->b2 : -1;
    int di = c->deadline_branch;
    int nm = c->b1 * c->b2;

    CHECK_EQ(N.started, N.nleaf);
    CHECK_EQ(N.ended, N.nleaf);
    for (int l = 0; l < N.nleaf; l++) {
        bool canc = nest_leaf_cancelled(c, l);
        int want = l == fl ? -EIO : canc ? (c->shield_cleanup ? 0 : -ECANCELED) : 0;
        CHECK_EQ(N.leaf_starts[l], 1);
        CHECK_EQ(N.leaf_ends[l], 1);
        CHECK_RC(N.leaf_rc[l], want);
        CHECK_EQ(N.leaf_saw_cancel[l], canc);
        CHECK_EQ(N.leaf_completed[l], !canc && l != fl);
        bool cleans = canc && l != fl && c->shield_cleanup;
        CHECK_EQ(N.leaf_cleanups[l], cleans);
        if (cleans) CHECK_OK(N.leaf_cleanup_rc[l]);   /* the shielded sleep ran its course */
    }
    for (int m = 0; m < nm; m++) {
        int i = m / c->b2;
        bool region = kind == NEST_FAIL || kind == NEST_CANCEL || (kind == NEST_DEADLINE && i == di);
        bool owner_canc = kind == NEST_FAIL ? m != fm : region;
        CHECK_EQ(N.l3_runs[m], 1);
        CHECK_RC(N.l3_rc[m], m == fm ? -EIO : region ? -ECANCELED : 0);
        CHECK_EQ(N.l3_failures[m], m == fm);
        CHECK_EQ(N.l3_owner_cancelled[m], owner_canc);
    }
    for (int i = 0; i < c->b1; i++) {
        int want;
        bool canc;
        switch (kind) {
        case NEST_FAIL: want = i == fi ? -EIO : -ECANCELED; canc = i != fi; break;
        case NEST_CANCEL: want = i == fi ? -EIO : -ECANCELED; canc = true; break;
        case NEST_DEADLINE: want = i == di ? (i == fi ? -EIO : -ETIMEDOUT) : 0; canc = false; break;
        default: want = 0; canc = false; break;
        }
        CHECK_EQ(N.l2_runs[i], 1);
        CHECK_RC(N.l2_rc[i], want);
        CHECK_EQ(N.l2_failures[i], i == fi);
        CHECK_EQ(N.l1child_cancelled[i], canc);
        CHECK_RC(N.l1child_ret[i], i == di && want == -ETIMEDOUT ? 0 : want);
        if (i == di) CHECK_RC(N.l2_leave_rc[i], -ETIMEDOUT);
    }
    if (di >= 0) CHECK(N.l2_scoped_wait_ns >= 19 * WEFT_MS);   /* the deadline, not earlier */
    int want = fl >= 0 ? -EIO : kind == NEST_CANCEL ? -ECANCELED : 0;
    CHECK_EQ(N.owner_runs, 1);
    CHECK_RC(N.l1_rc, want);
    CHECK_RC(N.owner_ret, want);
    CHECK_EQ(N.l1_failures, fl >= 0);
    CHECK_EQ(N.owner_cancelled, kind == NEST_CANCEL);
}

static void test_nested_three_levels(void)
{
    for (size_t k = 0; k < sizeof nest_cases / sizeof nest_cases[0]; k++) {
        const nest_case *c = &nest_cases[k];
        /* the table's own consistency */
        CHECK(c->b1 >= 1 && c->b1 <= MAXB && c->b2 >= 1 && c->b2 <= MAXB && c->b3 >= 1 &&
              c->b3 <= MAXB);
        CHECK(c->fail_leaf < c->b1 * c->b2 * c->b3);
        CHECK(c->deadline_branch < c->b1);
        CHECK(!(c->outside_cancel && c->deadline_branch >= 0));
        if (c->fail_leaf >= 0) CHECK_EQ(c->fail_on_cancel, nest_kind(c) != NEST_FAIL);
        if (c->fail_leaf >= 0 && c->deadline_branch >= 0)
            CHECK_EQ(c->fail_leaf / (c->b2 * c->b3), c->deadline_branch);

        memset(&N, 0, sizeof N);
        N.c = c;
        N.per_branch = c->b2 * c->b3;
        N.nleaf = c->b1 * N.per_branch;
        int64_t t0 = weft_now();
        CHECK_OK(weft_run(nest_main, (void *)c, NULL));
        CHECK_EQ(weft_live_coroutines(), 0);
        nest_verify(c);
        CHECK_EQ(atomic_load(&unretrieved_calls), 0);
        printf("   %-52s %6.1f ms\n", c->name, (double)(weft_now() - t0) / 1e6);
    }
}

/* ---------------------------------------------------------------- random groups ------- */

enum { SMAX = 20, NWORKERS = 4, NLOOPS = 2, NSLOTS = NLOOPS * NWORKERS };
enum { K_NOW, K_SHORT, K_FAIL, K_LONG };
enum { C_LOCAL, C_REMOTE, C_NONE };
static const int fail_codes[] = { -EIO, -EPIPE, -ENOSPC, -EBADMSG };

typedef struct sround sround;

typedef struct {
    sround *r;
    int idx, kind, arg, err;
    int starts, ends, ret;
} schild;

struct sround {
    schild c[SMAX];
    weft_group *g;
    int first_fail;           /* the first child to return a failure, -1 */
    int64_t cancel_delay;
    bool cancel_called;       /* the local canceller called weft_group_cancel */
};

typedef struct {
    long rounds, children, never_started, cancelled_children, failed_children;
    long rc_ok, rc_fail, rc_timedout, rc_cancelled, destroyed_unwaited, refused_spawns;
    long remote_cancels, local_cancels;
} stats;

typedef struct {
    int slot;
    rng rng;
    int64_t end;
    long max_rounds;
    stats st;
} worker;

typedef struct {
    int index;
    worker w[NWORKERS];
} loop_ctx;

/* Groups offered to the canceller thread. It cancels each once it is due, holding the
 * lock, so a round that takes its group back under the lock may then destroy it. */
static struct {
    pthread_mutex_t m;
    struct {
        weft_group *g;
        int64_t due;
        bool done;
    } slot[NSLOTS];
    atomic_bool stop;
    long cancels;
} R = { .m = PTHREAD_MUTEX_INITIALIZER };

static int remote_canceller(void *arg, void **result)
{
    (void)arg; (void)result;
    while (!atomic_load(&R.stop)) {
        pthread_mutex_lock(&R.m);
        int64_t now = weft_now();
        for (int s = 0; s < NSLOTS; s++) {
            if (R.slot[s].g && !R.slot[s].done && now >= R.slot[s].due) {
                CHECK_OK(weft_group_cancel(R.slot[s].g));
                R.slot[s].done = true;
                R.cancels++;
            }
        }
        pthread_mutex_unlock(&R.m);
        CHECK_OK(weft_sleep(20 * WEFT_US));
    }
    return 0;
}

static void remote_offer(int s, weft_group *g, int64_t delay)
{
    pthread_mutex_lock(&R.m);
    R.slot[s].g = g;
    R.slot[s].due = weft_now() + delay;
    R.slot[s].done = false;
    pthread_mutex_unlock(&R.m);
}

static bool remote_done(int s)
{
    pthread_mutex_lock(&R.m);
    bool d = R.slot[s].done;
    pthread_mutex_unlock(&R.m);
    return d;
}

/* Takes the group back; true if it was cancelled meanwhile. */
static bool remote_take_back(int s)
{
    pthread_mutex_lock(&R.m);
    bool d = R.slot[s].done;
    R.slot[s].g = NULL;
    R.slot[s].done = false;
    pthread_mutex_unlock(&R.m);
    return d;
}

static int stress_child(void *arg, void **result)
{
    (void)result;
    schild *c = arg;
    c->starts++;
    int rc = 0;
    switch (c->kind) {
    case K_NOW:
        break;
    case K_SHORT:
        rc = weft_sleep(c->arg * WEFT_US);
        CHECK(rc == 0 || rc == -ECANCELED);
        break;
    case K_FAIL:
        for (int k = 0; k < c->arg && !rc; k++) rc = weft_yield();
        CHECK(rc == 0 || rc == -ECANCELED);
        if (!rc) rc = c->err;
        break;
    case K_LONG:
        rc = weft_sleep(30 * WEFT_SEC);      /* only cancellation ends it */
        CHECK_RC(rc, -ECANCELED);
        break;
    }
    if (is_failure(rc) && c->r->first_fail < 0) c->r->first_fail = c->idx;
    c->ret = rc;
    c->ends++;
    return rc;
}

static int local_canceller(void *arg, void **result)
{
    (void)result;
    sround *r = arg;
    int rc = weft_sleep(r->cancel_delay);
    if (rc == -ECANCELED) return rc;         /* the round is over */
    CHECK_OK(rc);
    r->cancel_called = true;
    CHECK_OK(weft_group_cancel(r->g));
    return 0;
}

/* Ends the round's local canceller, if any: cancels it (it may have ended already) and
 * waits for it. */
static void stop_local_canceller(weft_future *canceller)
{
    if (!canceller) return;
    int cc = weft_future_cancel(canceller);
    CHECK(cc == 0 || cc == -EBUSY);              /* -EBUSY: it had ended */
    int crc = weft_future_result(canceller, WEFT_FOREVER, NULL);
    CHECK(crc == 0 || crc == -ECANCELED);
    weft_future_release(canceller);
}

static void stress_round(worker *w)
{
    rng *rg = &w->rng;
    stats *st = &w->st;
    sround r;
    memset(&r, 0, sizeof r);
    r.first_fail = -1;

    int want = 1 + (int)below(rg, SMAX);
    bool stagger = below(rg, 4) == 0;        /* yields between spawns: children run, fail... */
    bool destroy_unwaited = below(rg, 16) == 0;
    bool scoped = !destroy_unwaited && below(rg, 3) == 0;
    int64_t timeout = (int64_t)below(rg, 3001) * WEFT_US;
    uint32_t cm = below(rg, 8);
    int cmode = cm < 2 ? C_LOCAL : cm < 3 ? C_REMOTE : C_NONE;
    uint32_t pfail = (uint32_t[]){ 0, 5, 20 }[below(rg, 3)];
    bool any_long = false, any_fail = false;
    for (int k = 0; k < want; k++) {
        schild *c = &r.c[k];
        c->r = &r;
        c->idx = k;
        uint32_t p = below(rg, 100);
        c->kind = p < pfail ? K_FAIL : p < pfail + 30 ? K_NOW : p < pfail + 65 ? K_SHORT : K_LONG;
        c->arg = c->kind == K_SHORT ? (int)below(rg, 2001) : c->kind == K_FAIL ? (int)below(rg, 6) : 0;
        c->err = fail_codes[below(rg, 4)];
        any_long |= c->kind == K_LONG;
        any_fail |= c->kind == K_FAIL;
    }
    /* Something must end the children that sleep long: a failure, a deadline, a cancel. */
    if (any_long && !any_fail && !scoped && !destroy_unwaited && cmode == C_NONE)
        cmode = below(rg, 2) ? C_LOCAL : C_REMOTE;
    int64_t cancel_delay = (int64_t)below(rg, 3001) * WEFT_US;

    CHECK_OK(weft_group_create(&r.g));
    weft_future *canceller = NULL;
    if (cmode == C_LOCAL) {
        r.cancel_delay = cancel_delay;
        CHECK_OK(weft_spawn(&canceller, local_canceller, &r));
    } else if (cmode == C_REMOTE) {
        remote_offer(w->slot, r.g, cancel_delay);   /* may hit while we spawn */
    }

    weft_future *handles[SMAX] = { 0 };
    int n = 0;
    for (int k = 0; k < want; k++) {
        bool keep = below(rg, 4) == 0;
        int rc = weft_group_spawn(r.g, keep ? &handles[k] : NULL, NULL, stress_child, &r.c[k]);
        if (rc == -ESHUTDOWN) {
            /* Refused only once the group is closing: a failure or a cancel came first. */
            CHECK(stagger || cmode == C_REMOTE);
            CHECK(weft_group_failures(r.g) > 0 || r.cancel_called ||
                  (cmode == C_REMOTE && remote_done(w->slot)));
            st->refused_spawns++;
            break;
        }
        CHECK_OK(rc);
        n++;
        if (keep && below(rg, 2)) {          /* a handle dropped unread while it runs */
            weft_future_release(handles[k]);
            handles[k] = NULL;
        }
        if (stagger && below(rg, 3) == 0) CHECK_OK(weft_yield());
    }
    CHECK_EQ(weft_group_size(r.g), n);

    if (destroy_unwaited) {
        stop_local_canceller(canceller);
        if (cmode == C_REMOTE) remote_take_back(w->slot);
        weft_group_destroy(r.g);             /* cancels, waits: nothing outlives it */
        for (int k = 0; k < n; k++) {
            CHECK(r.c[k].starts <= 1);
            CHECK_EQ(r.c[k].ends, r.c[k].starts);
            if (handles[k]) {
                CHECK(weft_future_done(handles[k]));
                weft_future_release(handles[k]);
            }
        }
        st->rounds++;
        st->children += n;
        st->destroyed_unwaited++;
        return;
    }

    int rc, leave_rc = 0;
    if (scoped) {
        weft_scope s;
        CHECK_OK(weft_scope_enter(&s, timeout, 0));
        rc = weft_group_wait(r.g);
        leave_rc = weft_scope_leave(&s);
        CHECK(leave_rc == 0 || leave_rc == -ETIMEDOUT);
    } else {
        rc = weft_group_wait(r.g);
    }
    bool local_cancelled = r.cancel_called;  /* read before anything else can run */
    stop_local_canceller(canceller);
    bool remote_cancelled = cmode == C_REMOTE && remote_take_back(w->slot);

    int nfail = 0, ncanc = 0;
    for (int k = 0; k < n; k++) {
        schild *c = &r.c[k];
        int cr = weft_group_child_result(r.g, (size_t)k);
        CHECK(c->starts <= 1);
        if (c->starts == 0) {                /* cancelled before it first ran */
            CHECK_EQ(c->ends, 0);
            CHECK_RC(cr, -ECANCELED);
            st->never_started++;
        } else {
            CHECK_EQ(c->ends, 1);
            CHECK_RC(cr, c->ret);
        }
        if (handles[k]) {
            CHECK(weft_future_done(handles[k]));
            weft_future_release(handles[k]);     /* unread: the group collected it */
        }
        nfail += is_failure(cr);
        ncanc += cr == -ECANCELED;
    }
    CHECK_EQ(weft_group_failures(r.g), nfail);
    CHECK_EQ(nfail > 0, r.first_fail >= 0);

    int expect;
    if (r.first_fail >= 0) expect = r.c[r.first_fail].err;     /* the first failure */
    else if (leave_rc == -ETIMEDOUT) expect = -ETIMEDOUT;      /* the scope cut the wait */
    else if (local_cancelled) expect = -ECANCELED;
    else if (remote_cancelled) expect = rc == 0 && ncanc == 0 ? 0 : -ECANCELED; /* maybe too late */
    else expect = 0;
    if (rc != expect) {
        fprintf(stderr, "seed %#llx slot %d round %ld: %d children, stagger %d scoped %d "
                "(timeout %lld us, leave %s) cancel mode %d (local %d remote %d), first "
                "failure %d\n", (unsigned long long)seed, w->slot, st->rounds, n, stagger,
                scoped, (long long)(timeout / WEFT_US), weft_errname(leave_rc), cmode,
                local_cancelled, remote_cancelled, r.first_fail);
        for (int k = 0; k < n; k++)
            fprintf(stderr, "  child %2d kind %d arg %4d starts %d ends %d ret %s result %s\n",
                    k, r.c[k].kind, r.c[k].arg, r.c[k].starts, r.c[k].ends,
                    weft_errname(r.c[k].ret), weft_errname(weft_group_child_result(r.g, (size_t)k)));
    }
    CHECK_RC(rc, expect);
    if (expect == 0) CHECK_EQ(ncanc, 0);     /* nothing cancelled anybody */
    int crs[SMAX];
    for (int k = 0; k < n; k++) crs[k] = weft_group_child_result(r.g, (size_t)k);
    check_waited(r.g, rc, (size_t)n, crs);
    weft_group_destroy(r.g);

    st->rounds++;
    st->children += n;
    st->failed_children += nfail;
    st->cancelled_children += ncanc;
    st->local_cancels += local_cancelled;
    st->remote_cancels += remote_cancelled;
    if (rc == 0) st->rc_ok++;
    else if (rc == -ETIMEDOUT) st->rc_timedout++;
    else if (rc == -ECANCELED) st->rc_cancelled++;
    else st->rc_fail++;
}

static int stress_worker(void *arg, void **result)
{
    (void)result;
    worker *w = arg;
    while (weft_now() < w->end && w->st.rounds < w->max_rounds) stress_round(w);
    return 0;
}

static int stress_loop_main(void *arg, void **result)
{
    (void)result;
    loop_ctx *L = arg;
    CHECK_EQ(weft_live_coroutines(), 1);
    weft_future *f[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) CHECK_OK(weft_spawn(&f[i], stress_worker, &L->w[i]));
    for (int i = 0; i < NWORKERS; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    CHECK_EQ(weft_live_coroutines(), 1);
    return 0;
}

static int stress_loop_thread(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_run(stress_loop_main, arg, NULL));
    CHECK_EQ(weft_live_coroutines(), 0);
    return 0;
}

static void test_stress_many_groups(void)
{
    static loop_ctx loops[NLOOPS];
    int64_t duration = slow_tools() ? 1500 * WEFT_MS : 2500 * WEFT_MS;
    long max_rounds = slow_tools() ? 400 : 1000000;
    int64_t end = weft_now() + duration;
    for (int l = 0; l < NLOOPS; l++) {
        loops[l].index = l;
        for (int i = 0; i < NWORKERS; i++) {
            worker *w = &loops[l].w[i];
            memset(w, 0, sizeof *w);
            w->slot = l * NWORKERS + i;
            rng_seed(&w->rng, seed + (uint64_t)w->slot);
            w->end = end;
            w->max_rounds = max_rounds;
        }
    }
    atomic_store(&R.stop, false);
    weft_thread *canceller, *second;
    CHECK_OK(weft_thread_start(&canceller, NULL, remote_canceller, NULL));
    CHECK_OK(weft_thread_start(&second, NULL, stress_loop_thread, &loops[1]));
    CHECK_EQ(weft_live_coroutines(), 0);
    CHECK_OK(weft_run(stress_loop_main, &loops[0], NULL));
    CHECK_EQ(weft_live_coroutines(), 0);
    join_and_release(second);
    atomic_store(&R.stop, true);
    join_and_release(canceller);

    stats t;
    memset(&t, 0, sizeof t);
    for (int l = 0; l < NLOOPS; l++) {
        for (int i = 0; i < NWORKERS; i++) {
            stats *s = &loops[l].w[i].st;
            t.rounds += s->rounds; t.children += s->children;
            t.never_started += s->never_started; t.cancelled_children += s->cancelled_children;
            t.failed_children += s->failed_children; t.rc_ok += s->rc_ok;
            t.rc_fail += s->rc_fail; t.rc_timedout += s->rc_timedout;
            t.rc_cancelled += s->rc_cancelled; t.destroyed_unwaited += s->destroyed_unwaited;
            t.refused_spawns += s->refused_spawns; t.remote_cancels += s->remote_cancels;
            t.local_cancels += s->local_cancels;
        }
    }
    printf("   %ld groups (%ld children: %ld failed, %ld cancelled, %ld never started)\n"
           "   outcomes: %ld ok, %ld failed, %ld timed out, %ld cancelled, %ld destroyed unwaited;"
           " %ld spawns refused; cancels: %ld local, %ld remote (%ld by the thread)\n",
           t.rounds, t.children, t.failed_children, t.cancelled_children, t.never_started,
           t.rc_ok, t.rc_fail, t.rc_timedout, t.rc_cancelled, t.destroyed_unwaited,
           t.refused_spawns, t.local_cancels, t.remote_cancels, R.cancels);
    CHECK(t.rounds >= 200);
    /* every outcome showed up */
    CHECK(t.rc_ok > 0 && t.rc_fail > 0 && t.rc_timedout > 0 && t.rc_cancelled > 0);
    CHECK_EQ(atomic_load(&unretrieved_calls), 0);
}

/* The hook is live (so "never called" above means something): a detached coroutine that
 * fails is reported once; a group child is not, even with its handle dropped unread. */
static int fails_eio(void *arg, void **result)
{
    (void)arg; (void)result;
    return -EIO;
}

static int hook_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    weft_future *h;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, &h, NULL, fails_eio, NULL));
    weft_future_release(h);
    CHECK_RC(weft_group_wait(g), -EIO);
    weft_group_destroy(g);
    CHECK_EQ(atomic_load(&unretrieved_calls), 0);
    CHECK_OK(weft_spawn(NULL, fails_eio, NULL));
    CHECK_OK(weft_sleep(WEFT_MS));
    CHECK_EQ(atomic_load(&unretrieved_calls), 1);
    return 0;
}

static void test_unretrieved_hook_is_live(void)
{
    CHECK_OK(weft_run(hook_main, NULL, NULL));
    CHECK_EQ(atomic_load(&unretrieved_calls), 1);
    atomic_store(&unretrieved_calls, 0);
}

int main(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    if (s) seed = strtoull(s, NULL, 0);
    printf("seed %#llx (WEFT_TEST_SEED to change)\n", (unsigned long long)seed);
    weft_set_unretrieved_hook(count_unretrieved, NULL);
    RUN(test_nested_three_levels);
    RUN(test_stress_many_groups);
    RUN(test_unretrieved_hook_is_live);
    weft_set_unretrieved_hook(NULL, NULL);
    return check_done();
}
