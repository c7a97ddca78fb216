package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/canarygate/canarygate/demoapp/grpcecho"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/loadgen"
)

// The generator's side of the protocol.
const (
	// Port is where a generator serves /results (and its health).
	Port = 8080
	// The environment a generator reads (cmd/demo-app in load mode).
	EnvURL, EnvRate, EnvTimeout, EnvPod, EnvIstioStatus, EnvBuffer = "LOAD_URL", "LOAD_RATE", "LOAD_TIMEOUT", "POD_NAME", "ISTIO_STATUS", "LOAD_BUFFER"
)

// AgentConfig is a generator pod's configuration (cmd/demo-app in load mode reads it from the environment).
type AgentConfig struct {
	Pod      string
	Revision string
	Target   loadgen.Target
	Buffer   int
	// XDSBootstrap is the pod's xDS bootstrap file (GRPC_XDS_BOOTSTRAP, from Istio's grpc-agent injection);
	// Dial opens the xDS client channel for an xds:/// target (cmd/demo-app passes proxyless.DialXDS: this
	// package does not link grpc-go's xDS support, which canarygate's own binary must not carry).
	XDSBootstrap string
	Dial         func(target string) (*grpc.ClientConn, error)
}

// AgentConfigFromEnv reads LOAD_URL, LOAD_RATE (N/duration), LOAD_TIMEOUT, LOAD_BUFFER, POD_NAME and
// ISTIO_STATUS (the pod's sidecar.istio.io/status annotation, through the downward API). ok is false when
// LOAD_URL is unset: the demo app is not in load mode.
func AgentConfigFromEnv() (cfg AgentConfig, ok bool, err error) {
	u := os.Getenv(EnvURL)
	if u == "" {
		return cfg, false, nil
	}
	rate, err := loadgen.ParseRate(os.Getenv(EnvRate))
	if err != nil {
		return cfg, true, fmt.Errorf("%s: %w", EnvRate, err)
	}
	timeout := loadgen.DefaultTimeout
	if t := os.Getenv(EnvTimeout); t != "" {
		if timeout, err = time.ParseDuration(t); err != nil || timeout <= 0 {
			return cfg, true, fmt.Errorf("%s=%q: expected a positive duration", EnvTimeout, t)
		}
	}
	cfg = AgentConfig{Pod: os.Getenv(EnvPod), Buffer: DefaultBuffer,
		// A connection per request: each call may reach any callee pod (of either revision while both run),
		// as a sidecar balances them, rather than staying on the first one.
		Target: loadgen.Target{Name: "in-mesh", Method: http.MethodGet, URL: u, Rate: rate, Timeout: timeout, NoKeepAlive: true}}
	if b := os.Getenv(EnvBuffer); b != "" {
		if cfg.Buffer, err = strconv.Atoi(b); err != nil || cfg.Buffer <= 0 {
			return cfg, true, fmt.Errorf("%s=%q: expected a positive number", EnvBuffer, b)
		}
	}
	if loadgen.IsXDS(u) {
		if _, _, err := loadgen.ParseXDSTarget(u); err != nil {
			return cfg, true, fmt.Errorf("%s: %w", EnvURL, err)
		}
		cfg.XDSBootstrap = os.Getenv(grpcecho.BootstrapEnv)
		if cfg.XDSBootstrap == "" {
			return cfg, true, fmt.Errorf("%s=%s is an xDS target but %s is not set: the pod needs Istio's grpc-agent injection (annotation inject.istio.io/templates: grpc-agent)", EnvURL, u, grpcecho.BootstrapEnv)
		}
	}
	if cfg.Pod == "" {
		cfg.Pod, _ = os.Hostname()
	}
	cfg.Revision = istio.RevisionOfStatus(os.Getenv(EnvIstioStatus))
	return cfg, true, nil
}

// RunAgent is a generator pod: it attacks the target and serves /results (and its health) on l until ctx
// ends (SIGTERM); then the attack stops, readiness turns false, and it keeps serving its results until every
// one is acknowledged or drainCtx ends (the pod's grace period), and returns. An xDS target is called over
// gRPC (xdsAttack): the pod is ready, and its attack starts, only once its channel is READY.
func RunAgent(ctx, drainCtx context.Context, l net.Listener, cfg AgentConfig) error {
	g := NewGenerator(cfg.Pod, cfg.Buffer)
	g.Revision = cfg.Revision
	var waiting atomic.Value
	waiting.Store("")
	mux := http.NewServeMux()
	mux.Handle("/results", g)
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if ctx.Err() != nil {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		if why := waiting.Load().(string); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if loadgen.IsXDS(cfg.Target.URL) {
		if err := xdsAttack(ctx, g, cfg, func(why string) { waiting.Store(why) }); err != nil {
			fmt.Fprintf(os.Stderr, "generator %s: %v\n", cfg.Pod, err)
		}
	} else {
		g.Run(ctx, cfg.Target)
	}
	// Attack over: every result is in the buffer; serve it until it is all pulled.
	for !g.Buffer.Drained() {
		select {
		case <-g.Buffer.Changed():
		case <-drainCtx.Done():
			_ = srv.Close()
			return fmt.Errorf("generator %s: %d results not pulled before the end of its grace period", cfg.Pod, g.Buffer.Len())
		case err := <-served:
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// xdsAttack calls an xds:/// target's Echo at the target's rate through a proxyless-gRPC client channel,
// paced and recorded by vegeta as HTTP requests are (grpcecho.Transport). It waits for the xDS bootstrap and
// certificate files, then for the channel to be READY (xDS resolved, a callee handshake done) before the
// first call: readiness says so meanwhile. The channel — the pod's one xDS stream to its revision's istiod —
// is closed as soon as the attack ends, so a draining generator no longer counts as connected.
func xdsAttack(ctx context.Context, g *Generator, cfg AgentConfig, waiting func(string)) error {
	defer g.Buffer.Stop()
	waiting("waiting for the xDS bootstrap and certificate files")
	if _, err := grpcecho.WaitForBootstrap(ctx, cfg.XDSBootstrap, bootstrapPoll); err != nil {
		return err
	}
	if cfg.Dial == nil {
		return fmt.Errorf("%s: no xDS dialer", cfg.Target.URL)
	}
	conn, err := cfg.Dial(cfg.Target.URL)
	if err != nil {
		return err
	}
	defer conn.Close()
	waiting("gRPC channel to " + cfg.Target.URL + " not READY")
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		waiting(fmt.Sprintf("gRPC channel to %s %s", cfg.Target.URL, s))
		if !conn.WaitForStateChange(ctx, s) {
			return nil // stopped before it was ever ready: nothing was sent
		}
	}
	waiting("")
	client := &http.Client{Transport: &grpcecho.Transport{Conn: conn}, Timeout: cfg.Target.Timeout}
	g.Run(ctx, cfg.Target, loadgen.WithAttackerOptions(vegeta.Client(client)))
	return nil
}

// bootstrapPoll is how often a generator looks for the files pilot-agent writes.
const bootstrapPoll = 200 * time.Millisecond
