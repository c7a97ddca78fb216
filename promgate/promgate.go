package promgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/canarygate/canarygate/base/ctxcall"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// ErrBadQuery is a query Prometheus refused as bad data (bad input: exit 2, found before the load starts).
var ErrBadQuery = scenarios.ErrBadQuery

// ErrUnreachable is a Prometheus that did not answer (the harness could not measure: an error, exit 3).
var ErrUnreachable = errors.New("prometheus did not answer")

// DefaultScrapeInterval is Prometheus's own default global scrape_interval
// (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#configuration-file).
const DefaultScrapeInterval = time.Minute

// Window is a span of the run a query covers.
type Window struct {
	Name     string
	From, To time.Time
}

// Sample is one series' value at a window's end.
type Sample struct {
	// Series is the series' labels as Prometheus prints them ({} for an aggregate without labels).
	Series string `json:"series"`
	// Value is the value as text: NaN (0/0, a ratio over no requests) does not fit JSON's numbers.
	Value string `json:"value"`
}

// Result is one window's query.
type Result struct {
	Window string  `json:"window"`
	FromMs float64 `json:"fromMs"`
	ToMs   float64 `json:"toMs"`
	// Expr is the expression as sent ($window replaced); At the evaluation time (one scrape interval after
	// the window's end). Both are empty for a window too short to ask (Unresolved).
	Expr    string    `json:"expr,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Samples []Sample  `json:"samples"`
	// ScrapeIntervalMs is the scrape interval the window was evaluated with.
	ScrapeIntervalMs float64 `json:"scrapeIntervalMs"`
	// Unresolved is a window shorter than two scrape intervals: not asked, not judged (a failure).
	Unresolved bool     `json:"unresolved,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

// Key is the observation key a gate's results are recorded under in the run.
func Key(g *scenarios.Prometheus) string {
	return fmt.Sprintf("prometheus %s %q per %s %s", g.URL, g.Query, g.Per, strings.Join(g.Steps, ","))
}

func client(g *scenarios.Prometheus) (v1.API, error) {
	c, err := api.NewClient(api.Config{Address: g.URL, Client: &http.Client{Timeout: g.Timeout.D()}})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", g.URL, err)
	}
	return v1.NewAPI(c), nil
}

// classify tells a query Prometheus refused (bad input) from one it never answered.
func classify(g *scenarios.Prometheus, expr string, err error) error {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && (apiErr.Type == v1.ErrBadData || apiErr.Type == v1.ErrExec) {
		return fmt.Errorf("%w: %s at %s: %s", ErrBadQuery, expr, g.URL, apiErr.Msg)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, g.URL, err)
}

// Preflight asks Prometheus the gate's query once, before the load starts: a query it refuses is bad input
// the PromQL parser could not see (exit 2), a Prometheus that does not answer an error (exit 3) — found
// before anything is measured.
func Preflight(ctx context.Context, g *scenarios.Prometheus) error {
	a, err := client(g)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, g.Timeout.D())
	defer cancel()
	expr := g.Expr(time.Minute)
	if _, _, err := a.Query(qctx, expr, time.Now(), v1.WithTimeout(g.Timeout.D())); err != nil {
		return classify(g, expr, err)
	}
	return nil
}

// Windows are the spans a gate is judged over: the traffic (warm-up start to cool-down end) for per: run;
// each step that ran, for per: step.
func Windows(g *scenarios.Prometheus, run *summary.Run) []Window {
	at := func(ms float64) time.Time { return run.Started.Add(time.Duration(ms * float64(time.Millisecond))) }
	var out []Window
	if g.Per == scenarios.PerStep {
		for _, ph := range run.Phases {
			if ph.Kind != string(timeline.KindStep) || ph.Outcome == summary.OutcomeNotRun || ph.Outcome == summary.OutcomeSkipped ||
				(len(g.Steps) > 0 && !slices.Contains(g.Steps, ph.Name)) {
				continue
			}
			out = append(out, Window{Name: ph.Name, From: at(ph.StartMs), To: at(ph.EndMs)})
		}
		return out
	}
	from, to := math.Inf(1), math.Inf(-1)
	for _, ph := range run.Phases {
		switch timeline.Kind(ph.Kind) {
		case timeline.KindWarmup, timeline.KindStep, timeline.KindCooldown:
			from, to = min(from, ph.StartMs), max(to, ph.EndMs)
		}
	}
	if from <= to {
		out = append(out, Window{Name: "run", From: at(from), To: at(to)})
	}
	return out
}

// Query evaluates the gate's expression over each window as an instant query. A request answered at a
// window's end is first in Prometheus at its next scrape, up to one scrape interval later: each window is
// evaluated one scrape interval after its end, $window its length plus that interval, so that nothing it
// measured is missed (what the next interval holds may be counted in it too: Prometheus resolves nothing
// finer than a scrape). Query waits until those scrapes are in: a scrape that started by then has ended, its
// timeout being at most its interval. A window shorter than two scrape intervals is not asked: Prometheus
// cannot tell its requests from its neighbours'. An error is the harness's: the run could not be judged on
// Prometheus's data.
func Query(ctx context.Context, g *scenarios.Prometheus, run *summary.Run) ([]summary.Observation, error) {
	a, err := client(g)
	if err != nil {
		return nil, err
	}
	scrape := g.ScrapeInterval.D()
	if scrape == 0 {
		scrape = scrapeInterval(ctx, a, g.Timeout.D())
	}
	windows := Windows(g, run)
	var last time.Time
	for _, w := range windows {
		if w.To.After(last) {
			last = w.To
		}
	}
	if err := ctxcall.Sleep(ctx, time.Until(last.Add(2*scrape))); err != nil {
		return nil, fmt.Errorf("waiting for Prometheus's scrapes after the run: %w", err)
	}
	var obs []summary.Observation
	for _, w := range windows {
		length := w.To.Sub(w.From)
		res := Result{Window: w.Name, FromMs: summary.Ms(w.From.Sub(run.Started)), ToMs: summary.Ms(w.To.Sub(run.Started)),
			ScrapeIntervalMs: summary.Ms(scrape), Unresolved: length < 2*scrape}
		if !res.Unresolved {
			res.Expr, res.At = g.Expr(length+scrape), w.To.Add(scrape)
			qctx, cancel := context.WithTimeout(ctx, g.Timeout.D())
			v, warnings, err := a.Query(qctx, res.Expr, res.At, v1.WithTimeout(g.Timeout.D()))
			cancel()
			if err != nil {
				return obs, fmt.Errorf("window %s: %w", w.Name, classify(g, res.Expr, err))
			}
			res.Samples, res.Warnings = samples(v), warnings
		}
		b, err := json.Marshal(res)
		if err != nil {
			return obs, fmt.Errorf("window %s: encode: %w", w.Name, err)
		}
		obs = append(obs, summary.Observation{AtMs: res.ToMs, Value: string(b)})
	}
	return obs, nil
}

// scrapeInterval reads the global scrape_interval from Prometheus's configuration (its default when unset
// or unreadable).
func scrapeInterval(ctx context.Context, a v1.API, timeout time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg, err := a.Config(ctx)
	if err != nil {
		return DefaultScrapeInterval
	}
	var c struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
	}
	if yaml.Unmarshal([]byte(cfg.YAML), &c) != nil {
		return DefaultScrapeInterval
	}
	d, err := model.ParseDuration(c.Global.ScrapeInterval)
	if err != nil || d <= 0 {
		return DefaultScrapeInterval
	}
	return time.Duration(d)
}

func samples(v model.Value) []Sample {
	format := func(f model.SampleValue) string { return strconv.FormatFloat(float64(f), 'g', -1, 64) }
	var out []Sample
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			out = append(out, Sample{Series: s.Metric.String(), Value: format(s.Value)})
		}
	case *model.Scalar:
		out = append(out, Sample{Series: "scalar", Value: format(v.Value)})
	case model.Matrix:
		// A range selector evaluated as is: its last value per series.
		for _, s := range v {
			if n := len(s.Values); n > 0 {
				out = append(out, Sample{Series: s.Metric.String(), Value: format(s.Values[n-1].Value)})
			}
		}
	}
	slices.SortFunc(out, func(a, b Sample) int { return strings.Compare(a.Series, b.Series) })
	return out
}
