/* dist/inspect.c — a queue's state at a glance (weft_dist_inspect; rq info). */
#include "dist/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One command whose answer must be an integer: 0 and *v, WEFT_EREDIS (an error reply:
 * NOPERM, NOAUTH, WRONGTYPE...), -EPROTO (another type), or the call's error. */
static int integer_of(weft_redis *r, long *v, const char *fmt, const char *a, const char *b)
{
    weft_redis_reply *rep;
    int rc = weft_redis_callf(r, &rep, 10 * WEFT_SEC, fmt, a, b);
    if (rc == 0 && rep->type != WEFT_REDIS_INTEGER) rc = -EPROTO;
    if (rc == 0) *v = (long)rep->integer;
    weft_redis_reply_free(rep);
    return rc;
}

/* The consumer group's pending entries, per worker. A queue no worker has read yet has no
 * group (NOGROUP): nothing pending. */
static int pending(weft_redis *r, const char *q, weft_dist_info *info)
{
    weft_redis_reply *sum;
    int rc = weft_redis_callf(r, &sum, 10 * WEFT_SEC, "XPENDING %s workers", q);
    if (rc == WEFT_EREDIS && sum && sum->str && strncmp(sum->str, "NOGROUP", 7) == 0) rc = 0;
    else if (rc == 0 && (sum->type != WEFT_REDIS_ARRAY || sum->elements != 4 ||
                         sum->element[0]->type != WEFT_REDIS_INTEGER))
        rc = -EPROTO;
    else if (rc == 0) {
        info->running = (long)sum->element[0]->integer;
        const weft_redis_reply *cons = sum->element[3];
        for (size_t i = 0; cons->type == WEFT_REDIS_ARRAY && i < cons->elements; i++) {
            const weft_redis_reply *c = cons->element[i];
            if (c->type != WEFT_REDIS_ARRAY || c->elements != 2 || !c->element[0]->str ||
                info->nworkers == 64)
                continue;
            weft_dist_worker_info *wi = &info->workers[info->nworkers++];
            snprintf(wi->name, sizeof wi->name, "%s", c->element[0]->str);
            wi->pending = c->element[1]->str ? atol(c->element[1]->str) : 0;
        }
    }
    weft_redis_reply_free(sum);
    return rc;
}

/* The workers' registry: every worker that sent a heartbeat and has not stopped cleanly
 * (a clean stop removes its entry), alive or not. */
static int registry(weft_redis *r, const char *prefix, weft_dist_info *info)
{
    weft_redis_reply *all;
    int rc = weft_redis_callf(r, &all, 10 * WEFT_SEC, "HGETALL %s:workers", prefix);
    if (rc == 0 && all->type != WEFT_REDIS_ARRAY) rc = -EPROTO;
    for (size_t i = 0; rc == 0 && i + 1 < all->elements; i += 2) {
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
        long alive = 0;
        rc = integer_of(r, &alive, "EXISTS %s:w:%s", prefix, name);
        wi->alive = alive == 1;
    }
    weft_redis_reply_free(all);
    return rc;
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
    long entries = 0;
    rc = integer_of(r, &entries, "XLEN %s%s", q, "");
    if (!rc) rc = integer_of(r, &info->delayed, "ZCARD %s:d:%s", prefix, queue);
    if (!rc) rc = integer_of(r, &info->dead, "LLEN %s:dead:%s", prefix, queue);
    if (!rc) rc = pending(r, q, info);
    info->queued = entries > info->running ? entries - info->running : 0;
    if (!rc) rc = registry(r, prefix, info);
    weft_redis_close(r);
    if (rc) memset(info, 0, sizeof *info);
    return rc;
}
