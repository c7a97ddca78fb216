package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// registry answers like Docker Hub on loopback: a manifest HEAD without a token is 401 with a Bearer
// challenge; the realm hands an anonymous token for the scope asked; with it the HEAD is 200.
func registry(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			if r.URL.Query().Get("service") != "registry.test" || r.URL.Query().Get("scope") != "repository:kindest/node:pull" {
				http.Error(w, "bad scope", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"token":"anonymous-pull"}`))
		case "/v2/kindest/node/manifests/v1.35.8":
			if r.Header.Get("Authorization") != "Bearer anonymous-pull" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="registry.test",scope="repository:kindest/node:pull"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			assert.Equal(t, http.MethodHead, r.Method)
			assert.Contains(t, r.Header.Get("Accept"), "application/vnd.oci.image.index.v1+json")
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		case "/charts/index.yaml":
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAReachableRegistryCanPull(t *testing.T) {
	srv := registry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, ProbeAll(ctx, http.DefaultTransport, []string{
		srv.URL + "/v2/kindest/node/manifests/v1.35.8", srv.URL + "/charts/index.yaml"}))
}

func TestAnImageTheRegistryDoesNotHaveCannotBePulled(t *testing.T) {
	srv := registry(t)
	err := ProbeAll(context.Background(), http.DefaultTransport, []string{srv.URL + "/v2/kindest/node/manifests/v0.0.0"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404 Not Found")
}

// Offline within the deadline: a refused port, and an address that never answers (TEST-NET-1, RFC 5737:
// routed nowhere, so the dial hangs — or fails at once where there is no route at all).
func TestNoRouteIsToldWithinTheDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + l.Addr().String() + "/v2/kindest/node/manifests/v1.35.8"
	require.NoError(t, l.Close())
	srv := registry(t)

	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err = ProbeAll(ctx, http.DefaultTransport, []string{
		refused, "https://192.0.2.1/v2/kindest/node/manifests/v1.35.8", srv.URL + "/charts/index.yaml"})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Less(t, elapsed, deadline+time.Second, "told within the deadline")
	assert.Contains(t, err.Error(), l.Addr().String()+": ")
	assert.Contains(t, err.Error(), "192.0.2.1: ")
	assert.NotContains(t, err.Error(), "index.yaml", "what answered is not named")
	assert.NotContains(t, err.Error(), "\n", "one line")
}

func TestA401WithoutAChallengeCannotPull(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer srv.Close()
	err := Probe(context.Background(), http.DefaultTransport, srv.URL+"/v2/x/manifests/y")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "without a Bearer challenge")
}
