// Peer benchmark: a Go worker pool, GOMAXPROCS=2.
//
// pool-throughput: 2 worker goroutines each loop reading func() values from
// one buffered channel (capacity 1024) and calling them.  The main goroutine
// sends N tasks, each an atomic increment of a shared counter (one closure,
// sent N times: no allocation per task), then waits for all: the task whose
// increment brings the counter to N closes a done channel, on which the main
// goroutine blocks.  Interval: from the first send until done is closed.
// Reported as tasks per second.
//
// pool-roundtrip: request/reply over channels with one worker goroutine: the
// main goroutine sends an int on an unbuffered request channel, the worker
// replies arg+1 on an unbuffered reply channel, the main goroutine receives
// it and checks it; R times.  Reported as ns per round trip.
//
// Each workload first runs a warm-up pass of a tenth of its count.
//
// Usage: pool_go [tasks [roundtrips]]   (default 1,000,000 and 100,000)
// Prints exactly:
//
//	RESULT pool-throughput <tasks per second>
//	RESULT pool-roundtrip <ns per round trip>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

const capacity = 1024

// throughputPass runs n counter tasks on the pool fed by tasks and returns
// the elapsed time.
func throughputPass(tasks chan<- func(), n int64) time.Duration {
	var counter int64
	done := make(chan struct{})
	task := func() {
		if atomic.AddInt64(&counter, 1) == n {
			close(done)
		}
	}
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		tasks <- task
	}
	<-done
	elapsed := time.Since(t0)
	if atomic.LoadInt64(&counter) != n {
		fmt.Fprintf(os.Stderr, "pool_go: counter %d, expected %d\n", atomic.LoadInt64(&counter), n)
		os.Exit(1)
	}
	return elapsed
}

// roundtripPass does r request/reply round trips and returns the elapsed time.
func roundtripPass(req chan<- int, rep <-chan int, r int) time.Duration {
	t0 := time.Now()
	for i := 1; i <= r; i++ {
		req <- i
		if got := <-rep; got != i+1 {
			fmt.Fprintf(os.Stderr, "pool_go: round trip %d: reply %d\n", i, got)
			os.Exit(1)
		}
	}
	return time.Since(t0)
}

func parseCount(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 10 {
		fmt.Fprintf(os.Stderr, "pool_go: bad count %q (at least 10)\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	runtime.GOMAXPROCS(2)
	tasks, roundtrips := 1000000, 100000
	if len(os.Args) > 1 {
		tasks = parseCount(os.Args[1])
	}
	if len(os.Args) > 2 {
		roundtrips = parseCount(os.Args[2])
	}
	if len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: pool_go [tasks [roundtrips]]")
		os.Exit(2)
	}

	pool := make(chan func(), capacity)
	for w := 0; w < 2; w++ {
		go func() {
			for f := range pool {
				f()
			}
		}()
	}
	throughputPass(pool, int64(tasks/10))
	elapsed := throughputPass(pool, int64(tasks))
	fmt.Printf("RESULT pool-throughput %s\n",
		strconv.FormatFloat(float64(tasks)/elapsed.Seconds(), 'f', 1, 64))
	close(pool)

	req, rep := make(chan int), make(chan int)
	go func() {
		for v := range req {
			rep <- v + 1
		}
	}()
	roundtripPass(req, rep, roundtrips/10)
	elapsed = roundtripPass(req, rep, roundtrips)
	fmt.Printf("RESULT pool-roundtrip %s\n",
		strconv.FormatFloat(float64(elapsed.Nanoseconds())/float64(roundtrips), 'f', 1, 64))
	close(req)
}
