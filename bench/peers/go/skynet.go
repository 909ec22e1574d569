// skynet: a 10-ary tree of goroutines with 1,000,000 leaves (1,111,111 in
// all). A leaf sends its number up; an inner node sends the sum of its ten
// children. Prints "wall_ms VALUE".
package main

import (
	"fmt"
	"os"
	"time"
)

const (
	leaves   = 1000000
	fanout   = 10
	expected = int64(leaves) * (leaves - 1) / 2
)

// node reports to up the sum of the leaf numbers num .. num+size-1.
func node(up chan<- int64, num, size int64) {
	if size == 1 {
		up <- num
		return
	}
	// Buffered to the fan-out, so no child blocks on its parent.
	results := make(chan int64, fanout)
	step := size / fanout
	for i := int64(0); i < fanout; i++ {
		go node(results, num+i*step, step)
	}
	var sum int64
	for i := 0; i < fanout; i++ {
		sum += <-results
	}
	up <- sum
}

func main() {
	start := time.Now()
	root := make(chan int64, 1)
	go node(root, 0, leaves)
	sum := <-root
	elapsed := time.Since(start)
	if sum != expected {
		fmt.Fprintf(os.Stderr, "skynet: sum %d, want %d\n", sum, expected)
		os.Exit(1)
	}
	fmt.Printf("wall_ms %.1f\n", float64(elapsed.Microseconds())/1000)
}
