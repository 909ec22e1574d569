// echo: a TCP echo server in plain Go net, one goroutine per connection,
// the way a Go programmer writes one.  Flags: --port PORT (0 = pick one).
// Prints "listening on HOST:PORT" on stdout, like examples/echo_server.
// bench/io.sh runs it pinned to one core with GOMAXPROCS=1, so its CPU per
// request compares with acto's one worker (issue 3: "<= 1/2 of Go").
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

// serve echoes one connection: io.Copy, the idiomatic Go echo (a 32 KiB
// buffer per connection, read then write).
func serve(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 = pick one)")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and friends: keep accepting, as the other servers do.
			continue
		}
		go serve(c)
	}
}
