package checks

import (
	"github.com/canarygate/canarygate/promgate"
	"github.com/canarygate/canarygate/scenarios"
)

// The prometheus gate: asked of the user's Prometheus after the traffic (package promgate), judged from
// what was recorded.
func init() {
	Register(scenarios.GatePrometheus, func() *scenarios.Prometheus { return &scenarios.Prometheus{} }, promgate.Evaluate,
		Queried(promgate.Key, promgate.Preflight, promgate.Query))
}
