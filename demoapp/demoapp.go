// Package demoapp is the small HTTP service canarygate deploys as app-a and app-b: it answers 200 and echoes
// the request headers (so X-Forwarded-Client-Cert, added by a destination sidecar under mutual TLS, is
// visible), calls another service on request and answers 502 when that inner call fails (so a broken
// cross-revision call becomes a non-200 in the load), reports readiness, and drains gracefully: on SIGTERM it
// turns unready, keeps serving for a drain period while endpoints are updated, then shuts down after the
// requests in flight, so a rollout by itself causes no error.
package demoapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/canarygate/canarygate/demoapp/grpcecho"
	"github.com/canarygate/canarygate/istio"
)

// RevisionHeader carries, in every answer, the answering pod's own proxy revision (its injection status,
// read from ISTIO_STATUS through the downward API), so a caller knows which revision it reached.
const RevisionHeader = grpcecho.RevisionHeader

// ClientCertHeader echoes, in the answer, the X-Forwarded-Client-Cert header the request arrived with.
const ClientCertHeader = "X-Canarygate-Client-Cert"

// Defaults.
const (
	DefaultAddr         = ":8080"
	DefaultDrain        = 5 * time.Second
	DefaultCallTimeout  = 2 * time.Second
	DefaultShutdownWait = 20 * time.Second
)

// Config configures the app.
type Config struct {
	// Name is reported in answers (the workload name).
	Name string
	// Upstream is the URL /call calls when the request names none (e.g. http://app-b.demo-b:8080/).
	Upstream string
	// Drain is how long the app keeps serving, unready, after SIGTERM before it stops accepting.
	Drain time.Duration
	// Revision is the app's own proxy revision, echoed in RevisionHeader.
	Revision string
	// StartDelay is how long the app waits before it listens: an app that is slow to start. With no
	// readiness probe its pod is counted ready (and gets traffic) before it answers — the broken rollout
	// the lab's failing variant rehearses.
	StartDelay time.Duration
	// CallTimeout bounds the inner call.
	CallTimeout time.Duration
	// Client makes inner calls (a test's, or http.DefaultClient).
	Client *http.Client
	// GRPCAddr, when set, is where the app also serves the gRPC Echo service (proxyless.ServeEcho), and it is
	// ready only while that server is SERVING.
	GRPCAddr string
	// XDSBootstrap is the xDS bootstrap file (GRPC_XDS_BOOTSTRAP, set by Istio's grpc-agent injection): when
	// set, the gRPC server is a proxyless-gRPC xDS server whose TLS and serving state istiod controls;
	// otherwise a plain gRPC server (tests, a pod outside the mesh).
	XDSBootstrap string
}

// Echo is the JSON answer.
type Echo struct {
	Name     string              `json:"name"`
	Host     string              `json:"host"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Headers  map[string][]string `json:"headers"`
	Upstream *Upstream           `json:"upstream,omitempty"`
}

// Upstream is what the inner call got.
type Upstream struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// App is the service.
type App struct {
	cfg      Config
	ready    atomic.Bool
	inflight atomic.Int64
	// grpcNotServing says why the gRPC server is not serving, for the readiness answer; "" while it serves
	// (always, without one).
	grpcNotServing atomic.Pointer[string]
}

// New returns an app that is ready.
func New(cfg Config) *App {
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	a := &App{cfg: cfg}
	a.ready.Store(true)
	a.SetGRPCState(cfg.GRPCAddr == "", "gRPC server not started")
	return a
}

// Handler serves / (echo), /call (echo after an inner call; ?url= overrides the upstream), /healthz/ready.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if why := *a.grpcNotServing.Load(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/healthz/live", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "live") })
	mux.HandleFunc("/call", a.call)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { a.answer(w, r, http.StatusOK, nil) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.inflight.Add(1)
		defer a.inflight.Add(-1)
		mux.ServeHTTP(w, r)
	})
}

func (a *App) answer(w http.ResponseWriter, r *http.Request, status int, up *Upstream) {
	e := Echo{Name: a.cfg.Name, Host: r.Host, Method: r.Method, Path: r.URL.Path, Headers: r.Header, Upstream: up}
	w.Header().Set("Content-Type", "application/json")
	// The client certificate the destination sidecar saw, also as a response header: a load generator keeps
	// only the first bytes of a body, but every header.
	if xfcc := r.Header.Get("X-Forwarded-Client-Cert"); xfcc != "" {
		w.Header().Set(ClientCertHeader, xfcc)
	}
	if a.cfg.Revision != "" {
		w.Header().Set(RevisionHeader, a.cfg.Revision)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// forwarded are the headers passed on to the inner call, so tracing and the virtual host survive.
var forwarded = []string{"X-Request-Id", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "Traceparent"}

func (a *App) call(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if target == "" {
		target = a.cfg.Upstream
	}
	if target == "" {
		a.answer(w, r, http.StatusBadGateway, &Upstream{Error: "no upstream configured"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		a.answer(w, r, http.StatusBadGateway, &Upstream{URL: target, Error: err.Error()})
		return
	}
	for _, h := range forwarded {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		a.answer(w, r, http.StatusBadGateway, &Upstream{URL: target, Error: err.Error()})
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	up := &Upstream{URL: target, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	status := http.StatusOK
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The inner call failed: say so to the caller, so the load sees it.
		status = http.StatusBadGateway
	}
	a.answer(w, r, status, up)
}

// Config is the app's configuration, defaults filled in.
func (a *App) Config() Config { return a.cfg }

// SetGRPCState records the gRPC server's serving state (package proxyless): while it is not serving the app
// is not ready, and the readiness answer says why.
func (a *App) SetGRPCState(serving bool, why string) {
	if serving {
		why = ""
	}
	a.grpcNotServing.Store(&why)
}

// Ready reports readiness: not draining, and the gRPC server (if any) SERVING.
func (a *App) Ready() bool { return a.ready.Load() && *a.grpcNotServing.Load() == "" }

// Serve serves on l until ctx ends, then drains: unready at once (the readiness probe fails, endpoints
// drop the pod), still serving for cfg.Drain, then a graceful shutdown that waits for requests in flight.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.ready.Store(false)
	select {
	case <-time.After(a.cfg.Drain):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ConfigFromEnv reads NAME, UPSTREAM, DRAIN and START_DELAY (durations), GRPC_ADDR and GRPC_XDS_BOOTSTRAP
// from the environment.
func ConfigFromEnv() (Config, error) {
	cfg := Config{Name: os.Getenv("NAME"), Upstream: os.Getenv("UPSTREAM"), GRPCAddr: os.Getenv("GRPC_ADDR"),
		XDSBootstrap: os.Getenv(grpcecho.BootstrapEnv)}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"DRAIN", &cfg.Drain}, {"START_DELAY", &cfg.StartDelay}} {
		s := os.Getenv(d.name)
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			return cfg, fmt.Errorf("%s=%q: expected a duration ≥ 0 such as 5s", d.name, s)
		}
		*d.to = v
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	cfg.Revision = istio.RevisionOfStatus(os.Getenv("ISTIO_STATUS"))
	return cfg, nil
}
