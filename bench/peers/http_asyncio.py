#!/usr/bin/env python3
"""Peer HTTP server: asyncio, protocol-based, keep-alive.  data_received appends to a
per-connection buffer; every request is taken as complete at its b"\\r\\n\\r\\n" (GET only);
a request may arrive split across reads, and several pipelined in one read: each is
answered with the same fixed response (200, Content-Length: 13, text/plain,
"Hello, World!") in one transport.write.  With --uvloop, uvloop's event loop policy is
installed first (the same code then measures uvloop's protocol path).

Usage: http_asyncio.py [--uvloop] PORT
Listens on 127.0.0.1:PORT (backlog 4096) until killed; driven by bench/http_load.
Exits with status 77 (http_load: "server-unavailable", a SKIP) when uvloop is asked for
but cannot be imported.
"""

import asyncio
import sys

RESP = (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n"
        b"Hello, World!")
END = b"\r\n\r\n"


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        if self.buf:
            data = self.buf + data
        n = data.count(END)
        if n == 0:
            self.buf = data
            if len(data) > 65536:
                self.transport.close()
            return
        if data.endswith(END):
            self.buf = b""
        else:
            self.buf = data[data.rfind(END) + 4:]
        self.transport.write(RESP if n == 1 else RESP * n)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: http_asyncio.py [--uvloop] PORT")
    if "--uvloop" in args[:-1]:
        try:
            import uvloop
        except ImportError as e:
            print("http_asyncio.py: uvloop unavailable (%s; Debian: python3-uvloop, for "
                  "/usr/bin/python3)" % e, file=sys.stderr)
            sys.exit(77)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    port = int(args[-1])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(Http, "127.0.0.1", port, backlog=4096))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
