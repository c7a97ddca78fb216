package grpcecho

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ca is a throwaway certificate authority, as each Istio revision's istiod signs workload certificates
// (one root, istio-ca-secret, for both revisions of a canary upgrade).
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert: cert, key: key, pool: pool}
}

// issue signs a workload certificate: the SPIFFE ID as its URI SAN, as Istio's workload certificates carry
// it; spiffe "" issues one without.
func (c *ca) issue(t *testing.T, spiffe string, serial int64) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"app-b.demo-b.svc.cluster.local"}}
	if spiffe != "" {
		u, err := url.Parse(spiffe)
		require.NoError(t, err)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serve starts an Echo server of revision "new" on loopback with the given credentials.
func serve(t *testing.T, creds credentials.TransportCredentials) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(grpc.Creds(creds))
	Register(s, &Server{Revision: "new"})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func call(t *testing.T, addr string, creds credentials.TransportCredentials) (Answer, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Call(ctx, conn, "hello")
}

const caller = "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a-calls-b"

// serverTLS requires and verifies a client certificate of root; the server's own names spiffe ("" for none).
func serverTLS(t *testing.T, root *ca, spiffe string) credentials.TransportCredentials {
	t.Helper()
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{root.issue(t, spiffe, 2)},
		ClientCAs: root.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
}

// clientTLS presents a certificate issued by issuer (naming spiffe) and trusts root.
func clientTLS(t *testing.T, root, issuer *ca, spiffe string) credentials.TransportCredentials {
	t.Helper()
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{issuer.issue(t, spiffe, 3)}, RootCAs: root.pool,
		ServerName: "app-b.demo-b.svc.cluster.local", MinVersion: tls.VersionTLS12})
}

// A mutual TLS call: the server sees the caller's SPIFFE ID from the handshake and says so, with its own
// revision — the identity path of a proxyless call, with plain TLS credentials filling the same field xDS
// credentials fill.
func TestEchoSaysWhoCalledOverMutualTLS(t *testing.T) {
	t.Parallel()
	root := newCA(t)
	addr := serve(t, serverTLS(t, root, "spiffe://cluster.local/ns/demo-b/sa/app-b"))
	a, err := call(t, addr, clientTLS(t, root, root, caller))
	require.NoError(t, err)
	assert.Equal(t, Answer{Revision: "new", Peer: caller, Message: "hello"}, a)
	assert.True(t, a.MTLS())

	// A client certificate from another root (a revision whose CA the server does not trust): no call.
	_, err = call(t, addr, clientTLS(t, root, newCA(t), caller))
	require.Error(t, err, "the handshake fails: a trust break across revisions is a failed call, never a plaintext success")
}

// A plaintext call has no TLS peer, so no identity: it is not mTLS, whatever it answered.
func TestAPlaintextCallIsNotMTLS(t *testing.T) {
	t.Parallel()
	addr := serve(t, insecure.NewCredentials())
	a, err := call(t, addr, insecure.NewCredentials())
	require.NoError(t, err)
	assert.Equal(t, "new", a.Revision)
	assert.Empty(t, a.Peer)
	assert.False(t, a.MTLS())
}

// TLS with a client certificate that carries no SPIFFE ID is encrypted but proves no workload identity: not
// mTLS in the mesh's sense.
func TestTLSWithoutAWorkloadIdentityIsNotMTLS(t *testing.T) {
	t.Parallel()
	root := newCA(t)
	addr := serve(t, serverTLS(t, root, ""))
	a, err := call(t, addr, clientTLS(t, root, root, ""))
	require.NoError(t, err)
	assert.Empty(t, a.Peer)
	assert.False(t, a.MTLS())
}

// serveWith serves svc on loopback with the server s.
func serveWith(t *testing.T, s *grpc.Server, svc Service) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	Register(s, svc)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
