// Package proxyless is the demo app's Istio data plane without Envoy: proxyless gRPC. The pod's pilot-agent
// (Istio's grpc-agent injection template) writes an xDS bootstrap and the revision's workload certificate;
// grpc-go's xDS server and client channels then take their listeners, clusters, endpoints and TLS from the
// istiod of the pod's revision over one xDS stream each. So every call between two such pods is a real
// Istio mTLS handshake with certificates from each side's revision, and istiod's pilot_xds and
// /debug/connections list every pod.
//
// It is a package of its own because grpc-go's xDS support links Envoy's API types: only the demo app's
// binary needs them, never canarygate's.
package proxyless
