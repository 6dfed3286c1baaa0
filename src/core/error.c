/* core/error.c — names and descriptions of error codes (0 or negative errno values). */
#include "core/internal.h"

#include <string.h>

const char *weft_strerror(int err)
{
    if (err == 0) return "Success";
    if (err < 0 && err > -4096) {
        const char *s = strerrordesc_np(-err);
        if (s) return s;
    }
    return "Unknown error";
}

const char *weft_errname(int err)
{
    if (err == 0) return "OK";
    if (err < 0 && err > -4096) {
        const char *s = strerrorname_np(-err);
        if (s) return s;
    }
    return "EUNKNOWN";
}
