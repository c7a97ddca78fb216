package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

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
	if cfg.Pod == "" {
		cfg.Pod, _ = os.Hostname()
	}
	cfg.Revision = istio.RevisionOfStatus(os.Getenv(EnvIstioStatus))
	return cfg, true, nil
}

// RunAgent is a generator pod: it attacks the target and serves /results (and its health) on l until ctx
// ends (SIGTERM); then the attack stops, readiness turns false, and it keeps serving its results until every
// one is acknowledged or drainCtx ends (the pod's grace period), and returns.
func RunAgent(ctx, drainCtx context.Context, l net.Listener, cfg AgentConfig) error {
	g := NewGenerator(cfg.Pod, cfg.Buffer)
	g.Revision = cfg.Revision
	mux := http.NewServeMux()
	mux.Handle("/results", g)
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if ctx.Err() != nil {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	g.Run(ctx, cfg.Target)
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
