package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/canarygate/canarygate/demoapp/grpcecho"
	"github.com/canarygate/canarygate/loadgen"
)

// callee is a stand-in Echo server that reports a fixed revision and caller identity, as an app-b of
// revision "new" whose handshake saw the generator's certificate would.
type callee struct{ peer string }

func (c callee) Echo(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	b, _ := json.Marshal(grpcecho.Answer{Revision: "new", Peer: c.peer, Message: in.GetValue()})
	return wrapperspb.String(string(b)), nil
}

// bootstrapIn writes an xDS bootstrap in Istio's layout and the three certificate files it names.
func bootstrapIn(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cert-chain.pem", "key.pem", "root-cert.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	boot := filepath.Join(dir, "grpc-bootstrap.json")
	require.NoError(t, os.WriteFile(boot, []byte(fmt.Sprintf(`{"xds_servers":[{"server_uri":"unix:///etc/istio/proxy/XDS"}],
	  "certificate_providers":{"default":{"plugin_name":"file_watcher","config":{"certificate_file":"%[1]s/cert-chain.pem",
	  "private_key_file":"%[1]s/key.pem","ca_certificate_file":"%[1]s/root-cert.pem"}}}}`, dir)), 0o600))
	return boot
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A generator of an xds:/// target is not ready, and sends nothing, until its gRPC channel is READY; then it
// calls at its rate and records each call's status, the callee's revision and the caller identity the
// callee reported; on its stop every result is still served until pulled.
func TestAGeneratorOfAnXDSTargetCallsOnlyOnceItsChannelIsReady(t *testing.T) {
	t.Parallel()
	const id = "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a-calls-b"
	target, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	grpcecho.Register(srv, callee{peer: id})
	t.Cleanup(srv.Stop)
	dialled := make(chan string, 1)
	cfg := AgentConfig{Pod: "gen-0", Buffer: 10_000, XDSBootstrap: bootstrapIn(t),
		Target: loadgen.Target{Name: "in-mesh", Method: http.MethodGet, URL: "xds:///app-b.demo-b.svc.cluster.local:7070",
			Rate: vegeta.Rate{Freq: 100, Per: time.Second}, Timeout: 2 * time.Second},
		// The test's dialler reaches the loopback callee; the agent's is proxyless.DialXDS.
		Dial: func(t string) (*grpc.ClientConn, error) {
			dialled <- t
			return grpc.NewClient(target.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		}}
	al, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + al.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- RunAgent(ctx, context.Background(), al, cfg) }()

	assert.Equal(t, cfg.Target.URL, <-dialled)
	// The callee's listener accepts connections but nobody serves them yet: the channel cannot be READY.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := get(t, base+"/healthz/ready")
		assert.Equal(c, http.StatusServiceUnavailable, code)
		assert.Contains(c, body, "gRPC channel to xds:///app-b.demo-b.svc.cluster.local:7070")
	}, 10*time.Second, 20*time.Millisecond)
	var b Batch
	_, body := get(t, base+"/results")
	require.NoError(t, json.Unmarshal([]byte(body), &b))
	assert.Zero(t, b.Produced, "nothing is sent before the channel is READY")

	go func() { _ = srv.Serve(target) }()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, _ := get(t, base+"/healthz/ready")
		assert.Equal(c, http.StatusOK, code)
	}, 20*time.Second, 20*time.Millisecond)
	var results []Result
	var after uint64
	for len(results) < 30 {
		_, body := get(t, fmt.Sprintf("%s/results?boot=%s&after=%d", base, b.Boot, after))
		var got Batch
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		b.Boot = got.Boot
		for _, r := range got.Results {
			results = append(results, r)
			after = r.Seq
		}
		if len(got.Results) == 0 {
			<-time.After(20 * time.Millisecond) // the generator's own schedule: 100 calls per second
		}
	}
	stop()
	for {
		_, body := get(t, fmt.Sprintf("%s/results?boot=%s&after=%d", base, b.Boot, after))
		var got Batch
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		for _, r := range got.Results {
			results = append(results, r)
			after = r.Seq
		}
		if got.Stopped && len(got.Results) == 0 && after == got.Produced {
			break
		}
	}
	require.NoError(t, <-done)
	for _, r := range results {
		require.Equal(t, uint16(http.StatusOK), r.Code, r.Error)
		assert.Equal(t, "new", r.Callee)
		assert.Equal(t, id, r.Peer)
		assert.True(t, r.MTLSFrom(id))
	}
}
