// Peer benchmark: goroutine spawn cost at GOMAXPROCS=1.
//
//	spawn-batch: n times { wg.Add(1); go func() { wg.Done() }() }, then one
//	             wg.Wait(); total time / n.
//	spawn-seq:   n times { wg.Add(1); go func() { wg.Done() }(); wg.Wait() },
//	             i.e. each goroutine runs to completion before the next is
//	             spawned; total time / n.
//
// Usage: spawn_go [n]   (default 1,000,000 for each measurement)
// Prints exactly:
//
//	RESULT spawn-batch <ns per spawn>
//	RESULT spawn-seq <ns per spawn>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func batch(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	return time.Since(t0)
}

func seq(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return time.Since(t0)
}

func perOp(d time.Duration, n int) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/float64(n), 'f', 3, 64)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "spawn_go: bad iteration count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	warm := n / 10
	if warm < 1000 {
		warm = 1000
	}
	// Warm-up: grow the heap / free-g lists the way the timed runs will.
	batch(warm)
	seq(warm)

	b := batch(n)
	fmt.Printf("RESULT spawn-batch %s\n", perOp(b, n))
	s := seq(n)
	fmt.Printf("RESULT spawn-seq %s\n", perOp(s, n))
}
