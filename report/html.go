package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/tsenart/vegeta/v12/lib/lttb"

	"github.com/canarygate/canarygate/compare"
	"github.com/canarygate/canarygate/summary"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH             = 960.0, 280.0
	padL, padR, padTop, padBot = 56.0, 48.0, 34.0, 26.0
)

type band struct {
	X, W, LabelX float64
	Label, Class string
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

type tick struct {
	Pos   float64
	Label string
}

type chart struct {
	Stream         string
	Width, Height  float64
	PlotTop        float64
	PlotBottom     float64
	PlotLeft       float64
	PlotRight      float64
	Bands          []band
	P50, P99       string
	Bars           []bar
	XTicks, YTicks []tick
	FailTicks      []tick
	Downsampled    bool
}

type htmlView struct {
	Run      *summary.Run
	Headline string
	Rows     []stepRow
	Charts   []chart
	Groups   []summary.FailureGroup
	Codes    []string
	Windows  []windowRow
}

// WriteHTML writes one self-contained HTML page: no script, no stylesheet or font fetched, charts drawn as
// inline SVG. Every string from outside (names, bodies, errors, output) goes through html/template's
// contextual escaping; nothing is marked safe.
func WriteHTML(w io.Writer, run *summary.Run, cfg Config) error {
	maxPoints := cfg.MaxChartPoints
	if maxPoints <= 0 {
		maxPoints = DefaultMaxChartPoints
	}
	v := htmlView{Run: run, Rows: rows(run), Headline: Headline(run), Windows: windowRows(run)}
	for _, s := range run.Streams {
		c, err := buildChart(run, s, maxPoints)
		if err != nil {
			return err
		}
		v.Charts = append(v.Charts, c)
		v.Groups = append(v.Groups, s.FailureGroups...)
	}
	sort.SliceStable(v.Groups, func(i, j int) bool { return v.Groups[i].FirstMs < v.Groups[j].FirstMs })
	codeSet := map[string]bool{}
	for _, r := range v.Rows {
		for c := range r.Codes {
			codeSet[c] = true
		}
	}
	for c := range codeSet {
		v.Codes = append(v.Codes, c)
	}
	sort.Strings(v.Codes)
	return page.Execute(w, v)
}

func buildChart(run *summary.Run, s summary.Stream, maxPoints int) (chart, error) {
	c := chart{Stream: s.Name, Width: chartW, Height: chartH, PlotTop: padTop, PlotBottom: chartH - padBot, PlotLeft: padL, PlotRight: chartW - padR}
	durS := math.Max(run.DurationMs/1000, 1)
	x := func(sec float64) float64 { return padL + (math.Min(math.Max(sec, 0), durS)/durS)*(chartW-padL-padR) }
	plotH := chartH - padTop - padBot

	c.Bands = phaseBands(run, x)

	maxLat := 1.0
	for _, pt := range s.Series {
		maxLat = math.Max(maxLat, pt.P99Ms)
	}
	maxLat = niceCeil(maxLat)
	y := func(ms float64) float64 { return chartH - padBot - (ms/maxLat)*plotH }

	line := func(get func(summary.Second) float64) (string, error) {
		pts, err := downsample(s.Series, maxPoints, get)
		if err != nil {
			return "", err
		}
		return polyline(pts, x, y), nil
	}
	var err error
	if c.P50, err = line(func(p summary.Second) float64 { return p.P50Ms }); err != nil {
		return c, err
	}
	if c.P99, err = line(func(p summary.Second) float64 { return p.P99Ms }); err != nil {
		return c, err
	}
	c.Downsampled = len(s.Series) > maxPoints

	var failTop float64
	c.Bars, failTop = failureBars(s, durS, maxPoints, x, plotH)
	for i := 0; i <= 4; i++ {
		ms := maxLat * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(ms), Label: trimFloat(ms)})
		c.FailTicks = append(c.FailTicks, tick{Pos: y(ms), Label: trimFloat(failTop * float64(i) / 4)})
	}
	step := niceCeil(durS / 8)
	for t := 0.0; t <= durS+1e-9; t += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: fmt.Sprintf("%gs", t)})
	}
	return c, nil
}

// phaseBands are the phases behind the chart, a band each, labelled as far as they are wide; steps that did
// not run have none.
func phaseBands(run *summary.Run, x func(float64) float64) []band {
	var out []band
	for i, p := range run.Phases {
		if !p.Ran() || p.DurationMs() <= 0 {
			continue
		}
		x0, x1 := x(p.StartMs/1000), x(p.EndMs/1000)
		cls := "band"
		if i%2 == 1 {
			cls = "band alt"
		}
		if p.Outcome == summary.OutcomeFailed || p.Outcome == summary.OutcomeTimedOut {
			cls += " bad"
		}
		label := p.Name
		if maxChars := int((x1 - x0) / 6.5); len([]rune(label)) > maxChars {
			if maxChars < 2 {
				label = ""
			} else {
				label = string([]rune(label)[:maxChars-1]) + "…"
			}
		}
		out = append(out, band{X: x0, W: math.Max(x1-x0, 0.5), LabelX: x0 + 3, Label: label, Class: cls})
	}
	return out
}

// failureBars are the unexpected responses per second as bars on the right-hand axis, binned when the run
// is long; failTop is that axis's top.
func failureBars(s summary.Stream, durS float64, maxPoints int, x func(float64) float64, plotH float64) (bars []bar, failTop float64) {
	binS := math.Max(1, math.Ceil(durS/float64(maxPoints)))
	bins := map[int64]int64{}
	var maxFail int64
	for _, pt := range s.Series {
		if pt.Failures > 0 {
			k := int64(float64(pt.T) / binS)
			bins[k] += pt.Failures
			maxFail = max(maxFail, bins[k])
		}
	}
	failTop = niceCeil(float64(max(maxFail, 1)))
	keys := make([]int64, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		n := bins[k]
		h := float64(n) / failTop * plotH
		x0 := x(float64(k) * binS)
		bars = append(bars, bar{X: x0, W: math.Max(x(float64(k+1)*binS)-x0, 1.5), Y: chartH - padBot - h, H: h,
			Title: fmt.Sprintf("%d unexpected at %ds", n, int64(float64(k)*binS))})
	}
	return bars, failTop
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

var funcs = template.FuncMap{
	"secs":    func(ms float64) string { return fmt.Sprintf("%.1fs", ms/1000) },
	"ms":      func(ms float64) string { return fmt.Sprintf("%.1f", ms) },
	"outcome": outcomeLabel,
	"code":    func(r stepRow, c string) int64 { return r.Codes[c] },
	"codeLabel": func(c string) string {
		if c == "0" {
			return "error"
		}
		return c
	},
	"upper":  strings.ToUpper,
	"change": func(m compare.Metric) string { return changeText(m) },
	"ts":     func(r *summary.Run) string { return r.Started.Format("2006-01-02 15:04:05 UTC") },
	"during": during,
}

// base holds what every page shares: the stylesheet, inline.
var base = template.Must(template.New("base").Funcs(funcs).Parse(`{{define "style"}}<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.banner{padding:16px 20px;border-radius:8px;color:#fff;margin-bottom:18px}
.pass{background:#1f883d}.fail,.error,.interrupted{background:#cf222e}.interrupted,.rolled{background:#9a6700}
.banner p{margin:4px 0 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d8dee4;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1f883d;font-weight:600}.bad{color:#cf222e;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;background:#0d1117;color:#e6edf3;padding:10px;border-radius:6px;max-height:320px;overflow:auto;font-size:12px}
svg{background:#fff;border:1px solid #d8dee4;border-radius:6px;width:100%;height:auto}
.band{fill:#eef3ff}.band.alt{fill:#f7f9ff}.band.bad{fill:#ffe9e9}
.bl{font-size:11px;fill:#57606a}.ax{font-size:10px;fill:#57606a}
.p50{fill:none;stroke:#0969da;stroke-width:1.5}.p99{fill:none;stroke:#bc4c00;stroke-width:1.5}
.fb{fill:#cf222e;opacity:.75}.grid{stroke:#e6e8eb}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.sw{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
details{margin:6px 0}summary{cursor:pointer}
.base{fill:none;stroke:#8c959f;stroke-width:1.5;stroke-dasharray:4 3}.fbb{fill:#8c959f;opacity:.6}
.reg{background:#ffebe9}
</style>{{end}}`))

var page = template.Must(template.Must(base.Clone()).New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>canarygate · {{.Run.Scenario}} · {{.Run.Verdict}}</title>
{{template "style"}}</head><body><main>
<div class="banner {{.Run.Verdict}}">
<h1>{{upper .Run.Verdict}} · {{.Run.Scenario}}</h1>
<p><strong>{{.Headline}}</strong></p>
<p>{{.Run.TotalRequests}} requests, {{.Run.TotalFailures}} unexpected · {{secs .Run.DurationMs}} · started {{ts .Run}} · canarygate {{.Run.ToolVersion}}</p>
{{if .Run.Interrupted}}<p>Interrupted: the run was stopped before it finished; everything below is what was measured until then.</p>{{end}}
{{if .Run.Error}}<p>Harness error: {{.Run.Error}}</p>{{end}}
</div>
{{with .Run.Description}}<p>{{.}}</p>{{end}}

<h2>Checks</h2>
<table><tr><th>check</th><th>result</th><th>summary</th><th>evidence</th></tr>
{{range .Run.Checks}}<tr><td>{{.Name}}{{with .Phase}} <small>(during {{.}})</small>{{end}}<br><small>{{.Description}}</small></td>
<td class="{{if .NotApplicable}}{{else if .Passed}}ok{{else}}bad{{end}}">{{.Mark}}</td><td>{{.Summary}}</td>
<td>{{range .Evidence}}<div>{{.}}</div>{{end}}</td></tr>
{{end}}</table>

<h2>Load generator</h2>
<table><tr><th>stream</th><th>asked</th><th>achieved</th><th>sent</th><th>late</th><th>worst lag</th><th>local errors</th><th>state</th></tr>
{{range .Run.Streams}}<tr><td>{{.Name}}</td><td class="n">{{.Rate}}</td><td class="n">{{printf "%.1f/s" .Generator.AchievedRPS}}</td><td class="n">{{.Generator.Sent}}</td>
<td class="n">{{.Generator.Late}}</td><td class="n">{{printf "%.0f ms" .Generator.MaxLagMs}}</td><td class="n">{{.Generator.LocalErrors}}{{range .Generator.LocalErrorMessages}}<br><small>{{.Count}} × {{.Message}}</small>{{end}}</td>
<td class="{{if .Generator.Saturated}}bad{{else}}ok{{end}}">{{.Generator.State}}</td></tr>
{{end}}</table>

{{range .Run.Streams}}{{if .InMesh}}
<h2>In-mesh calls: {{.Name}}</h2>{{with .InMesh}}
<p>Generators in {{.Namespace}}, identity <code>{{.Identity}}</code> ({{.ViaText}}): calls per step from the generators' proxy revision to the callee's.</p>
<table><tr><th>step</th><th>caller → callee revision</th><th>calls</th><th>mTLS-proven</th><th>unexpected</th><th>not mTLS</th></tr>
{{range .Pairs}}<tr><td>{{.Phase}}</td><td>{{if .From}}{{.From}}{{else}}no proxy{{end}} → {{if .To}}{{.To}}{{else}}no proxy{{end}}</td><td class="n">{{.Requests}}</td>
<td class="n">{{.Proven}}</td><td class="n {{if .Failures}}bad{{end}}">{{.Failures}}</td><td class="n {{if .NotMTLS}}bad{{end}}">{{.NotMTLS}}</td></tr>
{{end}}</table>
{{if .Peers}}<p>Caller identities the callee saw: {{range $id, $n := .Peers}}<code>{{$id}}</code> ({{$n}} calls) {{end}}</p>{{end}}
{{end}}{{end}}{{end}}

<h2>Traffic</h2>
{{range .Charts}}
<h3>{{.Stream}}</h3>
<div class="legend"><span><i class="sw" style="background:#0969da"></i>p50 latency (ms, left)</span><span><i class="sw" style="background:#bc4c00"></i>p99 latency (ms, left)</span><span><i class="sw" style="background:#cf222e;height:10px"></i>unexpected responses per second (right)</span>{{if .Downsampled}}<span>(latency downsampled, LTTB)</span>{{end}}</div>
<svg viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="latency and unexpected responses over time for {{.Stream}}">
{{$c := .}}
{{range .Bands}}<rect class="{{.Class}}" x="{{.X}}" y="{{$c.PlotTop}}" width="{{.W}}" height="{{$c.PlotBottom}}"/><text class="bl" x="{{.LabelX}}" y="22">{{.Label}}</text>{{end}}
{{range .YTicks}}<line class="grid" x1="{{$c.PlotLeft}}" x2="{{$c.PlotRight}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text class="ax" x="{{$c.PlotLeft}}" dx="-4" y="{{.Pos}}" text-anchor="end" dy="3">{{.Label}}</text>{{end}}
{{range .FailTicks}}<text class="ax" x="{{$c.PlotRight}}" dx="4" y="{{.Pos}}" dy="3">{{.Label}}</text>{{end}}
{{range .XTicks}}<text class="ax" x="{{.Pos}}" y="{{$c.Height}}" dy="-8" text-anchor="middle">{{.Label}}</text>{{end}}
{{range .Bars}}<rect class="fb" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}
<polyline class="p50" points="{{.P50}}"/><polyline class="p99" points="{{.P99}}"/>
</svg>
{{end}}

<h2>Steps</h2>
<table><tr><th>phase</th><th>outcome</th><th>start</th><th>duration</th><th>requests</th><th>rate (achieved/asked)</th><th>unexpected</th><th>p99 ms</th><th>what it did</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="{{if and (eq .Outcome "passed") (eq .Failures 0)}}ok{{else if and (eq .Outcome "") (eq .Failures 0)}}{{else}}bad{{end}}">{{outcome .Phase}}{{if .Failures}} · {{.Failures}} unexpected{{end}}</td>
<td class="n">{{secs .StartMs}}</td><td class="n">{{secs .DurationMs}}</td><td class="n">{{.Requests}}</td><td class="n">{{.RateText}}</td><td class="n">{{.Failures}}</td><td class="n">{{ms .P99}}</td>
<td>{{.Description}}{{with .Error}}<div class="bad">{{.}}</div>{{end}}</td></tr>
{{end}}</table>

{{if .Windows}}<h2>Disruptions</h2>
<p>Faults rehearsed on purpose (disrupt steps), from the moment each took effect to its restoration, and spans during which a cluster's API server did not answer (outages: canarygate was blind then). Windows run over the steps; every request sent in one counts for its step and for the window.</p>
<table><tr><th>window</th><th>what</th><th>start</th><th>duration</th><th>state</th><th>sent in it</th><th>events</th></tr>
{{range .Windows}}<tr><td>{{.Name}}</td><td>{{.What}}</td><td class="n">{{secs .StartMs}}</td><td class="n">{{secs .DurationMs}}</td>
<td class="{{if .Restored}}ok{{else}}bad{{end}}">{{.State}}</td><td class="{{if .Failures}}bad{{end}}">{{range .Streams}}<div>{{.}}</div>{{end}}</td><td>{{range .Events}}<div><small>{{.}}</small></div>{{end}}</td></tr>
{{end}}</table>{{end}}

<h2>Status codes per phase</h2>
<table><tr><th>phase</th>{{range .Codes}}<th>{{codeLabel .}}</th>{{end}}</tr>
{{$codes := .Codes}}{{range .Rows}}<tr><td>{{.Name}}</td>{{$r := .}}{{range $codes}}<td class="n">{{code $r .}}</td>{{end}}</tr>
{{end}}</table>

{{if .Groups}}<h2>Failures</h2>
<table><tr><th>count</th><th>first</th><th>last</th><th>stream</th><th>step</th><th>error</th><th>body (first)</th></tr>
{{range .Groups}}<tr><td class="n">{{.Count}}</td><td class="n">{{secs .FirstMs}}</td><td class="n">{{secs .LastMs}}</td><td>{{.Stream}}</td><td>{{.Phase}}{{with during $.Run .}}<br><small>{{.}}</small>{{end}}</td><td>{{.Error}}</td><td><code>{{.Body}}</code></td></tr>
{{end}}</table>{{end}}

<h2>Step output</h2>
{{range .Rows}}{{if or .Output .Changes .Diagnostics}}<details{{if .Error}} open{{end}}><summary>{{.Name}} ({{outcome .Phase}})</summary>
{{if .Changes}}<p>Changes:</p><ul>{{range .Changes}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Diagnostics}}<p>Diagnostics:</p><pre>{{range .Diagnostics}}{{.}}
{{end}}</pre>{{end}}
{{with .Output}}<pre>{{.}}</pre>{{end}}
</details>{{end}}{{end}}
<p><small>Results file for vegeta: {{with .Run.ResultsFile}}<code>{{.}}</code> (<code>vegeta report {{.}}</code>, <code>vegeta plot {{.}}</code>){{else}}not written{{end}}</small></p>
</main></body></html>
`))

// downsample turns a per-second series into at most maxPoints points (LTTB), each second at its middle.
func downsample(series []summary.Second, maxPoints int, get func(summary.Second) float64) ([]lttb.Point, error) {
	return lttb.Downsample(len(series), maxPoints, func(int) ([]lttb.Point, error) {
		out := make([]lttb.Point, 0, len(series))
		for _, pt := range series {
			out = append(out, lttb.Point{X: float64(pt.T) + 0.5, Y: get(pt)})
		}
		return out, nil
	})
}

// polyline renders points as an SVG points attribute.
func polyline(pts []lttb.Point, x, y func(float64) float64) string {
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(p.X), y(p.Y))
	}
	return strings.TrimSpace(b.String())
}
