package checks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

const (
	injectorNew = "MutatingWebhookConfiguration/istio-sidecar-injector-new/rev.namespace.sidecar-injector.istio.io"
	validator   = "ValidatingWebhookConfiguration/istiod-default-validator/validation.istio.io"
)

func webhooksGate() *scenarios.WebhooksServe {
	g := &scenarios.WebhooksServe{}
	g.Default()
	return g
}

// webhookRun is run()'s phases (warm-up 0–1 s, prepare 1–2 s, upgrade 2–5 s, cool-down 5–6 s) with the
// webhooks' observations.
func webhookRun(obs map[string][]summary.Observation) *summary.Run {
	return run(func(r *summary.Run) {
		r.Observations = map[string][]summary.Observation{}
		for k, v := range obs {
			r.Observations[WebhookObservationPrefix(webhooksGate())+k] = v
		}
	})
}

func TestWebhookStateRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []WebhookState{
		{Gone: true}, {URL: "https://127.0.0.1:1/x"},
		{Policy: "Fail", Service: "istio-system/istiod-new", Watched: true, Ready: 2},
		{Policy: "Ignore", Service: "istio-system/istiod-old", Watched: true, Absent: true},
		{Policy: "Fail", Service: "elsewhere/istiod"},
	} {
		got, err := ParseWebhookState(s.String())
		require.NoError(t, err, s.String())
		assert.Equal(t, s, got)
	}
	_, err := ParseWebhookState("Fail istio-system/istiod ready many")
	assert.ErrorContains(t, err, "expected gone, url URL, or POLICY NAMESPACE/NAME")
}

// Served throughout — including a Fail webhook unserved while the step that created it ran (its istiod
// starting) and a moment shorter than the grace period — passes; Ignore with no endpoint is noted.
func TestWebhooksServePassesWhenEveryWebhookIsServed(t *testing.T) {
	t.Parallel()
	g := webhooksGate()
	g.Grace = scenarios.Duration(500 * time.Millisecond)
	c := WebhooksServe(g, webhookRun(map[string][]summary.Observation{
		validator: {{AtMs: 100, Value: "Ignore istio-system/istiod-old ready 0"}, {AtMs: 300, Value: "Fail istio-system/istiod-old ready 1"},
			{AtMs: 2500, Value: "Fail istio-system/istiod-old ready 0"}, {AtMs: 2900, Value: "Fail istio-system/istiod-old ready 1"}},
		// Created during "prepare", its istiod ready 0.8 s later, before the step ended.
		injectorNew: {{AtMs: 1100, Value: "Fail istio-system/istiod-new ready 0"}, {AtMs: 1900, Value: "Fail istio-system/istiod-new ready 1"}},
	}))
	assert.True(t, c.Passed, "%s %v", c.Summary, c.Evidence)
	assert.Equal(t, "2 Istio webhook(s) served throughout (never unserved longer than 500ms)", c.Summary)
	assert.Contains(t, c.Evidence, injectorNew+`: Service istio-system/istiod-new has no ready endpoint (failurePolicy Fail: requests refused) from 1.1s to 1.9s, while the step that created it ran ("prepare"): allowed`)
	assert.Contains(t, c.Evidence, "with failurePolicy Ignore and no ready endpoint at some time (requests passed unvalidated, not failed): "+validator)
}

// The default validator still names a revision after it was removed (istio/istio#60596): its Service is
// gone — whatever the failure policy — for longer than the grace period: failed, naming the webhook, the
// window and the step it began in.
func TestWebhooksServeFailsOnAWebhookNamingARemovedRevision(t *testing.T) {
	t.Parallel()
	g := webhooksGate()
	g.Grace = scenarios.Duration(time.Second)
	c := WebhooksServe(g, webhookRun(map[string][]summary.Observation{
		validator: {{AtMs: 100, Value: "Ignore istio-system/istiod-old ready 1"}, {AtMs: 2200, Value: "Ignore istio-system/istiod-old absent"}},
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"upgrade"}, c.Steps)
	assert.Equal(t, `webhook not served: `+validator+` (3.8s, from "upgrade")`, c.Summary)
	assert.Contains(t, c.Evidence, validator+`: Service istio-system/istiod-old is gone (failurePolicy Ignore) from 2.2s to 6.0s (3.8s, longer than 1s, from "upgrade")`)
}

// A revision's istiod scaled to 0 mid-run: its Fail injector has no ready endpoint for longer than the grace
// period, in a step that did not create it: failed, naming the webhook, the window and the step. The same
// window shorter than the grace period passes.
func TestWebhooksServeFailsOnAFailWebhookWithNoEndpoint(t *testing.T) {
	t.Parallel()
	obs := func(downMs float64) map[string][]summary.Observation {
		return map[string][]summary.Observation{injectorNew: {
			{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"},
			{AtMs: 2100, Value: "Fail istio-system/istiod-new ready 0"},
			{AtMs: 2100 + downMs, Value: "Fail istio-system/istiod-new ready 1"},
		}}
	}
	g := webhooksGate()
	g.Grace = scenarios.Duration(time.Second)
	c := WebhooksServe(g, webhookRun(obs(2500)))
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"upgrade"}, c.Steps)
	assert.Contains(t, c.Evidence, injectorNew+`: Service istio-system/istiod-new has no ready endpoint (failurePolicy Fail: requests refused) from 2.1s to 4.6s (2.5s, longer than 1s, from "upgrade")`)

	c = WebhooksServe(g, webhookRun(obs(900)))
	assert.True(t, c.Passed, "%s %v", c.Summary, c.Evidence)
}

// Nothing judged is no proof: no webhook observed, or only ones naming a Service the gate does not watch (or a
// URL) — failed, saying so.
func TestWebhooksServeFailsWithNothingJudged(t *testing.T) {
	t.Parallel()
	for _, obs := range []map[string][]summary.Observation{
		nil,
		{validator: {{AtMs: 100, Value: "Fail elsewhere/istiod not watched"}}, injectorNew: {{AtMs: 100, Value: "url https://127.0.0.1:1/inject"}}},
	} {
		c := WebhooksServe(webhooksGate(), webhookRun(obs))
		assert.False(t, c.Passed)
		assert.Equal(t, "no Istio webhook (istio.io/rev) naming a Service in istio-system was observed: nothing shows one served", c.Summary)
	}
}

// One outage, whatever changed during it: its endpoints gone, then its Service — three short states, one
// stretch longer than the grace period, judged as one and named by its latest reason.
func TestWebhooksServeJudgesAnOutageAsOneStretch(t *testing.T) {
	t.Parallel()
	g := webhooksGate()
	g.Grace = scenarios.Duration(time.Second)
	c := WebhooksServe(g, webhookRun(map[string][]summary.Observation{injectorNew: {
		{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"},
		{AtMs: 2100, Value: "Fail istio-system/istiod-new ready 0"},
		{AtMs: 3000, Value: "Fail istio-system/istiod-new absent"},
		{AtMs: 3900, Value: "Fail istio-system/istiod-other ready 0"},
		{AtMs: 4800, Value: "Fail istio-system/istiod-other ready 1"},
	}}))
	assert.False(t, c.Passed, "2.7 s unserved across three states of 0.9 s")
	assert.Contains(t, c.Evidence, injectorNew+`: Service istio-system/istiod-other has no ready endpoint (failurePolicy Fail: requests refused) from 2.1s to 4.8s (2.7s, longer than 1s, from "upgrade")`)
}

// A webhook created in a step may be unserved while that step runs — not past its end and the grace period;
// re-created later, it gets the same allowance in the step that re-created it.
func TestWebhooksServeAllowsItsOwnInstallStepOnly(t *testing.T) {
	t.Parallel()
	g := webhooksGate()
	g.Grace = scenarios.Duration(500 * time.Millisecond)
	// Created in "prepare" (1–2 s), served only at 2.8 s: past the step's end and the grace period.
	c := WebhooksServe(g, webhookRun(map[string][]summary.Observation{injectorNew: {
		{AtMs: 1100, Value: "Fail istio-system/istiod-new ready 0"}, {AtMs: 2800, Value: "Fail istio-system/istiod-new ready 1"},
	}}))
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"prepare"}, c.Steps)
	// Gone in "prepare", created again in "upgrade" (2–5 s) and served within it: allowed.
	c = WebhooksServe(g, webhookRun(map[string][]summary.Observation{injectorNew: {
		{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"}, {AtMs: 1500, Value: "gone"},
		{AtMs: 2500, Value: "Fail istio-system/istiod-new ready 0"}, {AtMs: 4000, Value: "Fail istio-system/istiod-new ready 1"},
	}}))
	assert.True(t, c.Passed, "%s %v", c.Summary, c.Evidence)
}

// Traffic stopped when the last phase that ran (not teardown) ended: a step not run, placed at the run's end,
// does not stretch the last window.
func TestWebhooksServeEndsWhereTrafficEnded(t *testing.T) {
	t.Parallel()
	g := webhooksGate()
	g.Grace = scenarios.Duration(time.Second)
	r := webhookRun(map[string][]summary.Observation{injectorNew: {
		{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"}, {AtMs: 5500, Value: "Fail istio-system/istiod-new ready 0"},
	}})
	r.Phases = append(r.Phases, summary.Phase{Name: "never", Kind: "step", StartMs: 60_000, EndMs: 60_000, Outcome: summary.OutcomeNotRun})
	c := WebhooksServe(g, r)
	assert.True(t, c.Passed, "0.5 s unserved at the end of cool-down: %s %v", c.Summary, c.Evidence)
}

// A live webhook's failurePolicy going back from Fail to Ignore (istio/istio#59760, #61614: controllers
// fighting over it) fails, naming the webhook, when and the step; Ignore → Fail (istiod patching what the
// chart created) and a webhook re-created with its chart's Ignore pass.
func TestWebhooksServeFailsWhenAFailurePolicyFlipsBackToIgnore(t *testing.T) {
	t.Parallel()
	c := WebhooksServe(webhooksGate(), webhookRun(map[string][]summary.Observation{
		validator: {{AtMs: 100, Value: "Ignore istio-system/istiod-old ready 1"}, {AtMs: 300, Value: "Fail istio-system/istiod-old ready 1"},
			{AtMs: 2600, Value: "Ignore istio-system/istiod-old ready 1"}},
		injectorNew: {{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"}},
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, `failurePolicy flipped Fail → Ignore: `+validator+` (at 2.6s, in "upgrade")`, c.Summary)
	assert.Contains(t, c.Evidence, validator+`: failurePolicy flipped Fail → Ignore at 2.6s, in "upgrade": admissions it should judge pass unjudged whenever it cannot answer (Istio sets Fail once the webhook serves)`)
	assert.Equal(t, []string{"upgrade"}, c.Steps)

	c = WebhooksServe(webhooksGate(), webhookRun(map[string][]summary.Observation{
		validator: {{AtMs: 100, Value: "Ignore istio-system/istiod-old ready 1"}, {AtMs: 300, Value: "Fail istio-system/istiod-old ready 1"},
			{AtMs: 2600, Value: "gone"}, {AtMs: 2700, Value: "Ignore istio-system/istiod-old ready 1"}, {AtMs: 2900, Value: "Fail istio-system/istiod-old ready 1"}},
	}))
	assert.True(t, c.Passed, "%s %v", c.Summary, c.Evidence)
}

// A rollout that timed out while its injector's istiod was down is explained from the same observations
// webhooksServe judges — "rollout stalled: webhook … has no ready endpoint", with the disruption window —
// and a step that failed while every webhook was served gets no such explanation.
func TestStepsSucceededNamesTheWebhookThatStalledARollout(t *testing.T) {
	t.Parallel()
	obs := map[string][]summary.Observation{injectorNew: {
		{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"},
		{AtMs: 2500, Value: "Fail istio-system/istiod-new ready 0"},
		{AtMs: 4500, Value: "Fail istio-system/istiod-new ready 1"},
	}, validator: {
		// The default validator, unserved at the same time: it judges Istio's resources, not pods.
		{AtMs: 100, Value: "Fail istio-system/istiod ready 1"},
		{AtMs: 2500, Value: "Fail istio-system/istiod ready 0"},
		{AtMs: 4500, Value: "Fail istio-system/istiod ready 1"},
	}}
	r := webhookRun(obs)
	r.Phases[2].Outcome, r.Phases[2].Action, r.Phases[2].Error = summary.OutcomeTimedOut, scenarios.ActionRestart, "deployment demo-a/app-a did not roll out"
	r.Windows = []summary.Window{{Name: "istiod-new-down", StartMs: 2400, EndMs: 4400}}
	c := stepsSucceeded(&scenarios.StepsSucceeded{}, r)
	require.False(t, c.Passed)
	want := "upgrade: rollout stalled: webhook istio-sidecar-injector-new has no ready endpoint (Service istio-system/istiod-new, failurePolicy Fail) from 2.5s to 4.5s, during disruption istiod-new-down"
	assert.Contains(t, c.Summary, want)
	assert.Contains(t, c.Evidence[0], "did not roll out; rollout stalled: webhook istio-sidecar-injector-new")
	assert.NotContains(t, c.Summary, "istiod-default-validator", "a validator does not stall a rollout")
	r.Phases[2].Action = scenarios.ActionHelmUpgrade
	assert.Len(t, StalledBy(r, 2), 2, "any other step: every Fail webhook unserved while it ran")

	served := webhookRun(map[string][]summary.Observation{injectorNew: {{AtMs: 100, Value: "Fail istio-system/istiod-new ready 1"}}})
	served.Phases[2].Outcome, served.Phases[2].Action = summary.OutcomeTimedOut, scenarios.ActionRestart
	c = stepsSucceeded(&scenarios.StepsSucceeded{}, served)
	require.False(t, c.Passed)
	assert.NotContains(t, c.Summary, "stalled", "its webhooks were served: the timeout is the rollout's own")
	assert.Empty(t, StalledBy(served, 2))

	ignore := webhookRun(map[string][]summary.Observation{injectorNew: {{AtMs: 100, Value: "Ignore istio-system/istiod-new ready 0"}}})
	assert.Empty(t, StalledBy(ignore, 2), "failurePolicy Ignore lets admissions through: nothing stalls on it")
	before := webhookRun(map[string][]summary.Observation{injectorNew: {{AtMs: 100, Value: "Fail istio-system/istiod-new ready 0"}, {AtMs: 1500, Value: "Fail istio-system/istiod-new ready 1"}}})
	assert.Empty(t, StalledBy(before, 2), "unserved only before the step")
}
