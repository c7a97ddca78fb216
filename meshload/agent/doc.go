// Package agent is the generator side of canarygate's in-mesh load (see package meshload): the process a
// generator pod runs (cmd/demo-app in load mode). It attacks its target with vegeta, keeps every result,
// numbered, in a bounded buffer, and serves them on GET /results until they are acknowledged; on SIGTERM it
// stops the attack and keeps serving until everything was pulled.
//
// It is a package of its own so that the demo app links neither client-go nor the scenario parser: it knows
// only the wire protocol, the load generator and Istio's sidecar status.
package agent
