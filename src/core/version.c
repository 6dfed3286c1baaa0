/* core/version.c — the version of the library linked at run time (weft/core.h). */
#include "core/internal.h"

const char *weft_version(void)
{
    return WEFT_VERSION_STRING;
}

int weft_version_number(void)
{
    return WEFT_VERSION_NUMBER;
}
