// Peer benchmark: goroutine switch via runtime.Gosched at GOMAXPROCS=1.
//
// Two goroutines each call runtime.Gosched() in a loop.  With one P and only
// these two goroutines runnable, every Gosched hands the P to the other
// goroutine, so each Gosched call is one one-way switch: with two goroutines
// calling it n times each there are 2n switches.
//
// Usage: switch_go [switches]   (default 10,000,000 one-way switches)
// Prints exactly: RESULT switch <ns per one-way switch>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// pingPong runs two goroutines that each call Gosched perHalf times and
// returns the elapsed wall time.  Both goroutines are released together by
// closing start, after which main blocks in wg.Wait and is not runnable.
func pingPong(perHalf int) time.Duration {
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	ready.Add(2)
	worker := func() {
		ready.Done()
		<-start
		for i := 0; i < perHalf; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}
	go worker()
	go worker()
	ready.Wait() // both goroutines are now parked on start (or about to be)
	t0 := time.Now()
	close(start)
	wg.Wait()
	return time.Since(t0)
}

func main() {
	runtime.GOMAXPROCS(1)
	switches := 10000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "switch_go: bad iteration count %q\n", os.Args[1])
			os.Exit(2)
		}
		switches = v
	}
	perHalf := switches / 2
	if perHalf < 1 {
		perHalf = 1
	}

	warm := perHalf / 10
	if warm < 1000 {
		warm = 1000
	}
	pingPong(warm)

	elapsed := pingPong(perHalf)
	ns := float64(elapsed.Nanoseconds()) / float64(2*perHalf)
	fmt.Printf("RESULT switch %s\n", strconv.FormatFloat(ns, 'f', 3, 64))
}
