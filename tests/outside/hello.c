/* An outside project's first weft program, built against an installed weft with pkg-config
 * and with CMake (tools/outside_build.sh): a coroutine on a loop, a pool job, the version. */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int twice(void *arg, void **result)
{
    *result = (void *)((intptr_t)arg * 2);
    return 0;
}

static int hello_main(void *arg, void **result)
{
    (void)arg;
    if (weft_sleep(WEFT_MS) != 0) return -1;
    void *r = NULL;
    int rc = weft_to_thread(twice, (void *)(intptr_t)21, &r);
    *result = r;
    return rc;
}

int main(void)
{
    void *r = NULL;
    int rc = weft_run(hello_main, NULL, &r);
    if (rc != 0 || (intptr_t)r != 42 || strcmp(weft_version(), WEFT_VERSION_STRING) != 0) {
        fprintf(stderr, "hello: rc %d, result %ld, library %s, headers %s\n", rc,
                (long)(intptr_t)r, weft_version(), WEFT_VERSION_STRING);
        return 1;
    }
    printf("hello from weft %s: %ld\n", weft_version(), (long)(intptr_t)r);
    return 0;
}
