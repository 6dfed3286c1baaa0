/* core/error.c — names and descriptions of error codes (0 or negative errno values). */
#include "core/internal.h"

#include <string.h>

/* weft's own codes, below the errno range (weft/procpool.h, weft/redis.h, weft/dist.h). */
static const struct { int code; const char *name, *text; } own[] = {
    { -4097, "EWORKERDIED", "A process pool's worker died running the task" },
    { -4098, "EPOOLBROKEN", "The process pool is broken: its workers cannot start" },
    /* libweft_dist's (weft/redis.h, weft/dist.h) */
    { -4099, "EREDIS", "The Redis server answered with an error" },
    { -4100, "ETASKLOST", "The task's workers died on every attempt" },
    { -4101, "ENOTASK", "No worker of the queue knows the task's name" },
    { -4102, "EBADTASK", "The task's record was malformed or gone" },
};

const char *weft_strerror(int err)
{
    if (err == 0) return "Success";
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i].code == err) return own[i].text;
    if (err < 0 && err > -4096) {
        const char *s = strerrordesc_np(-err);
        if (s) return s;
    }
    return "Unknown error";
}

const char *weft_errname(int err)
{
    if (err == 0) return "OK";
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i].code == err) return own[i].name;
    if (err < 0 && err > -4096) {
        const char *s = strerrorname_np(-err);
        if (s) return s;
    }
    return "EUNKNOWN";
}
