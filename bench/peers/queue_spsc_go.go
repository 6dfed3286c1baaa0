// Peer benchmark: Go buffered channel, single producer / single consumer.
//
// GOMAXPROCS=2.  One producer goroutine sends the values 1..n on a channel
// of capacity 1024; one consumer goroutine receives n values and checks
// that they arrive in order.  Both goroutines are started first and released
// together by closing a start channel; the time from the release until both
// have finished is the measured interval.  A warm-up pass of n/10 items (at
// least 100,000) runs before the timed pass.
//
// Usage: queue_spsc_go [items]   (default 10,000,000 items)
// Prints exactly: RESULT queue-spsc <items per second>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const capacity = 1024

// pass moves n items through a fresh channel and returns the elapsed time.
func pass(n int) time.Duration {
	ch := make(chan int, capacity)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(2)
	done.Add(2)
	ok := true
	go func() { // producer
		ready.Done()
		<-start
		for i := 1; i <= n; i++ {
			ch <- i
		}
		done.Done()
	}()
	go func() { // consumer
		ready.Done()
		<-start
		good := true
		for i := 1; i <= n; i++ {
			if <-ch != i {
				good = false
			}
		}
		ok = good
		done.Done()
	}()
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)
	if !ok || len(ch) != 0 {
		fmt.Fprintln(os.Stderr, "queue_spsc_go: items lost or out of order")
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(2)
	items := 10000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "queue_spsc_go: bad item count %q\n", os.Args[1])
			os.Exit(2)
		}
		items = v
	}
	warm := items / 10
	if warm < 100000 {
		warm = 100000
	}
	pass(warm)

	elapsed := pass(items)
	rate := float64(items) / elapsed.Seconds()
	fmt.Printf("RESULT queue-spsc %s\n", strconv.FormatFloat(rate, 'f', 1, 64))
}
