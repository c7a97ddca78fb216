package promgate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func gate(per string) *scenarios.Prometheus {
	g := &scenarios.Prometheus{URL: "http://127.0.0.1:9090", Query: `sum by (destination_workload) (rate(x[$window]))`, Threshold: "value < 0.01", Per: per}
	g.Default()
	return g
}

func record(t *testing.T, g *scenarios.Prometheus, results ...Result) *summary.Run {
	t.Helper()
	run := &summary.Run{Observations: map[string][]summary.Observation{}}
	for _, r := range results {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		run.Observations[Key(g)] = append(run.Observations[Key(g)], summary.Observation{AtMs: r.ToMs, Value: string(b)})
	}
	return run
}

// Each series is judged: the one over the threshold is named with its value, the window's step blamed.
func TestEvaluateNamesTheSeriesAndStepOverTheThreshold(t *testing.T) {
	g := gate(scenarios.PerStep)
	run := record(t, g,
		Result{Window: "move-demo-a", FromMs: 0, ToMs: 30000, ScrapeIntervalMs: 15000,
			Samples: []Sample{{Series: `{destination_workload="a"}`, Value: "0"}, {Series: `{destination_workload="b"}`, Value: "0.02"}}},
		Result{Window: "move-demo-b", FromMs: 30000, ToMs: 60000, ScrapeIntervalMs: 15000,
			Samples: []Sample{{Series: `{destination_workload="a"}`, Value: "0.001"}}})
	c := Evaluate(g, run)
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"move-demo-a"}, c.Steps)
	assert.Contains(t, c.Summary, `move-demo-a: {destination_workload="b"} = 0.02, not value < 0.01`)
	assert.NotContains(t, c.Summary, `{destination_workload="a"} = 0,`)
	assert.Len(t, c.Evidence, 2, "every window's query and values")
}

// A recorded result canarygate cannot read back is its own fault: the check says so as an error (the run's
// verdict is then "error"), never a failure of the target.
func TestEvaluateARecordedResultThatDoesNotDecodeIsTheHarnesssError(t *testing.T) {
	g := gate(scenarios.PerRun)
	run := &summary.Run{Observations: map[string][]summary.Observation{Key(g): {{AtMs: 60000, Value: `{"window": "run", "samples": [`}}}}
	c := Evaluate(g, run)
	assert.False(t, c.Passed)
	assert.Contains(t, c.Error, "a recorded result does not decode: unexpected end of JSON input")
	assert.Equal(t, "error", c.Mark())
	assert.Equal(t, "not judged: "+c.Error, c.Summary)
}

// NaN (0/0: no requests in the window) never holds a threshold; an empty answer is no data; a window shorter
// than two scrape intervals says so; nothing recorded is not a pass either.
func TestEvaluateNeverPassesWithoutData(t *testing.T) {
	g := gate(scenarios.PerRun)
	nan := Evaluate(g, record(t, g, Result{Window: "run", ToMs: 60000, ScrapeIntervalMs: 15000, Samples: []Sample{{Series: "{}", Value: "NaN"}}}))
	assert.False(t, nan.Passed)
	assert.Contains(t, nan.Summary, "run: {} = NaN, not value < 0.01")

	empty := Evaluate(g, record(t, g, Result{Window: "run", ToMs: 60000, ScrapeIntervalMs: 15000, At: time.Unix(0, 0)}))
	assert.False(t, empty.Passed)
	assert.Contains(t, empty.Summary, "run: no data")
	assert.NotContains(t, empty.Summary, "scrape intervals")

	short := Evaluate(g, record(t, g, Result{Window: "run", FromMs: 1000, ToMs: 21000, ScrapeIntervalMs: 15000, Unresolved: true}))
	assert.False(t, short.Passed)
	assert.Equal(t, "run: not judged: the window lasted 20s, shorter than two scrape intervals (2 × 15s) — Prometheus cannot tell its requests from its neighbours' — query: "+g.Query, short.Summary)
	assert.Equal(t, []string{"run (1.0s–21.0s): not asked: shorter than two scrape intervals"}, short.Evidence)

	none := Evaluate(g, &summary.Run{})
	assert.False(t, none.Passed)
	assert.Contains(t, none.Summary, "not judged")

	ok := Evaluate(g, record(t, g, Result{Window: "run", ToMs: 60000, ScrapeIntervalMs: 15000, Samples: []Sample{{Series: "{}", Value: "0.002"}}}))
	assert.True(t, ok.Passed, ok.Summary)
	assert.Equal(t, "value < 0.01 in the run (0.002) — query: "+g.Query, ok.Summary)
}

// Per step on a rollback branch that never ran (skipped by its condition): nothing to ask Prometheus about,
// not applicable — not the "not judged" failure of a run that ended before the step it names.
func TestEvaluatePerStepOfStepsAllSkippedIsNotApplicable(t *testing.T) {
	g := gate(scenarios.PerStep)
	g.Steps = []string{"rollback"}
	run := func(outcome string) *summary.Run {
		return &summary.Run{Phases: []summary.Phase{{Name: "upgrade", Kind: "step", Outcome: summary.OutcomePassed},
			{Name: "rollback", Kind: "step", Outcome: outcome}}}
	}
	skipped := run(summary.OutcomeSkipped)
	require.Empty(t, Windows(g, skipped), "nothing is asked")
	c := Evaluate(g, skipped)
	assert.True(t, c.NotApplicable, c.Summary)
	assert.True(t, c.Passed)
	assert.Contains(t, c.Summary, "not applicable: every step it judges (rollback) was skipped by its condition")

	c = Evaluate(g, run(summary.OutcomeNotRun))
	assert.False(t, c.Passed)
	assert.False(t, c.NotApplicable)
	assert.Contains(t, c.Summary, "not judged")
}

// The per-step windows are the steps that ran, as the run recorded them; per run, the traffic.
func TestWindowsFollowTheRunsPhases(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	run := &summary.Run{Started: start, Phases: []summary.Phase{
		{Name: "install", Kind: "setup", StartMs: 0, EndMs: 5000},
		{Name: "warm-up", Kind: "warmup", StartMs: 5000, EndMs: 6000},
		{Name: "a", Kind: "step", StartMs: 6000, EndMs: 9000, Outcome: summary.OutcomePassed},
		{Name: "b", Kind: "step", StartMs: 9000, EndMs: 9000, Outcome: summary.OutcomeNotRun},
		{Name: "cool-down", Kind: "cooldown", StartMs: 9000, EndMs: 11000},
		{Name: "cleanup", Kind: "teardown", StartMs: 11000, EndMs: 12000},
	}}
	assert.Equal(t, []Window{{Name: "a", From: start.Add(6 * time.Second), To: start.Add(9 * time.Second)}}, Windows(gate(scenarios.PerStep), run))
	assert.Equal(t, []Window{{Name: "run", From: start.Add(5 * time.Second), To: start.Add(11 * time.Second)}}, Windows(gate(scenarios.PerRun), run))
}
