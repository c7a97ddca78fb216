package compare

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/summary"
)

// run is prepare (1 s) then upgrade (durS), one stream; change adjusts it.
func run(durS float64, change func(*summary.Run)) *summary.Run {
	r := &summary.Run{SchemaVersion: summary.SchemaVersion, Scenario: "s", Started: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Phases: []summary.Phase{
			{Name: "prepare", Kind: "step", StartMs: 0, EndMs: 1000, Outcome: summary.OutcomePassed},
			{Name: "upgrade", Kind: "step", StartMs: 1000, EndMs: 1000 + durS*1000, Outcome: summary.OutcomePassed},
		},
		Streams: []summary.Stream{{Name: "ingress", PerPhase: []summary.Stats{
			{Requests: 100, Successes: 100, Latency: summary.Latency{P50: 5, P99: 20}},
			{Requests: 1000, Successes: 1000, Latency: summary.Latency{P50: 5, P99: 20}},
		}}},
	}
	if change != nil {
		change(r)
	}
	return r
}

func metric(t *testing.T, res *Result, step, name string) Metric {
	t.Helper()
	for _, m := range res.Metrics {
		if m.Step == step && m.Name == name {
			return m
		}
	}
	t.Fatalf("no metric %s of %s", name, step)
	return Metric{}
}

func TestARunComparedWithItselfHasNoRegression(t *testing.T) {
	t.Parallel()
	res, err := Compare(run(10, nil), run(10, nil), summary.DefaultThresholds)
	require.NoError(t, err)
	assert.Zero(t, res.Regressions())
	assert.Len(t, res.Metrics, 2*(1+5), "per step: duration, and five metrics per stream")
}

func TestAnyNewUnexpectedResponseIsARegression(t *testing.T) {
	t.Parallel()
	res, err := Compare(run(10, nil), run(10, func(r *summary.Run) { r.Streams[0].PerPhase[1].Failures = 1 }), summary.DefaultThresholds)
	require.NoError(t, err)
	m := metric(t, res, "upgrade", MetricUnexpected)
	assert.True(t, m.Regression)
	assert.Equal(t, "1 new unexpected response(s): any is a regression", m.Reason)
	assert.False(t, metric(t, res, "prepare", MetricUnexpected).Regression)
}

// A 3 s outage in upgrade reads 3 s, charged to upgrade only (the burst is measured by send time per step).
func TestALongerErrorBurstRegressesOnlyTheStepItHappenedIn(t *testing.T) {
	t.Parallel()
	base := run(10, func(r *summary.Run) { r.Streams[0].PerPhase[1].LongestBurstMs = 1000 })
	cur := run(10, func(r *summary.Run) { r.Streams[0].PerPhase[1].LongestBurstMs = 3000 })
	res, err := Compare(base, cur, summary.DefaultThresholds)
	require.NoError(t, err)
	m := metric(t, res, "upgrade", MetricBurst)
	assert.Equal(t, 3.0, m.Current)
	assert.True(t, m.Regression)
	assert.Equal(t, "errors lasted 2s longer", m.Reason)
	assert.False(t, metric(t, res, "prepare", MetricBurst).Regression)
	assert.Zero(t, metric(t, res, "prepare", MetricBurst).Current)

	cur = run(10, func(r *summary.Run) {
		r.Streams[0].PerPhase[1].LongestBurstMs = 1000 + float64(BurstTolerance.Milliseconds())
	})
	res, err = Compare(base, cur, summary.DefaultThresholds)
	require.NoError(t, err)
	assert.False(t, metric(t, res, "upgrade", MetricBurst).Regression, "within the tolerance: pacing, not a longer outage")
}

func TestP99AndDurationRegressOnlyBeyondBothRatioAndIncrease(t *testing.T) {
	t.Parallel()
	th := summary.Thresholds{P99Ratio: 1.5, P99IncreaseMs: 50, DurationRatio: 2, DurationIncreaseMs: 30_000}
	p99 := func(ms float64) *summary.Run {
		return run(10, func(r *summary.Run) { r.Streams[0].PerPhase[1].Latency.P99 = ms })
	}
	for cur, want := range map[float64]bool{
		60:  false, // ×3 but only +40 ms
		71:  true,  // ×3.55 and +51 ms
		500: true,
	} {
		res, err := Compare(p99(20), p99(cur), th)
		require.NoError(t, err)
		assert.Equal(t, want, metric(t, res, "upgrade", MetricP99).Regression, "p99 20 → %g", cur)
	}
	res, err := Compare(p99(200), p99(290), th) // +90 ms but ×1.45
	require.NoError(t, err)
	assert.False(t, metric(t, res, "upgrade", MetricP99).Regression)

	res, err = Compare(run(10, nil), run(41, nil), th) // ×4.1 and +31 s
	require.NoError(t, err)
	assert.True(t, metric(t, res, "upgrade", MetricDuration).Regression)
	res, err = Compare(run(10, nil), run(39, nil), th) // +29 s
	require.NoError(t, err)
	assert.False(t, metric(t, res, "upgrade", MetricDuration).Regression)
}

// The thresholds: flags first, then the current run's scenario (its compare: section), then the defaults,
// field by field.
func TestThresholdsPrecedence(t *testing.T) {
	t.Parallel()
	cur := run(10, func(r *summary.Run) { r.Thresholds = &summary.Thresholds{P99Ratio: 3, DurationIncreaseMs: 1000} })
	got := Thresholds(&summary.Thresholds{P99Ratio: 4}, cur)
	assert.Equal(t, summary.Thresholds{P99Ratio: 4, P99IncreaseMs: 50, DurationRatio: 2, DurationIncreaseMs: 1000}, got)
	assert.Equal(t, summary.DefaultThresholds, Thresholds(nil, run(10, nil)))
}

func TestRunsWithoutACommonStepAreNotComparable(t *testing.T) {
	t.Parallel()
	other := run(10, func(r *summary.Run) { r.Phases[0].Name, r.Phases[1].Name = "a", "b" })
	_, err := Compare(run(10, nil), other, summary.DefaultThresholds)
	assert.ErrorIs(t, err, ErrNotComparable)

	added := run(10, func(r *summary.Run) {
		r.Phases = append(r.Phases, summary.Phase{Name: "verify", Kind: "step", StartMs: 11000, EndMs: 12000, Outcome: summary.OutcomePassed})
		r.Streams[0].PerPhase = append(r.Streams[0].PerPhase, summary.Stats{})
	})
	res, err := Compare(run(10, nil), added, summary.DefaultThresholds)
	require.NoError(t, err)
	assert.Equal(t, []string{"verify"}, res.AddedSteps)
}
