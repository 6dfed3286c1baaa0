#!/usr/bin/env python3
"""Peer echo server: asyncio, protocol-based (asyncio.Protocol; data_received writes the
bytes straight back with transport.write).  With --uvloop, uvloop's event loop policy is
installed first (the same code then measures uvloop's protocol path).  asyncio and uvloop
both set TCP_NODELAY on TCP transports.

Usage: echo_asyncio.py [--uvloop] PORT
Listens on 127.0.0.1:PORT (backlog 4096) until killed; driven by bench/echo_load.
Exits with status 77 (echo_load: "server-unavailable", a SKIP) when uvloop is asked for but
cannot be imported.
"""

import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: echo_asyncio.py [--uvloop] PORT")
    if "--uvloop" in args[:-1]:
        try:
            import uvloop
        except ImportError as e:
            print("echo_asyncio.py: uvloop unavailable (%s; Debian: python3-uvloop, for "
                  "/usr/bin/python3)" % e, file=sys.stderr)
            sys.exit(77)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    port = int(args[-1])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(Echo, "127.0.0.1", port, backlog=4096))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
