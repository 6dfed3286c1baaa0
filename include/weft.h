/* weft.h — the one public header of weft, a concurrency library for C.
 *
 * Threads, coroutines on a per-thread event loop, futures, locks and events: one set of
 * primitives that works from threads and from coroutines alike ("one way to wait").
 * Link with -lweft (pkg-config: weft). Errors are 0 or negative errno codes; see
 * weft_strerror. docs/ARCHITECTURE.md describes how it works.
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/core.h"
#include "weft/future.h"
#include "weft/task.h"
#include "weft/loop.h"
#include "weft/sync.h"
#include "weft/io.h"
#include "weft/queue.h"
#include "weft/group.h"
#include "weft/pool.h"
#include "weft/net.h"
#include "weft/stream.h"
#include "weft/file.h"
#include "weft/proc.h"
#include "weft/signal.h"
#include "weft/process.h"
#include "weft/procpool.h"
#include "weft/shared.h"

#endif /* WEFT_H */
