// Command demo-app is canarygate's demo workload (see package demoapp). It listens on $ADDR (default :8080)
// and drains on SIGTERM.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/demoapp"
)

func main() {
	cfg, err := demoapp.ConfigFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = demoapp.DefaultAddr
	}
	if cfg.StartDelay > 0 {
		fmt.Printf("demo-app %s: waiting %s before listening\n", cfg.Name, cfg.StartDelay)
		time.Sleep(cfg.StartDelay)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Printf("demo-app %s listening on %s (upstream %q, drain %s)\n", cfg.Name, addr, cfg.Upstream, cfg.Drain)
	if err := demoapp.New(cfg).Serve(ctx, l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
