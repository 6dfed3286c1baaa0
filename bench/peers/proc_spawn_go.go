// Peer benchmark: Go's os/exec starting /bin/true and waiting for it.
//
//	proc-spawn-seq: n times exec.Command("/bin/true").Run().
//	proc-spawn-8:   8 goroutines doing the same until n have run.
//
// Spawns per second, after a warm-up of 100. GOMAXPROCS as Go sets it (the CPUs).
//
// Usage: proc_spawn_go [n]   (default 2,000)
// Prints exactly:
//
//	RESULT proc-spawn-seq <spawns/s>
//	RESULT proc-spawn-8 <spawns/s>
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func one() {
	if err := exec.Command("/bin/true").Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func seq(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		one()
	}
	return float64(n) / time.Since(t0).Seconds()
}

func eight(n int) float64 {
	var left int64 = int64(n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				one()
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(t0).Seconds()
}

func main() {
	n := 2000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: proc_spawn_go [n]")
			os.Exit(2)
		}
		n = v
	}
	seq(100)
	fmt.Printf("RESULT proc-spawn-seq %.6g\n", seq(n))
	eight(100)
	fmt.Printf("RESULT proc-spawn-8 %.6g\n", eight(n))
}
