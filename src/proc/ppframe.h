/* proc/ppframe.h — the process pool's result frame, as the manager reads it from a worker
 * (proc/procpool.c). Kept apart from proc/internal.h so that the fuzzer
 * (tests/fuzz/fuzz_procpool.c) can call the decoder without the rest of the layer. */
#ifndef WEFT_PROC_PPFRAME_H
#define WEFT_PROC_PPFRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A result frame on the wire: this header, then len bytes (the worker's native byte order:
 * both ends are one program, forked). id 0 is the worker's greeting. */
typedef struct weft__pp_result_hdr {
    uint64_t id;
    int64_t rc;
    uint64_t len;
} weft__pp_result_hdr;

/* One decoded frame: data points into the buffer given to the decoder. */
typedef struct weft__pp_frame {
    uint64_t id;
    int rc;
    size_t len;
    const unsigned char *data;
} weft__pp_frame;

/* Decodes the frame at the start of buf (have bytes): the bytes it takes (> 0) with *f
 * filled; 0 if the frame is not whole yet (nothing is allocated for it: the caller reads
 * on only while the frame is within max_len); -EMSGSIZE if its length is over max_len
 * (the caller must not wait for those bytes); -EPROTO if it is malformed: a return code
 * outside int, or bytes with an error (a worker never sends those). Any context. */
ssize_t weft__procpool_decode(const void *buf, size_t have, size_t max_len,
                              weft__pp_frame *f);

#endif /* WEFT_PROC_PPFRAME_H */
