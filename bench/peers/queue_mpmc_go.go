// Peer benchmark: Go buffered channel, two producers / two consumers.
//
// GOMAXPROCS=2.  Two producer goroutines send n/2 values each (producer p
// sends p*(n/2)+1 .. (p+1)*(n/2)) on one channel of capacity 1024; two
// consumer goroutines receive until the channel is closed, which happens
// once both producers are done.  The consumers' received counts and sums are
// checked against what was sent.  All four goroutines are started first and
// released together by closing a start channel; the time from the release
// until all four have finished is the measured interval.  A warm-up pass of
// n/10 items (at least 100,000) runs before the timed pass.
//
// Usage: queue_mpmc_go [items]   (default 10,000,000 items in total)
// Prints exactly: RESULT queue-mpmc <items per second>
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
	capacity  = 1024
	producers = 2
	consumers = 2
)

// pass moves producers*per items through a fresh channel and returns the
// elapsed time.
func pass(per int) time.Duration {
	ch := make(chan int, capacity)
	start := make(chan struct{})
	var ready, prodDone, consDone sync.WaitGroup
	ready.Add(producers + consumers)
	prodDone.Add(producers)
	consDone.Add(consumers)
	var counts, sums [consumers]int
	for p := 0; p < producers; p++ {
		go func(p int) {
			ready.Done()
			<-start
			base := p * per
			for i := 1; i <= per; i++ {
				ch <- base + i
			}
			prodDone.Done()
		}(p)
	}
	for c := 0; c < consumers; c++ {
		go func(c int) {
			ready.Done()
			<-start
			count, sum := 0, 0
			for v := range ch {
				count++
				sum += v
			}
			counts[c], sums[c] = count, sum
			consDone.Done()
		}(c)
	}
	go func() {
		prodDone.Wait()
		close(ch)
	}()
	ready.Wait()
	t0 := time.Now()
	close(start)
	consDone.Wait()
	elapsed := time.Since(t0)

	total := producers * per
	count, sum := 0, 0
	for c := 0; c < consumers; c++ {
		count += counts[c]
		sum += sums[c]
	}
	if count != total || sum != total*(total+1)/2 {
		fmt.Fprintf(os.Stderr, "queue_mpmc_go: received %d items (sum %d), sent %d\n",
			count, sum, total)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(2)
	items := 10000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < producers {
			fmt.Fprintf(os.Stderr, "queue_mpmc_go: bad item count %q\n", os.Args[1])
			os.Exit(2)
		}
		items = v
	}
	per := items / producers
	warm := items / 10
	if warm < 100000 {
		warm = 100000
	}
	pass(warm / producers)

	elapsed := pass(per)
	rate := float64(producers*per) / elapsed.Seconds()
	fmt.Printf("RESULT queue-mpmc %s\n", strconv.FormatFloat(rate, 'f', 1, 64))
}
