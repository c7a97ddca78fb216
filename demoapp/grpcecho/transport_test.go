package grpcecho

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/canarygate/canarygate/loadgen"
)

// unavailable is a callee that refuses every call, as a draining or broken server does.
type unavailable struct{}

func (unavailable) Echo(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return nil, status.Error(codes.Unavailable, "draining")
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// attack sends n calls at 200/s through vegeta with the gRPC transport and returns vegeta's results.
func attack(t *testing.T, conn *grpc.ClientConn, n int) []*vegeta.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &Transport{Conn: conn}, Timeout: 5 * time.Second}
	var out []*vegeta.Result
	for r := range loadgen.Attack(ctx, []loadgen.Target{{Name: "grpc", Method: http.MethodGet, URL: "xds:///app-b.demo-b.svc.cluster.local:7070",
		Rate: vegeta.Rate{Freq: 200, Per: time.Second}}}, loadgen.WithAttackerOptions(vegeta.Client(client))) {
		out = append(out, r)
		if len(out) == n {
			cancel() // the attack stops; calls in flight still come back, and are kept
		}
	}
	require.GreaterOrEqual(t, len(out), n)
	return out
}

// vegeta paces and records Echo calls as HTTP requests: each result has the callee's revision and the
// caller identity its handshake saw, in the headers the generator reads.
func TestVegetaRecordsEchoCallsWithTheCalleesAnswer(t *testing.T) {
	t.Parallel()
	root := newCA(t)
	addr := serve(t, serverTLS(t, root, "spiffe://cluster.local/ns/demo-b/sa/app-b"))
	for _, r := range attack(t, dial(t, addr, clientTLS(t, root, root, caller)), 20) {
		require.Equal(t, uint16(http.StatusOK), r.Code, r.Error)
		assert.Empty(t, r.Error)
		assert.Equal(t, "new", r.Headers.Get(RevisionHeader))
		assert.Equal(t, caller, r.Headers.Get(PeerHeader))
		assert.Equal(t, "xds:///app-b.demo-b.svc.cluster.local:7070", r.URL)
	}
}

// A gRPC failure is a non-2xx with the gRPC code and message in vegeta's error; a handshake that fails (a
// root the callee does not trust) is an Unavailable, never a success; a plaintext answer carries no peer.
func TestFailedEchoCallsAreFailedRequests(t *testing.T) {
	t.Parallel()
	l := serveWith(t, grpc.NewServer(), unavailable{})
	for _, r := range attack(t, dial(t, l, insecureCreds()), 5) {
		assert.Equal(t, uint16(http.StatusServiceUnavailable), r.Code)
		assert.Equal(t, "503 Service Unavailable (grpc Unavailable: draining)", r.Error)
	}

	root := newCA(t)
	addr := serve(t, serverTLS(t, root, "spiffe://cluster.local/ns/demo-b/sa/app-b"))
	for _, r := range attack(t, dial(t, addr, clientTLS(t, root, newCA(t), caller)), 5) {
		assert.Equal(t, uint16(http.StatusServiceUnavailable), r.Code)
		assert.Contains(t, r.Error, "grpc Unavailable")
	}

	for _, r := range attack(t, dial(t, serve(t, insecureCreds()), insecureCreds()), 5) {
		assert.Equal(t, uint16(http.StatusOK), r.Code)
		assert.Empty(t, r.Headers.Get(PeerHeader), "plaintext: no identity")
	}
}

// A call the caller gave up on (vegeta's timeout) is an error with no status, as an HTTP request that ran out
// of time is.
func TestAnEchoCallPastItsTimeoutIsAnError(t *testing.T) {
	t.Parallel()
	conn := dial(t, serve(t, insecureCreds()), insecureCreds())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "xds:///app-b:7070", nil)
	require.NoError(t, err)
	resp, err := (&Transport{Conn: conn}).RoundTrip(req)
	require.Error(t, err)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
}

// google/rpc/code.proto's HTTP mapping, a few rows: the ones a draining or broken callee produces.
func TestGRPCCodesMapToGooglesHTTPStatuses(t *testing.T) {
	t.Parallel()
	for c, want := range map[codes.Code]int{codes.OK: 200, codes.Unavailable: 503, codes.DeadlineExceeded: 504,
		codes.Unauthenticated: 401, codes.PermissionDenied: 403, codes.Unimplemented: 501, codes.Internal: 500,
		codes.Unknown: 500, codes.ResourceExhausted: 429, codes.Canceled: 499, codes.FailedPrecondition: 400} {
		assert.Equal(t, want, HTTPStatus(c), c.String())
	}
}

// WaitForBootstrap returns the certificate files Istio's bootstrap names once they all exist, and says which
// are missing when its context ends first.
func TestWaitForBootstrapWaitsForEveryCertificateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	boot := filepath.Join(dir, "grpc-bootstrap.json")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := WaitForBootstrap(ctx, boot, 10*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "grpc-bootstrap.json")

	// Istio's layout (pkg/istio-agent/grpcxds/grpc_bootstrap.go): one file_watcher provider, three files.
	require.NoError(t, os.WriteFile(boot, []byte(`{"xds_servers":[{"server_uri":"unix:///etc/istio/proxy/XDS"}],
	  "certificate_providers":{"default":{"plugin_name":"file_watcher","config":{
	    "certificate_file":"`+dir+`/cert-chain.pem","private_key_file":"`+dir+`/key.pem",
	    "ca_certificate_file":"`+dir+`/root-cert.pem","refresh_interval":"900s"}}}}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert-chain.pem"), []byte("x"), 0o600))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = WaitForBootstrap(ctx2, boot, 10*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), dir+"/key.pem")
	assert.Contains(t, err.Error(), dir+"/root-cert.pem")
	assert.NotContains(t, err.Error(), "cert-chain.pem")

	for _, f := range []string{"key.pem", "root-cert.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	files, err := WaitForBootstrap(context.Background(), boot, 10*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []string{dir + "/cert-chain.pem", dir + "/key.pem", dir + "/root-cert.pem"}, files)
}
