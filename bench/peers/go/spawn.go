// spawn: start 1,000,000 idle goroutines that each wait for one message on
// their own channel (capacity 1, their mailbox), then send one message to
// each and wait for all of them to finish.
// Prints "spawn_per_s VALUE" (spawning loop only) and "bytes_per_actor VALUE"
// (growth of the resident set, /proc/self/statm, across the spawning loop / 1M).
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const actors = 1000000

// rssBytes returns the resident set size: the second field of
// /proc/self/statm, in pages.
func rssBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	var size, resident int64
	if err == nil {
		_, err = fmt.Sscan(string(statm), &size, &resident)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn: reading /proc/self/statm:", err)
		os.Exit(1)
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	// The handles are the caller's bookkeeping, allocated before the baseline.
	mailboxes := make([]chan int64, actors)
	var done sync.WaitGroup
	var sum int64
	done.Add(actors)
	before := rssBytes()
	start := time.Now()
	for i := range mailboxes {
		mb := make(chan int64, 1)
		mailboxes[i] = mb
		go func() {
			atomic.AddInt64(&sum, <-mb)
			done.Done()
		}()
	}
	elapsed := time.Since(start).Seconds()
	grown := rssBytes() - before
	for i, mb := range mailboxes {
		mb <- int64(i)
	}
	done.Wait()
	if want := int64(actors) * (actors - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "spawn: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("spawn_per_s %.0f\n", actors/elapsed)
	fmt.Printf("bytes_per_actor %d\n", grown/actors)
}
