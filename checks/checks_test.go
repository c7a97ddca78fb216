package checks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// run is a finished rehearsal: warm-up, prepare, upgrade, cool-down and a teardown step, one stream of 100
// requests per phase; change mutates it into the case under test.
func run(change func(r *summary.Run)) *summary.Run {
	r := &summary.Run{Phases: []summary.Phase{
		{Name: scenarios.PhaseWarmup, Kind: "warmup", StartMs: 0, EndMs: 1000},
		{Name: "prepare", Kind: "step", StartMs: 1000, EndMs: 2000, Outcome: summary.OutcomePassed},
		{Name: "upgrade", Kind: "step", StartMs: 2000, EndMs: 5000, Outcome: summary.OutcomePassed},
		{Name: scenarios.PhaseCooldown, Kind: "cooldown", StartMs: 5000, EndMs: 6000},
		{Name: "cleanup", Kind: "teardown", StartMs: 6000, EndMs: 6100, Outcome: summary.OutcomePassed},
	}}
	s := summary.Stream{Name: "ingress", Expect: []int{200}}
	for range r.Phases {
		ps := summary.Stats{Requests: 100, Successes: 100, Codes: map[string]int64{"200": 100}, Latency: summary.Latency{P99: 20}}
		s.PerPhase = append(s.PerPhase, ps)
		s.Totals.Requests += 100
		s.Totals.Successes += 100
	}
	r.Streams = []summary.Stream{s}
	if change != nil {
		change(r)
	}
	return r
}

// fail puts n failures (HTTP 503, all in a row) into phase i of the first stream.
func fail(r *summary.Run, i int, n int64) {
	s := &r.Streams[0]
	ps := &s.PerPhase[i]
	ps.Successes -= n
	ps.Failures += n
	ps.Codes["200"] -= n
	ps.Codes["503"] += n
	ps.MaxConsecutiveFailures = max(ps.MaxConsecutiveFailures, n)
	s.Totals.Successes -= n
	s.Totals.Failures += n
	s.MaxConsecutiveFailures = max(s.MaxConsecutiveFailures, n)
	s.FirstFailures = append(s.FirstFailures, summary.Failure{Stream: s.Name, Phase: r.Phases[i].Name, Code: 503})
}

func gate(kind string, spec scenarios.GateSpec) scenarios.Gate {
	return scenarios.Gate{Name: kind, Kind: kind, Spec: spec}
}

func TestNoUnexpectedStatus(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateNoUnexpectedStatus, &scenarios.NoUnexpectedStatus{})
	c := Evaluate(g, run(nil))
	assert.True(t, c.Passed, c.Summary)
	assert.Equal(t, "0 responses unexpected out of 500 requests", c.Summary)

	c = Evaluate(g, run(func(r *summary.Run) { fail(r, 2, 1) }))
	assert.False(t, c.Passed, "one 503 is one too many")
	assert.Equal(t, []string{"upgrade"}, c.Steps)
	assert.Contains(t, c.Evidence, `ingress: 1 failure during "upgrade" (HTTP 503 ×1)`)

	c = Evaluate(g, run(func(r *summary.Run) { r.Streams[0] = summary.Stream{Name: "ingress"} }))
	assert.False(t, c.Passed, "no requests measured proves nothing")
	assert.Contains(t, c.Summary, "no requests were measured")
}

func TestMaxErrorRatio(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateMaxErrorRatio, &scenarios.MaxErrorRatio{Max: 0.01})
	c := Evaluate(g, run(func(r *summary.Run) { fail(r, 2, 5) })) // 5/500 = 1 %
	assert.True(t, c.Passed, c.Summary)

	c = Evaluate(g, run(func(r *summary.Run) { fail(r, 2, 6) })) // 1.2 %
	assert.False(t, c.Passed, c.Summary)
	assert.Equal(t, "worst error ratio 1.2000% (limit 1.0000%)", c.Summary)
	assert.Equal(t, []string{"upgrade"}, c.Steps)
}

func TestMaxConsecutiveFailures(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateMaxConsecutiveFailures, &scenarios.MaxConsecutiveFailures{Max: 3})
	c := Evaluate(g, run(func(r *summary.Run) { fail(r, 2, 3) }))
	assert.True(t, c.Passed, c.Summary)

	c = Evaluate(g, run(func(r *summary.Run) { fail(r, 1, 2); fail(r, 2, 4) }))
	assert.False(t, c.Passed, c.Summary)
	assert.Equal(t, "longest run of consecutive failures 4 (limit 3)", c.Summary)
	assert.Equal(t, []string{"upgrade"}, c.Steps, "only the step whose run is too long")

	// A run of 2 + 2 across the boundary of prepare and upgrade: over the limit only as a whole.
	c = Evaluate(g, run(func(r *summary.Run) {
		fail(r, 1, 2)
		fail(r, 2, 2)
		r.Streams[0].MaxConsecutiveFailures = 4
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"prepare", "upgrade"}, c.Steps)
}

func TestLatencyP99(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateLatencyP99, &scenarios.LatencyP99{Max: scenarios.Duration(50 * time.Millisecond), Steps: []string{"upgrade"}})
	c := Evaluate(g, run(func(r *summary.Run) { r.Streams[0].PerPhase[0].Latency.P99 = 900 })) // warm-up is not selected
	assert.True(t, c.Passed, c.Summary)

	c = Evaluate(g, run(func(r *summary.Run) { r.Streams[0].PerPhase[2].Latency.P99 = 51 }))
	assert.False(t, c.Passed)
	assert.Equal(t, `worst p99 51.0 ms (ingress during "upgrade"), limit 50.0 ms`, c.Summary)
	assert.Equal(t, []string{"upgrade"}, c.Steps)

	c = Evaluate(g, run(func(r *summary.Run) { r.Streams[0].PerPhase[2] = summary.Stats{} }))
	assert.False(t, c.Passed, "no request in the selected step: nothing was measured")
	assert.False(t, c.NotApplicable)
}

// A gate on a rollback branch the upgrade never needed has nothing to judge: not applicable — it does not fail
// the run, and no report shows it as a pass. A step that did not run because the run was interrupted or an
// earlier step failed is no such thing: nothing was measured where the gate asked, a failure.
func TestLatencyP99OfStepsAllSkippedIsNotApplicable(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateLatencyP99, &scenarios.LatencyP99{Max: scenarios.Duration(50 * time.Millisecond), Steps: []string{"rollback"}})
	rollback := func(outcome string) *summary.Run {
		return run(func(r *summary.Run) {
			r.Phases = append(r.Phases, summary.Phase{Name: "rollback", Kind: "step", StartMs: 6100, EndMs: 6100, Outcome: outcome})
			r.Streams[0].PerPhase = append(r.Streams[0].PerPhase, summary.Stats{})
		})
	}
	c := Evaluate(g, rollback(summary.OutcomeSkipped))
	assert.True(t, c.NotApplicable, c.Summary)
	assert.True(t, c.Passed, "it does not fail the run")
	assert.Equal(t, "n/a", c.Mark())
	assert.Equal(t, "not applicable: every step it judges (rollback) was skipped by its condition — nothing of it ran to judge", c.Summary)

	for _, outcome := range []string{summary.OutcomeNotRun, summary.OutcomePassed} {
		c = Evaluate(g, rollback(outcome))
		assert.False(t, c.Passed, outcome)
		assert.False(t, c.NotApplicable, outcome)
		assert.Equal(t, "fail", c.Mark())
		assert.Equal(t, "no requests in the selected steps", c.Summary, outcome)
	}
	// A skipped step among others that ran is judged on those.
	g.Spec.(*scenarios.LatencyP99).Steps = []string{"rollback", "upgrade"}
	c = Evaluate(g, rollback(summary.OutcomeSkipped))
	assert.True(t, c.Passed, c.Summary)
	assert.False(t, c.NotApplicable)
	assert.Equal(t, "pass", c.Mark())
}

func TestStepsSucceeded(t *testing.T) {
	t.Parallel()
	g := gate(scenarios.GateStepsSucceeded, &scenarios.StepsSucceeded{})
	c := Evaluate(g, run(nil))
	assert.True(t, c.Passed)
	assert.Equal(t, "2 of 2 steps succeeded", c.Summary, "teardown is not an upgrade step")

	for _, outcome := range []string{summary.OutcomeFailed, summary.OutcomeTimedOut, summary.OutcomeInterrupted} {
		c = Evaluate(g, run(func(r *summary.Run) { r.Phases[2].Outcome = outcome; r.Phases[2].Error = "boom" }))
		assert.False(t, c.Passed, outcome)
		assert.Equal(t, "1 of 2 steps succeeded", c.Summary, outcome)
		assert.Equal(t, []string{"upgrade"}, c.Steps)
		assert.Contains(t, c.Evidence, `step "upgrade" `+outcome+": boom")
	}

	// "prepare" failed, so "upgrade" never started: the gate fails (the upgrade did not complete) and is
	// attributed to prepare alone; upgrade is listed as not run, not as a second failure.
	c = Evaluate(g, run(func(r *summary.Run) {
		r.Phases[1].Outcome, r.Phases[1].Error = summary.OutcomeFailed, "boom"
		r.Phases[2].Outcome, r.Phases[2].Error = summary.OutcomeNotRun, "step prepare failed"
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, "0 of 2 steps succeeded; 1 not run (upgrade)", c.Summary)
	assert.Equal(t, []string{"prepare"}, c.Steps, "a step not run is not where it failed")
	assert.Contains(t, c.Evidence, `step "upgrade" not run: step prepare failed`)

	// A failed teardown is reported but judged only when asked.
	broken := run(func(r *summary.Run) { r.Phases[4].Outcome = summary.OutcomeFailed })
	c = Evaluate(g, broken)
	assert.True(t, c.Passed)
	assert.Contains(t, c.Evidence, `teardown step "cleanup" failed (not judged: includeSetupAndTeardown is off)`)
	c = Evaluate(gate(scenarios.GateStepsSucceeded, &scenarios.StepsSucceeded{IncludeSetupAndTeardown: true}), broken)
	assert.False(t, c.Passed)
	assert.Equal(t, "2 of 3 steps succeeded", c.Summary)

	// Mid-run: the running check step is not judged; with no finished step there is nothing to judge.
	c = Evaluate(g, run(func(r *summary.Run) { r.Phases = r.Phases[:2]; r.Phases[1].Outcome = summary.OutcomeRunning }))
	assert.False(t, c.Passed)
	assert.Contains(t, c.Summary, "no step has finished")

	c = Evaluate(g, run(func(r *summary.Run) { r.Interrupted = true }))
	assert.False(t, c.Passed, "an interrupted run did not show every step succeeded")
}

func TestGatewayAddressStable(t *testing.T) {
	t.Parallel()
	spec := &scenarios.GatewayAddressStable{Namespace: "istio-ingress", Service: "istio-ingressgateway"}
	key := ObservationKey(spec)
	const addr = "NodePort 10.96.0.10 ports http2:80/TCP→node:30080"
	with := func(obs ...summary.Observation) *summary.Run {
		return run(func(r *summary.Run) { r.Observations = map[string][]summary.Observation{key: obs} })
	}
	c := AddressStable(spec, with(summary.Observation{AtMs: 10, Value: addr}))
	assert.True(t, c.Passed, c.Summary)
	assert.Empty(t, c.Steps)

	c = AddressStable(spec, with(summary.Observation{AtMs: 10, Value: addr}, summary.Observation{AtMs: 2500, Value: "NodePort 10.96.0.11 ports http2:80/TCP→node:30080"}))
	assert.False(t, c.Passed)
	assert.Equal(t, "the address of Service istio-ingress/istio-ingressgateway changed 1 time(s)", c.Summary)
	assert.Equal(t, []string{"upgrade"}, c.Steps)

	c = AddressStable(spec, with(summary.Observation{AtMs: 10, Value: Absent}))
	assert.False(t, c.Passed, "a Service absent for the whole run is no stable address")
	assert.Contains(t, c.Summary, "absent")

	c = AddressStable(spec, with(summary.Observation{AtMs: 10, Value: addr}, summary.Observation{AtMs: 1500, Value: Absent}, summary.Observation{AtMs: 1600, Value: addr}))
	assert.False(t, c.Passed, "deleted and recreated with the same address: absent for a moment")
	assert.Equal(t, []string{"prepare"}, c.Steps)

	c = AddressStable(spec, run(nil))
	assert.False(t, c.Passed)
	assert.Contains(t, c.Summary, "never observed")
}

func TestAGateKindWithoutEvaluatorFails(t *testing.T) {
	t.Parallel()
	c := Evaluate(scenarios.Gate{Name: "x", Kind: "noSuchGate"}, run(nil))
	assert.False(t, c.Passed)
	assert.Contains(t, c.Summary, `no evaluator for check kind "noSuchGate"`)
	require.False(t, AllPassed([]summary.Check{{Passed: true}, c}))
	assert.True(t, AllPassed([]summary.Check{{Passed: true}}))
}

// The Service kept its address, but for a moment no ready endpoint stood behind it (the old gateway went
// before the new one was ready): that is an outage, blamed on the step it happened in.
func TestGatewayAddressStableFailsWhenReadyEndpointsDropToZero(t *testing.T) {
	t.Parallel()
	spec := &scenarios.GatewayAddressStable{Namespace: "istio-ingress", Service: "istio-ingressgateway"}
	const addr = "ClusterIP 10.96.0.10 ports http2:80/TCP"
	with := func(eps ...summary.Observation) *summary.Run {
		return run(func(r *summary.Run) {
			r.Observations = map[string][]summary.Observation{
				ObservationKey(spec):          {{AtMs: 10, Value: addr}},
				EndpointsObservationKey(spec): eps,
			}
		})
	}
	c := AddressStable(spec, with(summary.Observation{AtMs: 10, Value: "1"}, summary.Observation{AtMs: 2500, Value: "2"}, summary.Observation{AtMs: 3000, Value: "1"}))
	assert.True(t, c.Passed, c.Summary)
	assert.Contains(t, c.Summary, "with ready endpoints throughout (1 → 2 → 1)")

	c = AddressStable(spec, with(summary.Observation{AtMs: 10, Value: "1"}, summary.Observation{AtMs: 2500, Value: "0"}, summary.Observation{AtMs: 2600, Value: "1"}))
	assert.False(t, c.Passed)
	assert.Equal(t, `Service istio-ingress/istio-ingressgateway kept its address but had no ready endpoint at 2.5s during "upgrade"`, c.Summary)
	assert.Equal(t, []string{"upgrade"}, c.Steps)

	c = AddressStable(spec, with(summary.Observation{AtMs: 10, Value: "0"}))
	assert.False(t, c.Passed, "no endpoint from the start")
}
