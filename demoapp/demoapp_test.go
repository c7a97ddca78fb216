package demoapp

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/loadgen"
)

func get(t *testing.T, url string, h http.Header) (int, Echo) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e Echo
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	}
	return resp.StatusCode, e
}

func TestEchoesHeadersIncludingTheClientCertificate(t *testing.T) {
	srv := httptest.NewServer(New(Config{Name: "app-b"}).Handler())
	defer srv.Close()
	xfcc := "By=spiffe://cluster.local/ns/demo-b/sa/app-b;URI=spiffe://cluster.local/ns/demo-a/sa/app-a"
	code, e := get(t, srv.URL+"/hello", http.Header{"X-Forwarded-Client-Cert": {xfcc}})
	assert.Equal(t, 200, code)
	assert.Equal(t, "app-b", e.Name)
	assert.Equal(t, "/hello", e.Path)
	assert.Equal(t, []string{xfcc}, e.Headers["X-Forwarded-Client-Cert"])
}

func TestInnerCallFailureBecomesANon200(t *testing.T) {
	b := testserver.New(time.Second)
	defer b.Close()
	a := httptest.NewServer(New(Config{Name: "app-a", Upstream: b.URL + "/", CallTimeout: 300 * time.Millisecond}).Handler())
	defer a.Close()

	code, e := get(t, a.URL+"/call", http.Header{"X-Request-Id": {"r1"}})
	assert.Equal(t, 200, code)
	require.NotNil(t, e.Upstream)
	assert.Equal(t, 200, e.Upstream.Status)

	b.SetMode(testserver.Mode503)
	code, e = get(t, a.URL+"/call", nil)
	assert.Equal(t, http.StatusBadGateway, code, "the inner 503 shows up in the load as a non-200")
	assert.Equal(t, 503, e.Upstream.Status)

	b.SetMode(testserver.ModeSlow)
	code, e = get(t, a.URL+"/call", nil)
	assert.Equal(t, http.StatusBadGateway, code, "an inner call that times out")
	assert.Contains(t, e.Upstream.Error, "deadline exceeded")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	code, e = get(t, a.URL+"/call?url="+closed, nil)
	assert.Equal(t, http.StatusBadGateway, code, "an unreachable upstream (a closed loopback port)")
	assert.Contains(t, e.Upstream.Error, "refused")
}

func TestDrainsUnderLoadWithoutAnError(t *testing.T) {
	// Drain is long enough that the load is stopped well inside it even on a busy machine; nothing below
	// depends on the wall clock otherwise: the test waits on the app's own signals and on the results.
	const drain = 5 * time.Second
	app := New(Config{Name: "app-a", Drain: drain})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	ctx, terminate := context.WithCancel(context.Background())
	defer terminate()
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, l) }()

	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	results := loadgen.Attack(loadCtx, []loadgen.Target{{Name: "a", Method: "GET", URL: url + "/", Rate: vegeta.Rate{Freq: 100, Per: time.Second}}})

	var ok, bad, afterTerm int
	var terminatedAt time.Time
	for r := range results {
		if r.Code == 200 {
			ok++
		} else {
			bad++
			t.Logf("failed: %d %s", r.Code, r.Error)
		}
		switch {
		case terminatedAt.IsZero() && ok >= 50:
			// SIGTERM: the pod is being replaced. It turns unready at once, and keeps serving while the
			// endpoints move on.
			terminatedAt = time.Now()
			terminate()
			require.Eventually(t, func() bool { return !app.Ready() }, 10*time.Second, time.Millisecond, "unready once asked to stop")
			code, _ := get(t, url+"/healthz/ready", nil)
			assert.Equal(t, http.StatusServiceUnavailable, code, "the readiness probe fails while draining")
		case !terminatedAt.IsZero() && r.Timestamp.After(terminatedAt):
			// Requests sent after the SIGTERM: the drain is what answers them.
			if afterTerm++; afterTerm == 50 {
				stopLoad() // the endpoints have moved on
			}
		}
	}
	assert.Zero(t, bad, "every request sent before and during the drain was answered")
	assert.GreaterOrEqual(t, afterTerm, 50)
	select {
	case err := <-served:
		require.NoError(t, err, "a graceful shutdown")
	case <-time.After(drain + DefaultShutdownWait + 30*time.Second):
		t.Fatal("did not shut down after the drain")
	}
	_, err = http.Get(url + "/")
	assert.Error(t, err, "no longer accepting after shutdown")
}

func TestConfigFromEnvReadsDurations(t *testing.T) {
	t.Setenv("NAME", "app-a")
	t.Setenv("DRAIN", "8s")
	t.Setenv("START_DELAY", "5s")
	cfg, err := ConfigFromEnv()
	require.NoError(t, err)
	assert.Equal(t, 8*time.Second, cfg.Drain)
	assert.Equal(t, 5*time.Second, cfg.StartDelay)

	t.Setenv("START_DELAY", "soon")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, `START_DELAY="soon": expected a duration`)
	t.Setenv("START_DELAY", "")
	t.Setenv("DRAIN", "-1s")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, `DRAIN="-1s"`)
}
