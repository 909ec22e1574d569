// fanin: 2 producer goroutines each send 5,000,000 small messages on one
// buffered channel (the consumer's mailbox); the consumer counts them.
// Prints "msgs_per_s VALUE".
package main

import (
	"fmt"
	"os"
	"time"
)

const (
	producers   = 2
	perProducer = 5000000
	mailbox     = 1024 // channel capacity
)

func produce(id int, out chan<- int) {
	for i := 0; i < perProducer; i++ {
		out <- id
	}
}

func main() {
	in := make(chan int, mailbox)
	start := time.Now()
	for p := 0; p < producers; p++ {
		go produce(p, in)
	}
	var count [producers]int
	for i := 0; i < producers*perProducer; i++ {
		count[<-in]++
	}
	elapsed := time.Since(start).Seconds()
	for p, c := range count {
		if c != perProducer {
			fmt.Fprintf(os.Stderr, "fanin: producer %d delivered %d, want %d\n", p, c, perProducer)
			os.Exit(1)
		}
	}
	fmt.Printf("msgs_per_s %.0f\n", float64(producers*perProducer)/elapsed)
}
