// Peer benchmark: ping-pong over two unbuffered channels at GOMAXPROCS=1.
//
// Two goroutines on one P.  The pinger does, n times:
//
//	ping <- i; if <-pong != i { fail }
//
// and the ponger does, n times:
//
//	v := <-ping; pong <- v
//
// Both channels are unbuffered, so every send is a direct hand-off to the
// other goroutine.  One round trip = one ping hand-off + one pong hand-off.
// Both goroutines are started first and released together by closing a start
// channel; the result is the time from the release until both have finished
// divided by n.  A warm-up pass of n/10 round trips (at least 10,000) runs
// before the timed pass.
//
// Usage: chan_pingpong_go [round_trips]   (default 1,000,000)
// Prints exactly: RESULT chan-pingpong <ns per round trip>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// pass performs n round trips and returns the elapsed time.
func pass(n int) time.Duration {
	ping := make(chan int)
	pong := make(chan int)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(2)
	done.Add(2)
	ok := true
	go func() { // pinger
		ready.Done()
		<-start
		good := true
		for i := 0; i < n; i++ {
			ping <- i
			if <-pong != i {
				good = false
			}
		}
		ok = good
		done.Done()
	}()
	go func() { // ponger
		ready.Done()
		<-start
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v
		}
		done.Done()
	}()
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)
	if !ok {
		fmt.Fprintln(os.Stderr, "chan_pingpong_go: wrong value came back")
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "chan_pingpong_go: bad round-trip count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	warm := n / 10
	if warm < 10000 {
		warm = 10000
	}
	pass(warm)

	elapsed := pass(n)
	ns := float64(elapsed.Nanoseconds()) / float64(n)
	fmt.Printf("RESULT chan-pingpong %s\n", strconv.FormatFloat(ns, 'f', 3, 64))
}
