// Command okserver answers every request with 200 "ok" on a loopback port: the target of `make bench`, the
// same for canarygate's load generator and the vegeta CLI so that both are measured against one server.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The address on stdout's first line tells the script where to send load.
	fmt.Println(l.Addr().String())
	os.Stdout.Sync()
	log.Fatal(http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
}
