// Package grpcecho is the demo app's gRPC face, the service its proxyless-gRPC workloads serve (issue 20):
// one unary method, Echo, that answers with the server's revision and the caller's identity as the TLS
// handshake proved it — the SPIFFE ID grpc-go takes from the client certificate's URI SAN
// (credentials.TLSInfo.SPIFFEID), the same whether the credentials come from xDS (Istio's proxyless gRPC) or
// are plain TLS. A plaintext call has no TLS peer and so no identity: it can never count as mTLS.
//
// The service is described by hand (no protoc in the build): requests and answers are
// google.protobuf.StringValue, the answer's value a small JSON document (Answer).
package grpcecho

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The service's names on the wire.
const (
	ServiceName = "canarygate.demo.Echo"
	FullMethod  = "/" + ServiceName + "/Echo"
)

// Answer is what Echo says.
type Answer struct {
	// Revision is the server's proxy revision (its pod's injection status).
	Revision string `json:"revision"`
	// Peer is the caller's SPIFFE ID from the TLS handshake; empty for a plaintext call or a client
	// certificate without one.
	Peer string `json:"peer,omitempty"`
	// Message is the request's text, echoed.
	Message string `json:"message,omitempty"`
}

// MTLS reports whether the call was mutual TLS from a workload identity.
func (a Answer) MTLS() bool { return a.Peer != "" }

// Service is what a server of Echo implements.
type Service interface {
	Echo(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

// Server answers Echo for one revision.
type Server struct {
	Revision string
}

// Echo implements Service.
func (s *Server) Echo(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	b, err := json.Marshal(Answer{Revision: s.Revision, Peer: PeerIdentity(ctx), Message: in.GetValue()})
	if err != nil {
		return nil, err
	}
	return wrapperspb.String(string(b)), nil
}

// PeerIdentity is the caller's SPIFFE ID as the TLS handshake proved it, or "" (plaintext, or no URI SAN).
func PeerIdentity(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || ti.SPIFFEID == nil {
		return ""
	}
	return ti.SPIFFEID.String()
}

// Register adds the Echo service to a gRPC server (a plain one, or grpc-go's xDS server).
func Register(r grpc.ServiceRegistrar, s Service) { r.RegisterService(&serviceDesc, s) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*Service)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				return srv.(Service).Echo(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: FullMethod}, call)
		},
	}},
	Metadata: "canarygate/demoapp/grpcecho",
}

// Call calls Echo over conn and decodes the answer.
func Call(ctx context.Context, conn grpc.ClientConnInterface, message string, opts ...grpc.CallOption) (Answer, error) {
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(ctx, FullMethod, wrapperspb.String(message), out, opts...); err != nil {
		return Answer{}, err
	}
	var a Answer
	if err := json.Unmarshal([]byte(out.GetValue()), &a); err != nil {
		return Answer{}, fmt.Errorf("echo answer %q: %w", out.GetValue(), err)
	}
	return a, nil
}
