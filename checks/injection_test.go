package checks

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// injectionRun: "upgrade" moved demo-a; its record lists what injection changed for app-a.
func injectionRun(lines ...string) *summary.Run {
	return run(func(r *summary.Run) {
		r.Checks = []summary.Check{{Name: "injection demo-a/app-a", Kind: scenarios.RecordInjectionDiff, Passed: true, Phase: "upgrade", Evidence: lines}}
	})
}

func injectionGate(allow ...string) scenarios.Gate {
	return gate(scenarios.GateInjectionUnchanged, &scenarios.InjectionUnchanged{Allow: allow})
}

// The revision's name and the proxy image are the upgrade: they pass. The postStart hook gone
// (istio/istio#51310) is not: it fails naming the workload, the step and the change — unless allowed.
func TestInjectionUnchanged(t *testing.T) {
	t.Parallel()
	expected := []string{
		"container istio-proxy image: proxyv2:1.29.6 → proxyv2:1.30.3 (expected: proxy image)",
		"container istio-proxy env CA_ADDR: istiod-1-29.istio-system.svc:15012 → istiod-1-30.istio-system.svc:15012 (expected: revision)",
	}
	c := Evaluate(injectionGate(), injectionRun(expected...))
	assert.True(t, c.Passed, c.Summary)
	assert.Equal(t, "1 workload(s) moved, 2 difference(s), all the revision's name, the proxy image or allowed", c.Summary)

	hook := `container istio-proxy lifecycle: {"postStart":{"exec":{"command":["pilot-agent","wait"]}}} → (absent)`
	c = Evaluate(injectionGate(), injectionRun(append(expected, hook)...))
	assert.False(t, c.Passed)
	assert.Equal(t, "injection changed beyond the revision and the proxy image: demo-a/app-a (1)", c.Summary)
	assert.Equal(t, []string{"demo-a/app-a, upgrade: " + hook}, c.Evidence)
	assert.Equal(t, []string{"upgrade"}, c.Steps)

	c = Evaluate(injectionGate("container istio-proxy lifecycle"), injectionRun(append(expected, hook)...))
	assert.True(t, c.Passed, "allowed: %s", c.Summary)

	c = Evaluate(injectionGate(), run(nil))
	assert.False(t, c.Passed, "no move recorded: nothing to judge")
	assert.Contains(t, c.Summary, "nothing shows injection unchanged")
}
