package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/canarygate/canarygate/compare"
)

func trendCell(s compare.TrendSeries, i int) string {
	p := s.Points[i]
	if !p.Present {
		return "–"
	}
	v := fmt.Sprintf("%.4g", p.Value)
	if i == s.FirstCrossing {
		v += " ▲ first crossing"
	} else if p.Crossed {
		v += " ▲"
	}
	return v
}

// WriteTrendMarkdown writes one table: a row per step and metric, a column per run (oldest first); ▲ marks a
// value beyond its threshold relative to the first run.
func WriteTrendMarkdown(w io.Writer, t *compare.Trend, _ Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## canarygate trend: %d runs\n\n| step | metric |", len(t.Runs))
	for i := range t.Runs {
		fmt.Fprintf(&b, " %s |", md(t.Labels[i]))
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(t.Runs)) + "\n")
	for _, s := range t.Series {
		fmt.Fprintf(&b, "| %s | %s |", md(s.Step), s.Metric)
		for i := range s.Points {
			fmt.Fprintf(&b, " %s |", trendCell(s, i))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type trendRow struct {
	compare.TrendSeries
	Cells   []string
	Crossed []bool
	Spark   string
}

type trendView struct {
	Trend *compare.Trend
	Rows  []trendRow
}

// WriteTrendHTML writes one self-contained page: per step and metric, the values over the runs with a
// sparkline, the first crossing of the threshold marked.
func WriteTrendHTML(w io.Writer, t *compare.Trend, _ Config) error {
	v := trendView{Trend: t}
	for _, s := range t.Series {
		r := trendRow{TrendSeries: s}
		top := 0.0
		for i, p := range s.Points {
			r.Cells = append(r.Cells, trendCell(s, i))
			r.Crossed = append(r.Crossed, p.Crossed)
			top = math.Max(top, p.Value)
		}
		top = niceCeil(math.Max(top, 1))
		var pts []string
		for i, p := range s.Points {
			if !p.Present {
				continue
			}
			x := 4 + float64(i)/math.Max(float64(len(s.Points)-1), 1)*112
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, 26-p.Value/top*22))
		}
		r.Spark = strings.Join(pts, " ")
		v.Rows = append(v.Rows, r)
	}
	return trendPage.Execute(w, v)
}

var trendPage = template.Must(template.Must(base.Clone()).New("trend").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>canarygate trend</title>
{{template "style"}}</head><body><main>
<h1>canarygate trend · {{len .Trend.Runs}} runs</h1>
<p>Oldest first. ▲ marks a value beyond its threshold relative to the first run (unexpected responses: any more; p99: ×{{.Trend.Thresholds.P99Ratio}} and +{{.Trend.Thresholds.P99IncreaseMs}} ms; duration: ×{{.Trend.Thresholds.DurationRatio}} and +{{.Trend.Thresholds.DurationIncreaseMs}} ms).</p>
<table><tr><th>step</th><th>metric</th><th>trend</th>{{range .Trend.Labels}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Step}}</td><td>{{.Metric}}</td><td><svg width="120" height="30" viewBox="0 0 120 30"><polyline class="p99" points="{{.Spark}}"/></svg></td>
{{$r := .}}{{range $i, $c := .Cells}}<td class="n{{if index $r.Crossed $i}} bad{{end}}">{{$c}}</td>{{end}}</tr>
{{end}}</table>
</main></body></html>
`))
