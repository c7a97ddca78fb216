package compare

import (
	"sort"

	"github.com/canarygate/canarygate/summary"
)

// Trend metrics, per step over runs.
const (
	TrendUnexpected = "unexpected"
	TrendP99        = "p99 (ms)"
	TrendDuration   = "duration (s)"
)

// TrendPoint is one run's value.
type TrendPoint struct {
	Run     int     `json:"run"`
	Value   float64 `json:"value"`
	Present bool    `json:"present"`
	// Crossed marks a value beyond the threshold relative to the first run.
	Crossed bool `json:"crossed"`
}

// TrendSeries is one metric of one step over the runs.
type TrendSeries struct {
	Step   string       `json:"step"`
	Metric string       `json:"metric"`
	Points []TrendPoint `json:"points"`
	// FirstCrossing is the index of the first run where the metric crossed its threshold, or -1.
	FirstCrossing int `json:"firstCrossing"`
}

// Trend is many runs of (usually) one scenario, ordered by start time.
type Trend struct {
	Runs       []*summary.Run     `json:"-"`
	Labels     []string           `json:"runs"`
	Thresholds summary.Thresholds `json:"thresholds"`
	Series     []TrendSeries      `json:"series"`
}

// BuildTrend orders runs by start time and follows every step's unexpected responses (all streams), worst
// p99 and duration. The first run is the baseline the thresholds are measured against.
func BuildTrend(runs []*summary.Run, labels []string, th summary.Thresholds) *Trend {
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return runs[idx[a]].Started.Before(runs[idx[b]].Started) })
	t := &Trend{Thresholds: th}
	for _, i := range idx {
		t.Runs = append(t.Runs, runs[i])
		t.Labels = append(t.Labels, labels[i])
	}
	var steps []string
	seen := map[string]bool{}
	for _, r := range t.Runs {
		for _, p := range r.Phases {
			if !seen[p.Name] {
				seen[p.Name] = true
				steps = append(steps, p.Name)
			}
		}
	}
	for _, step := range steps {
		for _, metric := range []string{TrendUnexpected, TrendP99, TrendDuration} {
			s := TrendSeries{Step: step, Metric: metric, FirstCrossing: -1}
			var base *float64
			for ri, r := range t.Runs {
				v, ok := stepValue(r, step, metric)
				pt := TrendPoint{Run: ri, Value: v, Present: ok}
				if ok && base == nil {
					b := v
					base = &b
				} else if ok {
					pt.Crossed = crossed(metric, *base, v, th)
					if pt.Crossed && s.FirstCrossing < 0 {
						s.FirstCrossing = ri
					}
				}
				s.Points = append(s.Points, pt)
			}
			t.Series = append(t.Series, s)
		}
	}
	return t
}

func stepValue(r *summary.Run, step, metric string) (float64, bool) {
	i := r.PhaseIndex(step)
	if i < 0 || !r.Phases[i].Ran() {
		return 0, false
	}
	switch metric {
	case TrendDuration:
		return r.Phases[i].DurationMs() / 1000, true
	case TrendUnexpected:
		var n int64
		for _, s := range r.Streams {
			n += phaseStats(s, i).Failures
		}
		return float64(n), true
	default:
		worst := 0.0
		for _, s := range r.Streams {
			worst = max(worst, phaseStats(s, i).Latency.P99)
		}
		return worst, true
	}
}

func crossed(metric string, base, v float64, th summary.Thresholds) bool {
	switch metric {
	case TrendUnexpected:
		return v > base
	case TrendP99:
		return beyond(base, v, th.P99Ratio, th.P99IncreaseMs)
	default:
		return beyond(base, v, th.DurationRatio, th.DurationIncreaseMs/1000)
	}
}
