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
	app := New(Config{Name: "app-a", Drain: time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	ctx, terminate := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, l) }()

	loadCtx, stopLoad := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer stopLoad()
	results := loadgen.Attack(loadCtx, []loadgen.Target{{Name: "a", Method: "GET", URL: url + "/", Rate: vegeta.Rate{Freq: 100, Per: time.Second}}})

	time.AfterFunc(700*time.Millisecond, func() {
		terminate() // SIGTERM: the pod is being replaced
	})
	var ok, bad int
	for r := range results {
		if r.Code == 200 {
			ok++
		} else {
			bad++
			t.Logf("failed: %d %s", r.Code, r.Error)
		}
	}
	// Traffic ended (endpoints moved on) within the drain period: every request was answered.
	assert.Zero(t, bad)
	assert.Greater(t, ok, 120)
	assert.False(t, app.Ready(), "unready as soon as it is asked to stop")
	code, _ := get(t, url+"/healthz/ready", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "the readiness probe fails while draining")
	select {
	case err := <-served:
		require.NoError(t, err, "a graceful shutdown")
	case <-time.After(5 * time.Second):
		t.Fatal("did not shut down after the drain")
	}
	_, err = http.Get(url + "/")
	assert.Error(t, err, "no longer accepting after shutdown")
}
