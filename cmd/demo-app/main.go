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
	"github.com/canarygate/canarygate/demoapp/proxyless"
	"github.com/canarygate/canarygate/meshload/agent"
)

// agentGrace bounds how long a stopping generator waits for its results to be pulled: below the pod's
// terminationGracePeriodSeconds (60), so it exits on its own rather than being killed.
const agentGrace = 55 * time.Second

func runAgent(cfg agent.AgentConfig) int {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = demoapp.DefaultAddr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The grace period starts with the signal.
	drainCtx, cancelDrain := context.WithCancel(context.Background())
	defer cancelDrain()
	go func() {
		<-ctx.Done()
		time.AfterFunc(agentGrace, cancelDrain)
	}()
	fmt.Printf("demo-app load mode: %s → %s at %d/%s (revision %q), results on %s/results\n", cfg.Pod, cfg.Target.URL, cfg.Target.Rate.Freq, cfg.Target.Rate.Per, cfg.Revision, addr)
	if err := agent.RunAgent(ctx, drainCtx, l, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func main() {
	// Load mode (LOAD_URL set): an in-mesh load generator (package agent) instead of the demo service.
	if lcfg, ok, err := agent.AgentConfigFromEnv(); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		lcfg.Dial = proxyless.DialXDS
		os.Exit(runAgent(lcfg))
	}
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
	app := demoapp.New(cfg)
	var grpcDone chan error
	if cfg.GRPCAddr != "" {
		// tcp4: grpc-go's xDS server asks istiod for the listener named after the address it listens on, and
		// istiod names it 0.0.0.0:PORT (pilot/pkg/networking/grpcgen/lds.go); "tcp" would report [::]:PORT.
		gl, err := net.Listen("tcp4", cfg.GRPCAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		grpcDone = make(chan error, 1)
		go func() {
			err := proxyless.ServeEcho(ctx, app, gl)
			if err != nil {
				fmt.Fprintln(os.Stderr, "gRPC:", err)
			}
			grpcDone <- err
		}()
		fmt.Printf("demo-app %s: gRPC Echo on %s (xDS bootstrap %q)\n", cfg.Name, gl.Addr(), cfg.XDSBootstrap)
	}
	fmt.Printf("demo-app %s listening on %s (upstream %q, drain %s)\n", cfg.Name, addr, cfg.Upstream, cfg.Drain)
	code := 0
	if err := app.Serve(ctx, l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if grpcDone != nil {
		if err := <-grpcDone; err != nil {
			code = 1
		}
	}
	os.Exit(code)
}
