// Peer benchmark: contended sync.Mutex, two goroutines at GOMAXPROCS=2.
//
// Two goroutines each perform n/2 iterations of
//
//	mu.Lock(); counter++; mu.Unlock()
//
// on one shared sync.Mutex and one shared counter.  Both goroutines are
// started first and released together by closing a start channel; the result
// is the wall time from the release until both have finished divided by the
// total number of Lock+Unlock pairs (2 * (n/2)).  The final counter is
// checked.  A warm-up pass of n/10 pairs (at least 100,000) runs first.
//
// Usage: lock_contended_go [pairs]   (default 10,000,000 pairs in total)
// Prints exactly: RESULT lock-contended-threads <ns per acquire+release pair>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const workers = 2

// pass runs workers*per Lock+Unlock pairs and returns the elapsed time.
func pass(per int) time.Duration {
	var mu sync.Mutex
	counter := 0
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(workers)
	done.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			ready.Done()
			<-start
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			done.Done()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)
	if counter != workers*per {
		fmt.Fprintf(os.Stderr, "lock_contended_go: counter %d, expected %d\n",
			counter, workers*per)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(2)
	pairs := 10000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < workers {
			fmt.Fprintf(os.Stderr, "lock_contended_go: bad pair count %q\n", os.Args[1])
			os.Exit(2)
		}
		pairs = v
	}
	per := pairs / workers
	warm := pairs / 10
	if warm < 100000 {
		warm = 100000
	}
	pass(warm / workers)

	elapsed := pass(per)
	ns := float64(elapsed.Nanoseconds()) / float64(workers*per)
	fmt.Printf("RESULT lock-contended-threads %s\n", strconv.FormatFloat(ns, 'f', 3, 64))
}
