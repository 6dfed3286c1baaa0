/* bench/weft_echo.c — the echo workload's weft server (bench/echo_load.c drives it).
 *
 * Usage: weft_echo PORT. One loop thread, a coroutine per connection (weft_tcp_server),
 * each echoing what it reads with weft_socket_recv / weft_socket_write. Runs until killed.
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>

static int echo(weft_socket *conn, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = weft_socket_recv(conn, buf, sizeof buf, 0, WEFT_FOREVER);
        if (n <= 0) return (int)n;
        n = weft_socket_write(conn, buf, (size_t)n, WEFT_FOREVER);
        if (n < 0) return (int)n;
    }
}

static int serve(void *arg, void **result)
{
    (void)result;
    weft_server *srv;
    int rc = weft_tcp_server(&srv, "127.0.0.1", (uint16_t)atoi(arg), echo, NULL, NULL);
    if (rc) {
        fprintf(stderr, "weft_echo: %s\n", weft_strerror(rc));
        return rc;
    }
    return weft_sleep(WEFT_FOREVER);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: weft_echo PORT\n");
        return 2;
    }
    return weft_run(serve, argv[argc - 1], NULL) == 0 ? 0 : 1;
}
