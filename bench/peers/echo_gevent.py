#!/usr/bin/env python3
"""Peer echo server: gevent StreamServer, one greenlet per connection, each a
recv(65536) / sendall loop.  TCP_NODELAY is set on every accepted socket.

Usage: echo_gevent.py PORT
Listens on 127.0.0.1:PORT (backlog 4096) until killed; driven by bench/echo_load.
Exits with status 77 (echo_load: "server-unavailable", a SKIP) when gevent cannot be
imported.
"""

import socket
import sys

try:
    from gevent.server import StreamServer
except ImportError as e:
    print("echo_gevent.py: gevent unavailable (%s; Debian: python3-gevent, for "
          "/usr/bin/python3)" % e, file=sys.stderr)
    sys.exit(77)


def handle(sock, address):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv = sock.recv
    sendall = sock.sendall
    try:
        while True:
            data = recv(65536)
            if not data:
                break
            sendall(data)
    except OSError:  # e.g. a reset when the load generator closes
        pass


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: echo_gevent.py PORT")
    port = int(sys.argv[-1])
    StreamServer(("127.0.0.1", port), handle, backlog=4096).serve_forever()


if __name__ == "__main__":
    main()
