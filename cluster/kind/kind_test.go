package kind

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
)

func TestNoEngineIsOneClearError(t *testing.T) {
	p := Provider{Sockets: []string{filepath.Join(t.TempDir(), "docker.sock")}}
	_, err := p.Provision(context.Background(), scenarios.Cluster{Name: "x", Provider: "kind"})
	require.ErrorIs(t, err, ErrNoContainerEngine)
	assert.NotContains(t, err.Error(), "\n", "one line")
}

func TestAnEngineAnsweringPingIsReachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Write([]byte("OK"))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	defer srv.Close()
	assert.NoError(t, EngineReachable(context.Background(), []string{filepath.Join(t.TempDir(), "missing.sock"), sock}))

	dead := filepath.Join(t.TempDir(), "dead.sock")
	dl, err := net.Listen("unix", dead)
	require.NoError(t, err)
	dl.Close()
	assert.True(t, errors.Is(EngineReachable(context.Background(), []string{dead}), ErrNoContainerEngine))
}
