// Command okserver answers every request with 200 on a loopback port: the target of `make bench`, the same
// for canarygate's load generator and the vegeta CLI so that both are measured against one server.
//
// Two shapes: "ok" (the default) answers a two-byte body and Go's own headers; "app" answers like a real
// app behind a mesh — a small JSON body and several headers (content type, caching, a request id, Envoy's
// server and upstream time headers, Vary) — so that the per-response cost on the generator's side (headers
// parsed, body read) is measured as a user's target would make it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	shape := flag.String("shape", "ok", `what every answer looks like: "ok" (a two-byte body) or "app" (a small JSON body, several headers)`)
	flag.Parse()
	var h http.Handler
	switch *shape {
	case "ok":
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	case "app":
		h = appHandler()
	default:
		log.Fatalf("okserver: -shape %q: expected ok or app", *shape)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The address on stdout's first line tells the script where to send load.
	fmt.Println(l.Addr().String())
	os.Stdout.Sync()
	log.Fatal(http.Serve(l, h))
}

func appHandler() http.Handler {
	var id atomic.Uint64
	body := []byte(`{"service":"app-a","version":"v1","revision":"1-30","zone":"local","items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"ok":true}`)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Vary", "Accept-Encoding")
		hd.Set("X-Request-Id", "7f0c2a9e-5b1d-4c3e-9a8f-"+strconv.FormatUint(100000000000+id.Add(1), 10))
		hd.Set("Server", "envoy")
		hd.Set("X-Envoy-Upstream-Service-Time", "1")
		hd.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}
