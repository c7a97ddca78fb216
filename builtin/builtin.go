// Package builtin links every step action, gate, cluster provider and report format canarygate ships: each
// registers itself (runner.Register, checks.Register, cluster.RegisterProvider, report.Register) from the
// package that carries it out, so importing this package for its side effects is
// what makes the scenario parser, `validate` and `run` know them — the same set, from one registration each.
// The harness imports it; a program that only parses scenarios imports it too.
package builtin

import (
	// Core actions (run, soak, http, check) and the timeline gates.
	_ "github.com/canarygate/canarygate/actions"
	_ "github.com/canarygate/canarygate/checks"
	// Cluster providers.
	_ "github.com/canarygate/canarygate/cluster/existing"
	_ "github.com/canarygate/canarygate/cluster/kind"
	// The disruption step.
	_ "github.com/canarygate/canarygate/disrupt"
	// Helm actions.
	_ "github.com/canarygate/canarygate/helmrelease"
	// Kubernetes actions.
	_ "github.com/canarygate/canarygate/kube"
	// Istio actions and gates.
	_ "github.com/canarygate/canarygate/mesh"
	// Report formats.
	_ "github.com/canarygate/canarygate/report"
)
