// Peer HTTP server: Go net/http, GOMAXPROCS=1 (runtime.GOMAXPROCS(1)), keep-alive; the
// handler answers every request with 200, Content-Type: text/plain, Content-Length: 13,
// "Hello, World!" (net/http adds its Date header).
//
// Usage: http_go PORT   (listens on 127.0.0.1:PORT until killed; driven by http_load)
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
)

var body = []byte("Hello, World!")

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: http_go PORT")
		os.Exit(2)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"13"}
		w.Write(body)
	})
	err := http.ListenAndServe("127.0.0.1:"+os.Args[len(os.Args)-1], nil)
	fmt.Fprintln(os.Stderr, "http_go:", err)
	os.Exit(1)
}
