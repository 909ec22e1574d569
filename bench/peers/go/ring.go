// ring: 503 goroutines in a ring, each reading from its own channel and
// writing to the next one's, pass a token for 10,000,000 hops. A channel has
// capacity 1 (one token in flight), so a send never waits for the receiver.
// Prints "hops_per_s VALUE".
package main

import (
	"fmt"
	"time"
)

const (
	members = 503
	hops    = 10000000
)

// member forwards the token, the number of hops still to go, one lower.
// The member that receives 0 ends the run.
func member(in <-chan int, out chan<- int, finished chan<- struct{}) {
	for t := range in {
		if t == 0 {
			finished <- struct{}{}
			return
		}
		out <- t - 1
	}
}

func main() {
	links := make([]chan int, members)
	for i := range links {
		links[i] = make(chan int, 1)
	}
	finished := make(chan struct{})
	for i := range links {
		go member(links[i], links[(i+1)%members], finished)
	}
	start := time.Now()
	links[0] <- hops
	<-finished
	elapsed := time.Since(start).Seconds()
	fmt.Printf("hops_per_s %.0f\n", hops/elapsed)
}
