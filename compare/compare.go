// Package compare judges whether a rehearsal got worse than a baseline: per step and stream it sets requests,
// unexpected responses, the longest error burst, p50/p99 latency and the step's duration side by side, and
// marks regressions by thresholds — any new unexpected response is one. Trend does the same over many runs.
package compare

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/canarygate/canarygate/summary"
)

// Metric names.
const (
	MetricRequests   = "requests"
	MetricUnexpected = "unexpected"
	MetricBurst      = "longest error burst (s)"
	MetricP50        = "p50 (ms)"
	MetricP99        = "p99 (ms)"
	MetricDuration   = "duration (s)"
)

// BurstTolerance is how much longer an error burst may last before it is a regression.
const BurstTolerance = 100 * time.Millisecond

// Metric is one number of one step (and stream), baseline → current.
type Metric struct {
	Step     string  `json:"step"`
	Stream   string  `json:"stream,omitempty"`
	Name     string  `json:"name"`
	Baseline float64 `json:"baseline"`
	Current  float64 `json:"current"`
	// Regression says the change is beyond the thresholds; Reason says why.
	Regression bool   `json:"regression"`
	Reason     string `json:"reason,omitempty"`
}

// Change is current minus baseline.
func (m Metric) Change() float64 { return m.Current - m.Baseline }

// Result is a comparison.
type Result struct {
	Baseline   *summary.Run       `json:"-"`
	Current    *summary.Run       `json:"-"`
	Thresholds summary.Thresholds `json:"thresholds"`
	Metrics    []Metric           `json:"metrics"`
	// Steps and streams present in only one run.
	AddedSteps     []string `json:"addedSteps,omitempty"`
	RemovedSteps   []string `json:"removedSteps,omitempty"`
	AddedStreams   []string `json:"addedStreams,omitempty"`
	RemovedStreams []string `json:"removedStreams,omitempty"`
}

// Regressions counts the metrics that regressed.
func (r *Result) Regressions() int {
	n := 0
	for _, m := range r.Metrics {
		if m.Regression {
			n++
		}
	}
	return n
}

// ErrNotComparable is returned for runs that share no step (or no stream).
var ErrNotComparable = errors.New("runs are not comparable")

// Thresholds picks the thresholds: explicit ones, else the current run's (from its scenario), else defaults;
// zero fields fall back field by field.
func Thresholds(explicit *summary.Thresholds, current *summary.Run) summary.Thresholds {
	t := summary.DefaultThresholds
	for _, src := range []*summary.Thresholds{current.Thresholds, explicit} {
		if src == nil {
			continue
		}
		if src.P99Ratio > 0 {
			t.P99Ratio = src.P99Ratio
		}
		if src.P99IncreaseMs > 0 {
			t.P99IncreaseMs = src.P99IncreaseMs
		}
		if src.DurationRatio > 0 {
			t.DurationRatio = src.DurationRatio
		}
		if src.DurationIncreaseMs > 0 {
			t.DurationIncreaseMs = src.DurationIncreaseMs
		}
	}
	return t
}

// Compare matches steps (every phase, warm-up and cool-down included) and streams by name.
func Compare(base, cur *summary.Run, th summary.Thresholds) (*Result, error) {
	if base.SchemaVersion != cur.SchemaVersion {
		return nil, fmt.Errorf("%w: schemaVersion %d and %d differ", ErrNotComparable, base.SchemaVersion, cur.SchemaVersion)
	}
	res := &Result{Baseline: base, Current: cur, Thresholds: th}
	common := 0
	for _, p := range cur.Phases {
		if base.PhaseIndex(p.Name) >= 0 {
			common++
		} else {
			res.AddedSteps = append(res.AddedSteps, p.Name)
		}
	}
	for _, p := range base.Phases {
		if cur.PhaseIndex(p.Name) < 0 {
			res.RemovedSteps = append(res.RemovedSteps, p.Name)
		}
	}
	streams := 0
	for _, s := range cur.Streams {
		if streamIndex(base, s.Name) >= 0 {
			streams++
		} else {
			res.AddedStreams = append(res.AddedStreams, s.Name)
		}
	}
	for _, s := range base.Streams {
		if streamIndex(cur, s.Name) < 0 {
			res.RemovedStreams = append(res.RemovedStreams, s.Name)
		}
	}
	if common == 0 {
		return nil, fmt.Errorf("%w: no step of %q (%s) appears in %q (%s)", ErrNotComparable, cur.Scenario, cur.Started.Format("2006-01-02 15:04"), base.Scenario, base.Started.Format("2006-01-02 15:04"))
	}
	if streams == 0 && len(cur.Streams)+len(base.Streams) > 0 {
		return nil, fmt.Errorf("%w: the runs share no traffic stream", ErrNotComparable)
	}

	for ci, cp := range cur.Phases {
		bi := base.PhaseIndex(cp.Name)
		if bi < 0 {
			continue
		}
		bp := base.Phases[bi]
		if bp.Ran() && cp.Ran() {
			res.Metrics = append(res.Metrics, judge(Metric{Step: cp.Name, Name: MetricDuration, Baseline: bp.DurationMs() / 1000, Current: cp.DurationMs() / 1000}, th))
		}
		for _, cs := range cur.Streams {
			si := streamIndex(base, cs.Name)
			if si < 0 {
				continue
			}
			bs := base.Streams[si]
			b, c := phaseStats(bs, bi), phaseStats(cs, ci)
			for _, m := range []Metric{
				{Name: MetricRequests, Baseline: float64(b.Requests), Current: float64(c.Requests)},
				{Name: MetricUnexpected, Baseline: float64(b.Failures), Current: float64(c.Failures)},
				{Name: MetricBurst, Baseline: b.LongestBurstMs / 1000, Current: c.LongestBurstMs / 1000},
				{Name: MetricP50, Baseline: b.Latency.P50, Current: c.Latency.P50},
				{Name: MetricP99, Baseline: b.Latency.P99, Current: c.Latency.P99},
			} {
				m.Step, m.Stream = cp.Name, cs.Name
				res.Metrics = append(res.Metrics, judge(m, th))
			}
		}
	}
	return res, nil
}

func judge(m Metric, th summary.Thresholds) Metric {
	switch m.Name {
	case MetricUnexpected:
		if m.Current > m.Baseline {
			m.Regression = true
			m.Reason = fmt.Sprintf("%g new unexpected response(s): any is a regression", m.Current-m.Baseline)
		}
	case MetricBurst:
		// Bursts are measured from send times, to the millisecond; a change within BurstTolerance is the
		// pacing of the requests, not a longer outage (a longer outage also shows as new unexpected responses).
		if math.Round((m.Current-m.Baseline)*1000) > float64(BurstTolerance.Milliseconds()) {
			m.Regression = true
			m.Reason = fmt.Sprintf("errors lasted %.3gs longer", m.Current-m.Baseline)
		}
	case MetricP99:
		if beyond(m.Baseline, m.Current, th.P99Ratio, th.P99IncreaseMs) {
			m.Regression = true
			m.Reason = fmt.Sprintf("p99 grew by more than ×%g and +%g ms", th.P99Ratio, th.P99IncreaseMs)
		}
	case MetricDuration:
		if beyond(m.Baseline, m.Current, th.DurationRatio, th.DurationIncreaseMs/1000) {
			m.Regression = true
			m.Reason = fmt.Sprintf("took more than ×%g and +%gs longer", th.DurationRatio, th.DurationIncreaseMs/1000)
		}
	}
	return m
}

// beyond: current exceeds baseline by more than the ratio AND by more than the absolute increase (so that
// noise on tiny numbers is not a regression, nor a small relative change on big ones).
func beyond(base, cur, ratio, abs float64) bool {
	if cur <= base {
		return false
	}
	relative := base == 0 || cur > base*ratio
	return relative && cur-base > abs
}

func streamIndex(r *summary.Run, name string) int {
	for i, s := range r.Streams {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func phaseStats(s summary.Stream, i int) summary.Stats {
	if i < 0 || i >= len(s.PerPhase) {
		return summary.Stats{}
	}
	return s.PerPhase[i]
}

// Sorted returns the metrics with regressions first, then in step order.
func (r *Result) Sorted() []Metric {
	out := append([]Metric(nil), r.Metrics...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Regression && !out[j].Regression })
	return out
}
