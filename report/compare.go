package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/canarygate/canarygate/compare"
	"github.com/canarygate/canarygate/summary"
)

func changeText(m compare.Metric) string {
	d := m.Change()
	switch {
	case d == 0:
		return "no change"
	case m.Baseline != 0:
		return fmt.Sprintf("%+.4g (%+.0f%%)", d, d/m.Baseline*100)
	default:
		return fmt.Sprintf("%+.4g", d)
	}
}

func metricLabel(m compare.Metric) string {
	if m.Stream == "" {
		return fmt.Sprintf("%s · %s", m.Step, m.Name)
	}
	return fmt.Sprintf("%s · %s · %s", m.Step, m.Stream, m.Name)
}

// WriteCompareMarkdown writes a comparison as markdown: verdict, regressions, every metric, added/removed.
func WriteCompareMarkdown(w io.Writer, r *compare.Result, _ Config) error {
	var b strings.Builder
	n := r.Regressions()
	icon, verdict := "✅", "no regression"
	if n > 0 {
		icon, verdict = "❌", fmt.Sprintf("%d regression(s)", n)
	}
	fmt.Fprintf(&b, "## %s canarygate compare: %s — %s\n\n", icon, md(r.Current.Scenario), verdict)
	fmt.Fprintf(&b, "baseline %s (%s) → current %s (%s). Thresholds: p99 ×%g and +%g ms, duration ×%g and +%gs, any new unexpected response.\n\n",
		r.Baseline.Started.Format("2006-01-02 15:04"), r.Baseline.Verdict, r.Current.Started.Format("2006-01-02 15:04"), r.Current.Verdict,
		r.Thresholds.P99Ratio, r.Thresholds.P99IncreaseMs, r.Thresholds.DurationRatio, r.Thresholds.DurationIncreaseMs/1000)
	b.WriteString("| step | stream | metric | baseline | current | change | |\n|---|---|---|---:|---:|---:|---|\n")
	for _, m := range r.Sorted() {
		flag := ""
		if m.Regression {
			flag = "❌ " + md(m.Reason)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.4g | %.4g | %s | %s |\n", md(m.Step), md(m.Stream), m.Name, m.Baseline, m.Current, changeText(m), flag)
	}
	for _, l := range []struct {
		what  string
		names []string
	}{{"Steps only in the current run", r.AddedSteps}, {"Steps only in the baseline", r.RemovedSteps}, {"Streams only in the current run", r.AddedStreams}, {"Streams only in the baseline", r.RemovedStreams}} {
		if len(l.names) > 0 {
			quoted := make([]string, len(l.names))
			for i, n := range l.names {
				quoted[i] = md(n)
			}
			fmt.Fprintf(&b, "\n%s: %s\n", l.what, strings.Join(quoted, ", "))
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCompareJUnit writes a testcase per compared metric; regressions are failures.
func WriteCompareJUnit(w io.Writer, r *compare.Result, _ Config) error {
	suite := junitSuite{Name: "canarygate-compare/" + r.Current.Scenario, Time: "0.000", Timestamp: r.Current.Started.Format("2006-01-02T15:04:05")}
	for _, m := range r.Metrics {
		tc := junitCase{Name: metricLabel(m), Classname: r.Current.Scenario + ".compare", Time: "0.000",
			SystemOut: fmt.Sprintf("baseline %.4g → current %.4g (%s)", m.Baseline, m.Current, changeText(m))}
		if m.Regression {
			tc.Failure = &junitMessage{Message: m.Reason, Type: "regression", Text: tc.SystemOut}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	for _, s := range r.AddedSteps {
		suite.Cases = append(suite.Cases, junitCase{Name: s + " · added", Classname: r.Current.Scenario + ".compare", Time: "0.000", Skipped: &junitMessage{Message: "step only in the current run"}})
		suite.Skipped++
	}
	for _, s := range r.RemovedSteps {
		suite.Cases = append(suite.Cases, junitCase{Name: s + " · removed", Classname: r.Current.Scenario + ".compare", Time: "0.000", Skipped: &junitMessage{Message: "step only in the baseline"}})
		suite.Skipped++
	}
	suite.Tests = len(suite.Cases)
	return encodeJUnit(w, "canarygate-compare", suite)
}

// slot is where a phase sits on an aligned axis, as fractions of the width.
type slot struct {
	name  string
	x0, w float64
}

// alignedSlots gives every phase of either run one slot, as wide as the longer of its two durations, so the
// same step starts at the same x in both timelines.
func alignedSlots(a, b *summary.Run) []slot {
	var names []string
	seen := map[string]bool{}
	for _, r := range []*summary.Run{b, a} {
		for _, p := range r.Phases {
			if !seen[p.Name] && p.Ran() {
				seen[p.Name] = true
				names = append(names, p.Name)
			}
		}
	}
	widths := make([]float64, len(names))
	total := 0.0
	for i, n := range names {
		for _, r := range []*summary.Run{a, b} {
			if j := r.PhaseIndex(n); j >= 0 {
				widths[i] = max(widths[i], r.Phases[j].DurationMs())
			}
		}
		widths[i] = max(widths[i], 200) // an instant step still gets room for its band
		total += widths[i]
	}
	out := make([]slot, len(names))
	x := 0.0
	for i, n := range names {
		out[i] = slot{name: n, x0: x / total, w: widths[i] / total}
		x += widths[i]
	}
	return out
}

// mapTo returns the aligned position (0..1) of a second of run r.
func mapTo(r *summary.Run, slots []slot) func(sec float64) float64 {
	return func(sec float64) float64 {
		ms := sec * 1000
		for _, s := range slots {
			i := r.PhaseIndex(s.name)
			if i < 0 {
				continue
			}
			p := r.Phases[i]
			if ms >= p.StartMs && ms < p.EndMs {
				return s.x0 + (ms-p.StartMs)/math.Max(p.DurationMs(), 1)*s.w
			}
		}
		if len(slots) > 0 && ms <= 0 {
			return 0
		}
		return 1
	}
}

type compareChart struct {
	chart
	BaseP99  string
	BaseBars []bar
}

type compareView struct {
	Result      *compare.Result
	Regressions int
	Metrics     []compare.Metric
	Charts      []compareChart
	Added       []string
	Removed     []string
}

// WriteCompareHTML writes a self-contained page: verdict, both runs' timelines on the same axes with the steps
// aligned (p99 and unexpected responses per second), and the metric table.
func WriteCompareHTML(w io.Writer, r *compare.Result, cfg Config) error {
	maxPoints := cfg.MaxChartPoints
	if maxPoints <= 0 {
		maxPoints = DefaultMaxChartPoints
	}
	slots := alignedSlots(r.Baseline, r.Current)
	v := compareView{Result: r, Regressions: r.Regressions(), Metrics: r.Sorted(),
		Added: append(append([]string(nil), r.AddedSteps...), r.AddedStreams...), Removed: append(append([]string(nil), r.RemovedSteps...), r.RemovedStreams...)}
	for _, cs := range r.Current.Streams {
		var bs *summary.Stream
		for i := range r.Baseline.Streams {
			if r.Baseline.Streams[i].Name == cs.Name {
				bs = &r.Baseline.Streams[i]
			}
		}
		if bs == nil {
			continue
		}
		c := compareChart{chart: chart{Stream: cs.Name, Width: chartW, Height: chartH, PlotTop: padTop, PlotBottom: chartH - padBot, PlotLeft: padL, PlotRight: chartW - padR}}
		px := func(f float64) float64 { return padL + f*(chartW-padL-padR) }
		for i, s := range slots {
			cls := "band"
			if i%2 == 1 {
				cls = "band alt"
			}
			label := s.name
			if maxChars := int(s.w * (chartW - padL - padR) / 6.5); len([]rune(label)) > maxChars {
				label = ""
			}
			c.Bands = append(c.Bands, band{X: px(s.x0), W: s.w * (chartW - padL - padR), LabelX: px(s.x0) + 3, Label: label, Class: cls})
		}
		maxLat, maxFail := 1.0, int64(1)
		for _, s := range []*summary.Stream{bs, &cs} {
			for _, pt := range s.Series {
				maxLat = math.Max(maxLat, pt.P99Ms)
				maxFail = max(maxFail, pt.Failures)
			}
		}
		maxLat, failTop := niceCeil(maxLat), niceCeil(float64(maxFail))
		plotH := chartH - padTop - padBot
		y := func(ms float64) float64 { return chartH - padBot - (ms/maxLat)*plotH }
		series := func(run *summary.Run, s *summary.Stream) (string, []bar, error) {
			m := mapTo(run, slots)
			pts, err := downsample(s.Series, maxPoints, func(p summary.Second) float64 { return p.P99Ms })
			if err != nil {
				return "", nil, err
			}
			var bars []bar
			for _, pt := range s.Series {
				if pt.Failures == 0 {
					continue
				}
				x0, x1 := px(m(float64(pt.T))), px(m(float64(pt.T+1)))
				h := float64(pt.Failures) / failTop * plotH
				bars = append(bars, bar{X: x0, W: math.Max(x1-x0, 1.5), Y: chartH - padBot - h, H: h, Title: fmt.Sprintf("%s: %d unexpected at %ds", run.Started.Format("2006-01-02 15:04"), pt.Failures, pt.T)})
			}
			return polyline(pts, func(sec float64) float64 { return px(m(sec)) }, y), bars, nil
		}
		var err error
		if c.BaseP99, c.BaseBars, err = series(r.Baseline, bs); err != nil {
			return err
		}
		if c.P99, c.Bars, err = series(r.Current, &cs); err != nil {
			return err
		}
		for i := 0; i <= 4; i++ {
			c.YTicks = append(c.YTicks, tick{Pos: y(maxLat * float64(i) / 4), Label: trimFloat(maxLat * float64(i) / 4)})
			c.FailTicks = append(c.FailTicks, tick{Pos: y(maxLat * float64(i) / 4), Label: trimFloat(failTop * float64(i) / 4)})
		}
		v.Charts = append(v.Charts, c)
	}
	return comparePage.Execute(w, v)
}

var comparePage = template.Must(template.Must(base.Clone()).New("compare").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>canarygate compare · {{.Result.Current.Scenario}}</title>
{{template "style"}}</head><body><main>
<div class="banner {{if .Regressions}}fail{{else}}pass{{end}}">
<h1>{{if .Regressions}}{{.Regressions}} REGRESSION(S){{else}}NO REGRESSION{{end}} · {{.Result.Current.Scenario}}</h1>
<p>baseline {{ts .Result.Baseline}} ({{.Result.Baseline.Verdict}}) → current {{ts .Result.Current}} ({{.Result.Current.Verdict}})</p>
</div>
<h2>Timelines, steps aligned</h2>
{{range .Charts}}<h3>{{.Stream}}</h3>
<div class="legend"><span><i class="sw" style="background:#8c959f"></i>baseline p99 (ms, left)</span><span><i class="sw" style="background:#bc4c00"></i>current p99 (ms, left)</span><span><i class="sw" style="background:#8c959f;height:10px"></i>baseline unexpected/s</span><span><i class="sw" style="background:#cf222e;height:10px"></i>current unexpected/s (right)</span></div>
<svg viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="baseline and current timelines for {{.Stream}}">
{{$c := .}}
{{range .Bands}}<rect class="{{.Class}}" x="{{.X}}" y="{{$c.PlotTop}}" width="{{.W}}" height="{{$c.PlotBottom}}"/><text class="bl" x="{{.LabelX}}" y="22">{{.Label}}</text>{{end}}
{{range .YTicks}}<line class="grid" x1="{{$c.PlotLeft}}" x2="{{$c.PlotRight}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text class="ax" x="{{$c.PlotLeft}}" dx="-4" y="{{.Pos}}" text-anchor="end" dy="3">{{.Label}}</text>{{end}}
{{range .FailTicks}}<text class="ax" x="{{$c.PlotRight}}" dx="4" y="{{.Pos}}" dy="3">{{.Label}}</text>{{end}}
{{range .BaseBars}}<rect class="fbb" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
{{range .Bars}}<rect class="fb" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
<polyline class="base" points="{{.BaseP99}}"/><polyline class="p99" points="{{.P99}}"/>
</svg>{{end}}
<h2>Metrics</h2>
<table><tr><th>step</th><th>stream</th><th>metric</th><th>baseline</th><th>current</th><th>change</th><th>regression</th></tr>
{{range .Metrics}}<tr{{if .Regression}} class="reg"{{end}}><td>{{.Step}}</td><td>{{.Stream}}</td><td>{{.Name}}</td><td class="n">{{printf "%.4g" .Baseline}}</td><td class="n">{{printf "%.4g" .Current}}</td><td class="n">{{change .}}</td><td>{{if .Regression}}<span class="bad">{{.Reason}}</span>{{end}}</td></tr>
{{end}}</table>
{{if .Added}}<p>Only in the current run: {{range $i, $n := .Added}}{{if $i}}, {{end}}{{$n}}{{end}}</p>{{end}}
{{if .Removed}}<p>Only in the baseline: {{range $i, $n := .Removed}}{{if $i}}, {{end}}{{$n}}{{end}}</p>{{end}}
</main></body></html>
`))
