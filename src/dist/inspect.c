/* dist/inspect.c — a queue's state at a glance (weft_dist_inspect; rq info). */
#include "dist/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long integer_of(weft_redis *r, const char *fmt, const char *a, const char *b)
{
    weft_redis_reply *rep;
    long v = 0;
    if (weft_redis_callf(r, &rep, 10 * WEFT_SEC, fmt, a, b) == 0 &&
        rep->type == WEFT_REDIS_INTEGER)
        v = (long)rep->integer;
    weft_redis_reply_free(rep);
    return v;
}

int weft_dist_inspect(const char *url, const char *prefix, const char *queue,
                      weft_dist_info *info)
{
    if (!url || !info) return -EINVAL;
    memset(info, 0, sizeof *info);
    if (!prefix) prefix = "weft";
    if (!queue) queue = "default";
    weft_redis *r;
    int rc = weft_redis_connect(&r, url, NULL);
    if (rc) return rc;
    char q[300];
    snprintf(q, sizeof q, "%s:q:%s", prefix, queue);
    long entries = integer_of(r, "XLEN %s%s", q, "");
    info->delayed = integer_of(r, "ZCARD %s:d:%s", prefix, queue);
    info->dead = integer_of(r, "LLEN %s:dead:%s", prefix, queue);
    /* Taken and not yet recorded: the consumer group's pending entries, per worker. */
    weft_redis_reply *sum;
    if (weft_redis_callf(r, &sum, 10 * WEFT_SEC, "XPENDING %s workers", q) == 0 &&
        sum->type == WEFT_REDIS_ARRAY && sum->elements == 4) {
        info->running = (long)sum->element[0]->integer;
        const weft_redis_reply *cons = sum->element[3];
        for (size_t i = 0; cons->type == WEFT_REDIS_ARRAY && i < cons->elements; i++) {
            const weft_redis_reply *c = cons->element[i];
            if (c->elements != 2 || !c->element[0]->str || info->nworkers == 64) continue;
            weft_dist_worker_info *wi = &info->workers[info->nworkers++];
            snprintf(wi->name, sizeof wi->name, "%s", c->element[0]->str);
            wi->pending = c->element[1]->str ? atol(c->element[1]->str) : 0;
        }
    }
    weft_redis_reply_free(sum);
    info->queued = entries > info->running ? entries - info->running : 0;
    /* Every worker that sent a heartbeat (the registry), alive or not. */
    weft_redis_reply *all;
    if (weft_redis_callf(r, &all, 10 * WEFT_SEC, "HGETALL %s:workers", prefix) == 0 &&
        all->type == WEFT_REDIS_ARRAY) {
        for (size_t i = 0; i + 1 < all->elements; i += 2) {
            const char *name = all->element[i]->str;
            if (!name) continue;
            weft_dist_worker_info *wi = NULL;
            for (size_t k = 0; k < info->nworkers; k++)
                if (strcmp(info->workers[k].name, name) == 0) wi = &info->workers[k];
            if (!wi && info->nworkers < 64) {
                wi = &info->workers[info->nworkers++];
                snprintf(wi->name, sizeof wi->name, "%s", name);
            }
            if (!wi) continue;
            wi->last_heartbeat = atoll(all->element[i + 1]->str ? all->element[i + 1]->str : "0") *
                                 WEFT_MS;
            wi->alive = integer_of(r, "EXISTS %s:w:%s", prefix, name) == 1;
        }
    }
    weft_redis_reply_free(all);
    weft_redis_close(r);
    return 0;
}
