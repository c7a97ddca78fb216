package grpcecho

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Answer headers of Transport's responses: what the callee said about itself and about its caller.
const (
	// RevisionHeader is the callee's revision (the demo app's own header, demoapp.RevisionHeader).
	RevisionHeader = "X-Canarygate-Revision"
	// PeerHeader is the caller's SPIFFE ID as the callee's TLS handshake proved it; absent for plaintext.
	PeerHeader = "X-Canarygate-Peer"
)

// Transport is an http.RoundTripper that makes every request one Echo call over Conn, so an HTTP load
// generator (vegeta) paces, times and records gRPC calls exactly as it does HTTP requests. The request's
// context bounds the call (vegeta's timeout); the response's status is the gRPC code mapped to HTTP
// (HTTPStatus), its Status line carries the gRPC error, and its headers what the callee answered.
type Transport struct {
	Conn grpc.ClientConnInterface
	// Message is sent with every call (default: the request's path).
	Message string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	msg := t.Message
	if msg == "" {
		msg = req.URL.Path
	}
	a, err := Call(req.Context(), t.Conn, msg)
	resp := &http.Response{Proto: "HTTP/2.0", ProtoMajor: 2, Header: http.Header{}, Request: req, Body: http.NoBody}
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			// The caller gave up (vegeta's timeout or its stop): an error with no status, as an HTTP
			// transport reports a request that ran out of time.
			return nil, fmt.Errorf("echo %s: %w (%s)", FullMethod, ctxErr, status.Code(err))
		}
		st := status.Convert(err)
		resp.StatusCode = HTTPStatus(st.Code())
		resp.Status = fmt.Sprintf("%d %s (grpc %s: %s)", resp.StatusCode, http.StatusText(resp.StatusCode), st.Code(), st.Message())
		resp.Body = io.NopCloser(bytes.NewReader([]byte(st.Message())))
		resp.ContentLength = int64(len(st.Message()))
		return resp, nil
	}
	resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	if a.Revision != "" {
		resp.Header.Set(RevisionHeader, a.Revision)
	}
	if a.Peer != "" {
		resp.Header.Set(PeerHeader, a.Peer)
	}
	body := []byte(strconv.Quote(a.Message))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return resp, nil
}

// HTTPStatus maps a gRPC status code to the HTTP status Google's APIs map it to (the table in
// google/rpc/code.proto, each code's "HTTP Mapping"), so a failed call is a non-2xx like any failed request.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // "Client Closed Request", as code.proto says
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss
		return http.StatusInternalServerError
	}
}
