#!/usr/bin/env python3
"""tests/fuzz/seeds.py — writes the seed corpora, tests/fuzz/corpus/{stream,http,procpool,dist}/.

The seeds are small, readable starting points in each target's input format (see the
comments at the top of fuzz_stream.c and fuzz_http.c); libFuzzer mutates from there. Run it
again after changing a format; the files it writes are committed.
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    d = os.path.join(here, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_stream: [flags][max_line][ctl_len: 2 bytes LE][ctl][payload] -------------------
# flags: bit 0 pipe; bits 1-3 the max_line class (0: 1..8, 1: 1..256, 2: ~16 K, 3: ~32 K,
# 4: the default 64 K, 5: 1 + 64 * n). ctl ops (byte % 8): 0 readline, 1-2 read_until (next
# byte picks the delimiter: 0 "\n", 1 "\r\n", 2 "\r\n\r\n", 3 "a", 4 "aa", 5 "aab", 6 "abab",
# 7 "--", 8 NUL, 9 "xyzzy", 10 "ab"), 3 read(next byte), 4 read_exactly, 5-6 write a chunk,
# 7 write all (and later the end). Payload: 0xFF HI LO C is a run of C.
def stream(flags, max_line, ctl, payload):
    return bytes([flags, max_line]) + struct.pack("<H", len(ctl)) + bytes(ctl) + payload


def run(n, c):
    return bytes([0xFF, n >> 8, n & 0xFF]) + c


write("stream", "lines", stream(1 << 1, 15, [5, 3, 0, 5, 10, 0, 0, 7, 0, 0, 0],
                                 b"one\ntwo\nthree\nfour is long\nfive"))
write("stream", "crlf-records", stream(1 | 1 << 1, 40, [1, 1, 6, 1, 1, 2, 2, 1, 1, 3, 4, 0],
                                       b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody--more\r\n"))
write("stream", "overlap-delims", stream(0, 3, [1, 5, 5, 2, 1, 6, 1, 4, 1, 5, 7, 2, 6, 0],
                                         b"aaab abab ababab aab aaaab"))
write("stream", "exact-limit", stream(0, 7, [5, 12, 0, 0, 0, 7, 0],
                                      b"1234567\n12345678\n123456\n1234567"))
write("stream", "long-16k", stream(2 << 1, 128, [6, 64, 0, 3, 255, 0, 7, 0],
                                   run(16300, b"x") + b"\n" + run(16400, b"y") + b"\nend"))
write("stream", "long-64k", stream(4 << 1, 0, [6, 255, 0, 6, 255, 0, 7, 0],
                                   run(65535, b"z") + b"\n" + run(65535, b"w") + b"ww\n"))
write("stream", "exactly", stream(1, 200, [5, 40, 4, 10, 0x14, 3, 3, 7, 4, 200, 0],
                                  b"0123456789" * 8 + b"\nlast"))
write("stream", "nul-records", stream(1 << 1, 9, [6, 1, 1, 8, 1, 8, 1, 8, 7, 1, 8],
                                      b"ab\0cd\0\0efghijklmno\0"))

# ---- fuzz_http: [seed][limit][request bytes] ----------------------------------------------
# limit: bit 7 set: body_max 1 MiB; else 1 + limit % 64 bytes.
def http(name, req, seed=1, limit=0x80):
    write("http", name, bytes([seed, limit]) + req)


http("get", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
http("get-10", b"GET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
http("head", b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
http("post", b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
http("post-small-limit", b"POST /echo HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789",
     limit=10)
http("chunked", b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n", seed=7)
http("chunked-limit", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", limit=20)
http("expect", b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
     b"Content-Length: 3\r\n\r\nabc")
http("expect-other", b"PUT /x HTTP/1.1\r\nExpect: 100-continue, tea\r\nContent-Length: 1\r\n\r\nx")
http("expect-10", b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
http("pipelined", b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
     b"POST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /4 HTTP/1.1\r\nConnection: close\r\n\r\n")
http("http09", b"GET /\r\n")
http("http99", b"GET / HTTP/9.9\r\nHost: h\r\n\r\n")
http("http12", b"GET / HTTP/1.2\r\n\r\n")
http("upgrade", b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nrest")
http("connect", b"CONNECT example:443 HTTP/1.1\r\n\r\n")
http("long-target", b"GET /" + b"a" * 4100 + b" HTTP/1.1\r\n\r\n", seed=3)
http("lf-only", b"GET / HTTP/1.1\nHost: h\nContent-Length: 0\n\n")
http("split-headers", b"GET / HTTP/1.1\r\nX-Long-Header-Name: " + b"v" * 100 +
     b"\r\nexpect:   100-continue  \r\ncontent-length: 1\r\n\r\n!", seed=200)
http("both-lengths", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n")


# ---- fuzz_procpool: [max class][chunk seed][frames] --------------------------------------
# max: class (byte & 3: 0, 16, 4096, 1 GiB) + (byte >> 2). A frame: u64 id, i64 rc, u64 len
# (little-endian: the machines weft runs on), then len bytes.
def frame(id_, rc, data, claimed=None):
    n = len(data) if claimed is None else claimed
    return struct.pack("<QqQ", id_, rc, n) + data


write("procpool", "greeting-results", bytes([2, 7]) + frame(0, 0, b"") +
      frame(1, 0, b"result one") + frame(2, -5, b"") + frame(3, 0, b"x" * 100))
write("procpool", "partial", bytes([2, 200]) + frame(1, 0, b"abc") + frame(2, 0, b"de", 9))
write("procpool", "oversized", bytes([1, 3]) + frame(1, 0, b"ok") +
      frame(2, 0, b"", 1 << 40))
write("procpool", "bad-rc", bytes([2, 1]) + frame(1, -(1 << 40), b"") +
      frame(2, -3, b"bytes with an error"))


# ---- fuzz_dist: [max_message class][RESP] --------------------------------------------------
# class (byte & 3: 0, 8, 300, 1 MiB) + ((byte >> 2) & 31); bit 7: max_reply 256 (else 1 MiB).
def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def arr(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(n):
    return b":%d\r\n" % n


write("dist", "start-run", bytes([3]) + arr(integer(1), integer(1), bulk(b"square"),
                                          bulk(b"\x07" + b"\0" * 7), bulk(b"3"), bulk(b"0"),
                                          bulk(b"0")))
write("dist", "start-done", bytes([3]) + arr(integer(0)))
write("dist", "start-bad", bytes([3]) + arr(integer(-1)))
write("dist", "start-big", bytes([2]) + arr(integer(1), integer(2), bulk(b"echo"),
                                          bulk(b"y" * 400), bulk(b"1"), bulk(b"10"),
                                          bulk(b"1")))
write("dist", "start-nul-name", bytes([3]) + arr(integer(1), integer(1), bulk(b"sq\0x"),
                                               bulk(b""), bulk(b"1"), bulk(b"0"), bulk(b"0")))
write("dist", "xreadgroup", bytes([3]) + arr(arr(bulk(b"weft:q:default"), arr(
    arr(bulk(b"1700000000000-0"), arr(bulk(b"id"), bulk(b"0123456789abcdef-" + b"a" * 32))),
    arr(bulk(b"1700000000000-1"), arr(bulk(b"foo"), bulk(b"bar"))),
    arr(bulk(b"1700000000000-2"), arr(bulk(b"id"), bulk(b"x" * 200)))))))
write("dist", "huge-array", bytes([0x83]) + b"*2000000000\r\n:1\r\n")
write("dist", "nested", bytes([3]) + b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
write("dist", "nil-and-errors", bytes([3]) + arr(b"$-1\r\n", b"*-1\r\n", b"-ERR x\r\n",
                                              b"+OK\r\n", integer(-7)))
