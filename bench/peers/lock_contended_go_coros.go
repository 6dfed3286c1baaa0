// Peer benchmark: contended sync.Mutex among 100 goroutines at GOMAXPROCS=1.
//
// The workload (weft's bench program mirrors it exactly):
//
//	W = 100 workers, all on ONE thread (here: GOMAXPROCS=1), one shared
//	lock and one shared counter; per = n / W (integer division).
//	Worker w does, for i = 0 .. per-1:
//
//	    lock()
//	    counter++
//	    if i % 100 == 99 { yield() }   // every 100th iteration, the worker
//	                                   // yields to the scheduler WHILE
//	                                   // HOLDING the lock (Go:
//	                                   // runtime.Gosched()), so the other
//	                                   // workers run, find the lock held and
//	                                   // must wait for it
//	    unlock()
//
//	All W workers are created first and released together; the result is
//	the wall time from the release until all have finished divided by the
//	total number of lock+unlock pairs, W * per.  The final counter must
//	equal W * per.  A warm-up pass of n/10 pairs (at least 10,000) runs
//	before the timed pass.
//
// Usage: lock_contended_go_coros [pairs]   (default 1,000,000 pairs in total)
// Prints exactly: RESULT lock-contended-coros <ns per acquire+release pair>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const (
	workers    = 100
	yieldEvery = 100
)

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
				if i%yieldEvery == yieldEvery-1 {
					runtime.Gosched()
				}
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
		fmt.Fprintf(os.Stderr, "lock_contended_go_coros: counter %d, expected %d\n",
			counter, workers*per)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(1)
	pairs := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < workers {
			fmt.Fprintf(os.Stderr, "lock_contended_go_coros: bad pair count %q\n", os.Args[1])
			os.Exit(2)
		}
		pairs = v
	}
	per := pairs / workers
	warm := pairs / 10
	if warm < 10000 {
		warm = 10000
	}
	pass(warm / workers)

	elapsed := pass(per)
	ns := float64(elapsed.Nanoseconds()) / float64(workers*per)
	fmt.Printf("RESULT lock-contended-coros %s\n", strconv.FormatFloat(ns, 'f', 3, 64))
}
