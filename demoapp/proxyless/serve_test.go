package proxyless

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/canarygate/canarygate/demoapp"
	"github.com/canarygate/canarygate/demoapp/grpcecho"
)

func readiness(t *testing.T, app *demoapp.App) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz/ready", nil))
	return rec.Code, rec.Body.String()
}

// An app with a gRPC address is not ready before its gRPC server serves; then it answers Echo with its
// revision and is ready; on stop it keeps serving for its drain period and stops.
func TestTheAppIsReadyOnlyWhileItsGRPCServerServes(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	app := demoapp.New(demoapp.Config{Name: "app-b", Revision: "new", GRPCAddr: l.Addr().String(), Drain: time.Millisecond})
	code, body := readiness(t, app)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "gRPC server not started")

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeEcho(ctx, app, l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := grpcecho.Call(cctx, conn, "hi", grpc.WaitForReady(true))
	require.NoError(t, err)
	assert.Equal(t, grpcecho.Answer{Revision: "new", Message: "hi"}, a)
	code, _ = readiness(t, app)
	assert.Equal(t, http.StatusOK, code, "serving: ready")

	stop()
	require.NoError(t, <-done)
}

// Under xDS the server waits for the bootstrap and certificate files pilot-agent writes: until then the app
// is not ready and says why; a stop while waiting ends the wait with the files it still lacked.
func TestAnXDSAppWaitsForItsBootstrapNotReady(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	boot := filepath.Join(t.TempDir(), "grpc-bootstrap.json")
	app := demoapp.New(demoapp.Config{Name: "app-b", Revision: "new", GRPCAddr: l.Addr().String(), XDSBootstrap: boot})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeEcho(ctx, app, l) }()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := readiness(t, app)
		assert.Equal(c, http.StatusServiceUnavailable, code)
		assert.Contains(c, body, "waiting for the xDS bootstrap and certificate files")
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), boot)
	assert.False(t, app.Ready())
}
