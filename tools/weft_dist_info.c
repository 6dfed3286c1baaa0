/* tools/weft_dist_info.c — `weft-dist-info URL [QUEUE] [PREFIX]`: a queue's state at a glance
 * (rq info, celery inspect): tasks queued, running, delayed, dead-lettered, and each known
 * worker with its liveness, last heartbeat and the tasks it holds. Exit 0, or 1 with the
 * error (the server unreachable...). */
#include <weft.h>
#include <weft/dist.h>

#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: weft-dist-info URL [QUEUE] [PREFIX]\n"
                        "  URL: redis://host[:port][/db] or unix:///path/to/socket\n");
        return 2;
    }
    const char *queue = argc > 2 ? argv[2] : "default", *prefix = argc > 3 ? argv[3] : "weft";
    weft_dist_info info;
    int rc = weft_dist_inspect(argv[1], prefix, queue, &info);
    if (rc) {
        fprintf(stderr, "weft-dist-info: %s: %s\n", argv[1], weft_strerror(rc));
        return 1;
    }
    printf("queue %s: %ld queued, %ld running, %ld delayed, %ld dead letters\n", queue,
           info.queued, info.running, info.delayed, info.dead);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * WEFT_SEC + now.tv_nsec;
    for (size_t i = 0; i < info.nworkers; i++) {
        const weft_dist_worker_info *w = &info.workers[i];
        printf("  %-32s %-5s holds %ld", w->name, w->alive ? "alive" : "dead", w->pending);
        if (w->last_heartbeat)
            printf(", last heartbeat %.1f s ago", (double)(now_ns - w->last_heartbeat) / 1e9);
        printf("\n");
    }
    return 0;
}
