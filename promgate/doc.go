// Package promgate carries out the prometheus gate: a PromQL expression evaluated by the user's own
// Prometheus (through Prometheus's Go API client, github.com/prometheus/client_golang/api), over the run or
// per step, against a threshold — what Flagger's and Argo Rollouts' metric analyses do, for a rehearsal.
//
// The harness asks each gate's query once after setup (Preflight: a query Prometheus refuses is bad input,
// exit 2; a Prometheus that does not answer is an error, exit 3 — both before the load starts), then once
// per window after the traffic (Query), and records the results in the run; Evaluate judges them like any
// other gate, from the run alone. No data fails: an empty answer says nothing about the window.
package promgate
