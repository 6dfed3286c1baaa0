// Peer benchmark: structured spawn with golang.org/x/sync/errgroup at
// GOMAXPROCS=1.
//
//	group-spawn: r times { g := new(errgroup.Group); 1,000 times
//	             g.Go(func() error { return nil }); g.Wait() };
//	             total time / (r * 1,000), i.e. ns per child, the group's
//	             creation and Wait included.
//
// Built by bench/run.py with GO111MODULE=off and /usr/share/gocode on
// GOPATH (Debian: golang-golang-x-sync-dev); without the package the build
// fails and the driver SKIPs this peer.
//
// Usage: group_spawn_go [r]   (number of groups; default 1,000, i.e. 10^6
// children)
// Prints exactly:
//
//	RESULT group-spawn <ns per child>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

const children = 1000

func empty() error { return nil }

func groups(r int) time.Duration {
	t0 := time.Now()
	for i := 0; i < r; i++ {
		g := new(errgroup.Group)
		for j := 0; j < children; j++ {
			g.Go(empty)
		}
		if err := g.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "group_spawn_go: unexpected error %v\n", err)
			os.Exit(1)
		}
	}
	return time.Since(t0)
}

func main() {
	runtime.GOMAXPROCS(1)
	r := 1000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "group_spawn_go: bad group count %q\n", os.Args[1])
			os.Exit(2)
		}
		r = v
	}
	warm := r / 10
	if warm < 10 {
		warm = 10
	}
	// Warm-up: grow the heap / free-g lists the way the timed run will.
	groups(warm)

	d := groups(r)
	n := r * children
	fmt.Printf("RESULT group-spawn %s\n",
		strconv.FormatFloat(float64(d.Nanoseconds())/float64(n), 'f', 3, 64))
}
