package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
)

// A disrupt step names exactly one target, sensibly, and says what it does; pausing needs a kind node; an
// existing cluster must allow disruption.
func TestDisruptStepsAreDescribedAndValidated(t *testing.T) {
	parse := func(provider, allow, step string) (*scenarios.Scenario, error) {
		y := "name: d\nclusters: [{name: c, provider: " + provider + allow + "}]\ntraffic:\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\nsteps:\n  - name: x\n    disrupt: " + step + "\n"
		return scenarios.Parse("d.yaml", []byte(y), scenarios.Vars{})
	}
	for step, want := range map[string]string{
		"{duration: 30s, background: true, scaleDown: {namespace: istio-system, deployment: istiod-1-30}}": "disrupt: scale deployment istio-system/istiod-1-30 to 0 for 30s, then restore, in the background over the next steps",
		"{duration: 5s, deletePods: {namespace: load, selector: app=gen}}":                                 "disrupt: delete pods app=gen in load (grace 0s) once for 5s, then restore",
		"{duration: 5s, deletePods: {namespace: n, selector: app=x, every: 2s, gracePeriodSeconds: 3}}":    "disrupt: delete pods app=x in n (grace 3s) every 2s for 5s, then restore",
		"{duration: 5s, pauseNode: {}}": "disrupt: pause the control-plane node for 5s, then restore",
	} {
		s, err := parse("kind", "", step)
		require.NoError(t, err, step)
		assert.Equal(t, want, s.Steps[0].Action.Describe(), step)
	}
	s, err := parse("kind", "", "{duration: 30s, background: true, scaleDown: {namespace: n, deployment: d}}")
	require.NoError(t, err)
	assert.Equal(t, scenarios.Duration(60e9), s.Steps[0].Timeout, "a background disruption's step only puts it in place")
	s, err = parse("kind", "", "{duration: 30s, scaleDown: {namespace: n, deployment: d}}")
	require.NoError(t, err)
	assert.Equal(t, scenarios.Duration(150e9), s.Steps[0].Timeout, "a blocking one lasts its duration and its restoration")

	for step, want := range map[string]string{
		"{scaleDown: {namespace: n, deployment: d}}": "d.yaml:7:14: steps[0].disrupt.duration: required",
		"{duration: 5s}": "steps[0].disrupt: expected exactly one target: scaleDown, deletePods, pauseNode or restartAPIServer (found 0)",
		"{duration: 5s, pauseNode: {}, deletePods: {namespace: n, selector: a=b}}":        "(found 2)",
		"{duration: 5s, deletePods: {namespace: n}}":                                      "steps[0].disrupt.deletePods.selector: required",
		"{duration: 5s, deletePods: {namespace: n, selector: 'a in (b'}}":                 `"a in (b" is not a label selector`,
		"{duration: 5s, deletePods: {namespace: n, selector: a=b, every: 10ms}}":          "steps[0].disrupt.deletePods.every: 10ms: expected 0 (once) or at least 500ms",
		"{duration: 5s, scaleDown: {namespace: n}}":                                       "steps[0].disrupt.scaleDown.deployment: required",
		"{duration: 5s, deletePods: {namespace: n, selector: a, gracePeriodSeconds: -1}}": "gracePeriodSeconds: -1 is negative",
	} {
		_, err := parse("kind", "", step)
		require.Error(t, err, step)
		assert.Contains(t, err.Error(), want, step)
	}
	_, err = parse("existing", "", "{duration: 5s, pauseNode: {}}")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `steps[0].disrupt.pauseNode: cluster "c" is provider existing: pauseNode pauses a kind node's container`)
	_, err = parse("existing", ", allowDisruption: true", "{duration: 5s, restartAPIServer: {}}")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `steps[0].disrupt.restartAPIServer: cluster "c" is provider existing: restartAPIServer stops a container in a kind node`)
	_, err = parse("existing", "", "{duration: 5s, scaleDown: {namespace: n, deployment: d}}")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `steps[0].disrupt: cluster "c" is provider existing: a disruption there needs allowDisruption: true`)
	s, err = parse("existing", ", allowDisruption: true", "{duration: 5s, scaleDown: {namespace: n, deployment: d}}")
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, s.ExistingDisrupted(), "the run still asks for --allow-disruption")

	y := "name: d\nclusters: [{name: c, provider: kind}]\ntraffic:\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\nsteps: [{name: s, soak: {duration: 1s}}]\nteardown:\n  - name: x\n    disrupt: {duration: 5s, background: true, pauseNode: {}}\n"
	_, err = scenarios.Parse("d.yaml", []byte(y), scenarios.Vars{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "teardown[0].disrupt.background: only a step under steps may run in the background")
}
