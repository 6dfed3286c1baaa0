/* tests/perturb_check.h — what the perturbation regression tests (suite 'perturb') share.
 *
 * These tests repeat one race many times and check its rule each time. They are meant to
 * run in the perturbation build (make test-perturb: ASan + -Dperturb=true), where the
 * delays injected at the runtime's named points (src/core/perturb.h) widen the race's
 * window; elsewhere they still check the rule, but a window a few instructions wide is
 * rarely hit. PERTURB_TRIES (environment) overrides the number of tries.
 */
#ifndef WEFT_TESTS_PERTURB_CHECK_H
#define WEFT_TESTS_PERTURB_CHECK_H

#include "check.h"

#include <dirent.h>

static inline int perturb_tries(int dflt)
{
    const char *s = getenv("PERTURB_TRIES");
    return s && *s ? atoi(s) : dflt;
}

/* Open descriptors of this process (/proc/self/fd, without the directory's own). */
static inline int perturb_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) n++;
    closedir(d);
    return n;
}

#endif /* WEFT_TESTS_PERTURB_CHECK_H */
