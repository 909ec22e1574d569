// pingpong PAIRS MSGS: PAIRS independent pairs of goroutines, each pair
// exchanging MSGS one-way messages (MSGS/2 round trips). Each player's
// mailbox is a channel of capacity 1: like an actor's send, a send never
// waits for the receiver, as only one message per pair is in flight.
// Prints "msgs_per_s VALUE" for all pairs together.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// player receives a countdown on in and sends it on, one lower, on out.
// The player that receives 0 has seen the pair's last message; it closes
// out so that its partner stops too.
func player(in <-chan int, out chan<- int, done *sync.WaitGroup) {
	defer done.Done()
	for n := range in {
		if n == 0 {
			close(out)
			return
		}
		out <- n - 1
	}
}

func arg(i int) int {
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "usage: pingpong PAIRS MSGS (positive integers)\n")
		os.Exit(2)
	}
	return v
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: pingpong PAIRS MSGS\n")
		os.Exit(2)
	}
	pairs, msgs := arg(1), arg(2)
	var done sync.WaitGroup
	start := time.Now()
	for p := 0; p < pairs; p++ {
		ping, pong := make(chan int, 1), make(chan int, 1)
		done.Add(2)
		go player(ping, pong, &done)
		go player(pong, ping, &done)
		// The first of the msgs messages; msgs-1 more follow.
		go func() { ping <- msgs - 1 }()
	}
	done.Wait()
	elapsed := time.Since(start).Seconds()
	fmt.Printf("msgs_per_s %.0f\n", float64(pairs*msgs)/elapsed)
}
