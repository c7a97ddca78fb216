package proxyless

import (
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/xds" // also registers the xds:/// resolver and the xDS balancers

	"github.com/canarygate/canarygate/demoapp/grpcecho"
)

// NewXDSServer is a grpcecho server under xDS control (Istio's proxyless gRPC): istiod's listener for its port
// decides whether it terminates mTLS (PeerAuthentication STRICT: the revision's workload certificate, the
// caller's certificate required) or serves plaintext. serving is told every change of the listener's serving
// mode — a server is useful only while it is SERVING, so the app's readiness follows it. The fallback
// credentials (plaintext) apply only when istiod sends no security configuration at all.
func NewXDSServer(revision string, serving func(ok bool, err error)) (*xds.GRPCServer, error) {
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return nil, fmt.Errorf("xDS server credentials: %w", err)
	}
	s, err := xds.NewGRPCServer(grpc.Creds(creds), xds.ServingModeCallback(func(_ net.Addr, args xds.ServingModeChangeArgs) {
		serving(args.Mode == connectivity.ServingModeServing, args.Err)
	}))
	if err != nil {
		return nil, fmt.Errorf("xDS gRPC server: %w", err)
	}
	grpcecho.Register(s, &grpcecho.Server{Revision: revision})
	return s, nil
}

// DialXDS opens a client channel to target (xds:///host:port) under xDS control: istiod's cluster for the
// host decides the TLS (a DestinationRule ISTIO_MUTUAL: the revision's workload certificate, the callee's
// SPIFFE identity verified) and the endpoints each call is balanced over. The channel connects lazily; its
// one xDS stream goes through the pod's pilot-agent to the istiod of the pod's revision.
func DialXDS(target string) (*grpc.ClientConn, error) {
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return nil, fmt.Errorf("xDS client credentials: %w", err)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("xDS channel to %s: %w", target, err)
	}
	return conn, nil
}
