// Package testserver is a loopback HTTP server with switchable faults, for canarygate's own tests: it answers
// 200, or 503, resets connections, or answers slowly, as a control endpoint says. It only ever listens on
// 127.0.0.1.
package testserver

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Fault modes.
const (
	ModeOK    = "ok"
	Mode503   = "503"
	ModeReset = "reset"
	ModeSlow  = "slow"
	ModeDelay = "delay"
)

// ControlPath switches modes: GET /_fault?mode=503 (or ok, reset, slow, delay&ms=200); slow&count=N makes only
// the next N requests slow.
const ControlPath = "/_fault"

// MetricsPath serves the answers counted by code (testserver_requests_total{code}), in Prometheus's format.
const MetricsPath = "/metrics"

// Server is a fault-injecting loopback server.
type Server struct {
	*httptest.Server
	mode     atomic.Value // string
	delay    atomic.Int64 // ns, for ModeDelay
	slow     time.Duration
	body     atomic.Value // string: the body of 503 answers
	served   atomic.Int64
	slowLeft atomic.Int64 // requests still to answer slowly, whatever the mode
	mu       sync.Mutex
	switches []string
}

// New starts a server on 127.0.0.1. Slow mode answers after slow (pick more than the stream timeout).
func New(slow time.Duration) *Server {
	s := &Server{slow: slow}
	s.mode.Store(ModeOK)
	s.body.Store("unavailable")
	// Its answers are counted by status code on /metrics, as an instrumented app's are (client_golang's
	// promhttp): a Prometheus the test starts scrapes it, and the test's faults are the error rate it sees.
	reg := prometheus.NewRegistry()
	answered := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "testserver_requests_total",
		Help: "Requests answered, by status code."}, []string{"code"})
	reg.MustRegister(answered)
	// Every code it answers exists from the start, at 0, as Prometheus's instrumentation practices ask: a
	// series born inside a window is counted from its first sample on (increase() cannot see its jump from
	// no series), so a first burst of 503s would be missed.
	for _, code := range []string{"200", "503"} {
		answered.WithLabelValues(code)
	}
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(ControlPath, s.handle)
	mux.Handle("/", promhttp.InstrumentHandlerCounter(answered, http.HandlerFunc(s.handle)))
	s.Server = httptest.NewServer(mux)
	return s
}

// SetMode switches the fault mode directly.
func (s *Server) SetMode(mode string) {
	s.mode.Store(mode)
	s.mu.Lock()
	s.switches = append(s.switches, mode)
	s.mu.Unlock()
}

// SlowNext makes the next n requests (by arrival) answer after the slow delay, then the mode applies again:
// an outage of an exact number of requests.
func (s *Server) SlowNext(n int64) { s.slowLeft.Store(n) }

// SetFailureBody sets what 503 answers say (tests craft hostile bodies).
func (s *Server) SetFailureBody(b string) { s.body.Store(b) }

// Served counts answered requests (not control calls).
func (s *Server) Served() int64 { return s.served.Load() }

// ControlURL returns the URL that switches to mode.
func (s *Server) ControlURL(mode string) string {
	return fmt.Sprintf("%s%s?mode=%s", s.URL, ControlPath, mode)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == ControlPath {
		if count := r.URL.Query().Get("count"); count != "" {
			var n int64
			fmt.Sscanf(count, "%d", &n)
			s.SlowNext(n)
			fmt.Fprintln(w, "slow for", n)
			return
		}
		if ms := r.URL.Query().Get("ms"); ms != "" {
			var n int64
			fmt.Sscanf(ms, "%d", &n)
			s.delay.Store(n * int64(time.Millisecond))
		}
		s.SetMode(r.URL.Query().Get("mode"))
		fmt.Fprintln(w, "mode", r.URL.Query().Get("mode"))
		return
	}
	s.served.Add(1)
	mode := s.mode.Load().(string)
	if s.slowLeft.Load() > 0 && s.slowLeft.Add(-1) >= 0 {
		mode = ModeSlow
	}
	switch mode {
	case Mode503:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, s.body.Load().(string))
		return
	case ModeReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("no hijacker")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
		return
	case ModeSlow:
		select {
		case <-time.After(s.slow):
		case <-r.Context().Done():
			return
		}
	case ModeDelay:
		time.Sleep(time.Duration(s.delay.Load()))
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "ok")
}
