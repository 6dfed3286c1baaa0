// Peer benchmark: memory per blocked goroutine.
//
// Starts n goroutines; each calls wg.Done() and then blocks receiving on one
// shared unbuffered channel.  Peak RSS (VmHWM from /proc/self/status) is
// read before creating them and after all have started and blocked; the
// result is the growth in bytes divided by n.  Runs with the default
// GOMAXPROCS (= number of CPUs); the goroutines are released by closing the
// channel before exit.
//
// Usage: memory_go [n]   (default 1,000,000 goroutines)
// Prints exactly: RESULT memory <bytes per goroutine>
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// vmHWMKiB returns the process's peak resident set size in KiB.
func vmHWMKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintf(os.Stderr, "memory_go: %v\n", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				v, err := strconv.ParseInt(fields[1], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	fmt.Fprintln(os.Stderr, "memory_go: VmHWM not found in /proc/self/status")
	os.Exit(1)
	return 0
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "memory_go: bad count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}

	ch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)

	before := vmHWMKiB()
	for i := 0; i < n; i++ {
		go func() {
			wg.Done()
			<-ch
		}()
	}
	wg.Wait()
	// Every goroutine has run up to its receive; give the last ones a moment
	// to actually park on the channel before sampling.
	for i := 0; i < 10; i++ {
		runtime.Gosched()
	}
	time.Sleep(50 * time.Millisecond)
	after := vmHWMKiB()

	perG := float64(after-before) * 1024 / float64(n)
	fmt.Printf("RESULT memory %s\n", strconv.FormatFloat(perG, 'f', 1, 64))

	close(ch)
}
