// Peer benchmark: a goroutine per task, GOMAXPROCS=2 (pool-throughput only).
//
// The main goroutine starts N goroutines, each an atomic increment of a
// shared counter followed by sync.WaitGroup.Done (wg.Add(N) is done once,
// before the first go statement), then waits for all with wg.Wait().
// Interval: from before wg.Add until wg.Wait returns.  Reported as tasks per
// second.  (The Go runtime is the "pool" here: its 2 Ps run the goroutines.)
//
// A warm-up pass of a tenth of the count runs first.
//
// Usage: pool_go_goroutines [tasks]   (default 1,000,000)
// Prints exactly: RESULT pool-throughput <tasks per second>
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func pass(n int) time.Duration {
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if atomic.LoadInt64(&counter) != int64(n) {
		fmt.Fprintf(os.Stderr, "pool_go_goroutines: counter %d, expected %d\n",
			atomic.LoadInt64(&counter), n)
		os.Exit(1)
	}
	return elapsed
}

func main() {
	runtime.GOMAXPROCS(2)
	tasks := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 10 {
			fmt.Fprintf(os.Stderr, "pool_go_goroutines: bad count %q (at least 10)\n", os.Args[1])
			os.Exit(2)
		}
		tasks = v
	}
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: pool_go_goroutines [tasks]")
		os.Exit(2)
	}
	pass(tasks / 10)
	elapsed := pass(tasks)
	fmt.Printf("RESULT pool-throughput %s\n",
		strconv.FormatFloat(float64(tasks)/elapsed.Seconds(), 'f', 1, 64))
}
