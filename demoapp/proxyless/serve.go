package proxyless

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/canarygate/canarygate/demoapp"
	"github.com/canarygate/canarygate/demoapp/grpcecho"
)

// BootstrapPoll is how often ServeEcho looks for the xDS bootstrap and certificate files pilot-agent writes.
const BootstrapPoll = 200 * time.Millisecond

// server is what ServeEcho needs of grpc-go's plain and xDS servers.
type server interface {
	Serve(net.Listener) error
	GracefulStop()
	Stop()
}

// ServeEcho serves the app's gRPC Echo on l until ctx ends. With an xDS bootstrap (cfg.XDSBootstrap) it
// first waits for the bootstrap and the workload certificate files, then serves under istiod's control, and
// the app is ready only while the server is SERVING: a proxyless server that never gets its listener from
// istiod must not get traffic, and readiness is the only place that shows it (a pod that is also an xDS
// client loses its server stream quietly, istio/istio#53532). Without one it is a plain gRPC server. On
// ctx's end it keeps serving for the app's drain period, as the HTTP side does, then stops gracefully
// (bounded by demoapp.DefaultShutdownWait).
func ServeEcho(ctx context.Context, app *demoapp.App, l net.Listener) error {
	cfg := app.Config()
	var srv server
	if cfg.XDSBootstrap != "" {
		app.SetGRPCState(false, "waiting for the xDS bootstrap and certificate files")
		if _, err := grpcecho.WaitForBootstrap(ctx, cfg.XDSBootstrap, BootstrapPoll); err != nil {
			return err
		}
		app.SetGRPCState(false, "xDS listener not SERVING yet")
		xs, err := NewXDSServer(cfg.Revision, func(ok bool, err error) {
			app.SetGRPCState(ok, fmt.Sprintf("xDS listener not SERVING: %v", err))
		})
		if err != nil {
			return err
		}
		srv = xs
	} else {
		s := grpc.NewServer()
		grpcecho.Register(s, &grpcecho.Server{Revision: cfg.Revision})
		srv = s
		app.SetGRPCState(true, "")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gRPC server: %w", err)
	case <-ctx.Done():
	}
	select {
	case <-time.After(cfg.Drain):
	case err := <-errc:
		return fmt.Errorf("gRPC server: %w", err)
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(demoapp.DefaultShutdownWait):
		srv.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("gRPC server: %w", err)
	}
	return nil
}
