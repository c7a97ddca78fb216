package loadgen

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// XDSScheme is the scheme of a proxyless-gRPC target: grpc-go's xDS resolver (xds:///host:port).
const XDSScheme = "xds"

// IsXDS reports whether a stream's URL is an xDS target (its calls are gRPC, not HTTP).
func IsXDS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == XDSScheme
}

// ParseXDSTarget checks an xDS target: xds:///host:port, no authority (grpc-go's xDS resolver would look it
// up in the bootstrap's authorities, which Istio's bootstrap has none of), a host and a port, no path, query
// or fragment. It returns the host and port — the Service hostname and port istiod serves a cluster for.
func ParseXDSTarget(raw string) (host string, port int, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not an xDS target: %w", raw, err)
	}
	bad := func(why string) error {
		return fmt.Errorf("%q is not an xDS target xds:///host:port: %s", raw, why)
	}
	switch {
	case u.Scheme != XDSScheme:
		return "", 0, bad("scheme is not xds")
	case u.Host != "":
		return "", 0, bad("no authority allowed (three slashes: xds:///host:port)")
	case u.RawQuery != "" || u.Fragment != "":
		return "", 0, bad("no query or fragment allowed")
	}
	h, p, err := net.SplitHostPort(u.Path[min(1, len(u.Path)):])
	if err != nil {
		return "", 0, bad("expected host:port after xds:///")
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || h == "" {
		return "", 0, bad("expected a host and a port from 1 to 65535")
	}
	return h, port, nil
}
