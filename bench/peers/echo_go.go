// Peer echo server: Go, GOMAXPROCS=1 (runtime.GOMAXPROCS(1)), one goroutine per connection,
// each a read/write loop on a 64 KiB buffer.  Go's net package sets TCP_NODELAY by default.
//
// Usage: echo_go PORT   (listens on 127.0.0.1:PORT until killed; driven by echo_load)
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echo_go PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c)
	}
}
