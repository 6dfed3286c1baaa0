/* tools/weft_dist_info.c — `weft-dist-info URL [QUEUE] [PREFIX]`: a queue's state at a glance
 * (rq info, celery inspect): tasks queued, running, delayed, dead-lettered, and each known
 * worker with its liveness, last heartbeat and the tasks it holds. Exit 0, or 1 with the
 * error (the server unreachable...). URL "-" reads the URL from the environment variable
 * WEFT_REDIS_URL (a password on the command line is visible to every local user in ps);
 * an error never prints the password. */
#include <weft.h>
#include <weft/dist.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The URL as it may be printed: "user:password@" becomes "user:***@". */
static void print_url(const char *url)
{
    /* Everything between the user's colon and the last '@' is hidden: a password may hold
     * '/', '@' or ':' (the parsers accept some of them unencoded), so no other character
     * may end it. Over-masking a URL without credentials is harmless; a leak is not. */
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    const char *at = strrchr(start, '@');
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon) {
        fputs(url, stderr);
        return;
    }
    fprintf(stderr, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: weft-dist-info URL [QUEUE] [PREFIX]\n"
                        "  URL: redis://[[user]:password@]host[:port][/db],\n"
                        "       unix://[[user]:password@]/path/to/socket[?db=N],\n"
                        "       or - for the environment variable WEFT_REDIS_URL\n");
        return 2;
    }
    const char *queue = argc > 2 ? argv[2] : "default", *prefix = argc > 3 ? argv[3] : "weft";
    const char *url = argv[1];
    if (strcmp(url, "-") == 0 && !(url = getenv("WEFT_REDIS_URL"))) {
        fprintf(stderr, "weft-dist-info: WEFT_REDIS_URL is not set\n");
        return 2;
    }
    weft_dist_info info;
    int rc = weft_dist_inspect(url, prefix, queue, &info);
    if (rc) {
        fputs("weft-dist-info: ", stderr);
        print_url(url);
        fprintf(stderr, ": %s\n", weft_strerror(rc));
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
