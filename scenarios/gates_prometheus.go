package scenarios

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// ErrBadQuery is a gate's query its system refused when asked before the load started (bad input the
// scenario's validation could not see: exit 2).
var ErrBadQuery = errors.New("query refused")

// GatePrometheus is the kind of the gate that judges a PromQL expression on the user's own Prometheus.
const GatePrometheus = "prometheus"

// Prometheus judges a PromQL expression, evaluated by the user's Prometheus, against a threshold: over the
// whole run (traffic start to traffic stop) or per step. It is what Flagger's and Argo Rollouts' metric
// analyses do (Flagger's built-in checks: request success rate ≥ 99 %, p99 ≤ 500 ms), for a rehearsal: the
// mesh's Prometheus sees every workload's responses, not only the test traffic.
//
// Each window's query is an instant query one scrape interval after the window's end — a request answered
// at its end is first in Prometheus at the next scrape — and `$window` in the expression is replaced by the
// window's length plus that interval, to the millisecond (Grafana's `$__range`, Flagger's `{{ interval }}`),
// so `increase(x[$window])` misses nothing of the window (and may count what the next scrape interval
// holds: Prometheus resolves nothing finer). Every series the query returns must hold the threshold. No
// data — an empty result — is a failure, never a pass: nothing says the window was safe; nor is a window
// shorter than two scrape intervals judged.
type Prometheus struct {
	Pos Pos `yaml:"-" json:"-"`
	// URL is the Prometheus HTTP API's base (http://127.0.0.1:9090, a port-forward, a Service's address).
	URL string `yaml:"url" json:"url"`
	// Query is the PromQL expression; `$window` is replaced by the window's length plus a scrape interval.
	Query string `yaml:"query" json:"query"`
	// Threshold is what every value must hold: "value < 0.01", "value <= 0.5" (<, <=, >, >=, ==, !=).
	Threshold string `yaml:"threshold" json:"threshold"`
	// Per is "run" (default: one window, traffic start to stop) or "step" (a window per step).
	Per string `yaml:"per,omitempty" json:"per,omitempty"`
	// Steps limits per: step to the steps named (default: every step under steps).
	Steps []string `yaml:"steps,omitempty" json:"steps,omitempty"`
	// ScrapeInterval is the targets' scrape interval, to say why a short window has no data (unset: read
	// from Prometheus's configuration, else its default 1m).
	ScrapeInterval Duration `yaml:"scrapeInterval,omitempty" json:"scrapeInterval,omitempty"`
	// Timeout bounds each query (default 10s).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Prometheus windows.
const (
	PerRun  = "run"
	PerStep = "step"
)

// DefaultPrometheusTimeout is Prometheus's default Timeout.
const DefaultPrometheusTimeout = Duration(10 * time.Second)

// Default implements Defaulter.
func (g *Prometheus) Default() {
	if g.Per == "" {
		g.Per = PerRun
	}
	if g.Timeout == 0 {
		g.Timeout = DefaultPrometheusTimeout
	}
}

// Validate implements GateSpec: the URL, the expression (parsed by Prometheus's own PromQL parser, with
// `$window` standing for a minute), the threshold and the windows.
func (g *Prometheus) Validate(s *Scenario, p Problems, path string) {
	if !strings.HasPrefix(path, "checks[") {
		p.Add(g.Pos, path, "a prometheus gate is judged after the run, from the windows' queries: list it under checks, not in a check step")
	}
	if u, err := url.Parse(g.URL); g.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add(g.Pos.Field("url"), join(path, "url"), "%q is not a Prometheus URL: expected http(s)://host:port", g.URL)
	}
	if strings.TrimSpace(g.Query) == "" {
		p.Add(g.Pos.Field("query"), join(path, "query"), "empty: expected a PromQL expression")
	} else if _, err := parser.ParseExpr(g.Expr(time.Minute)); err != nil {
		p.Add(g.Pos.Field("query"), join(path, "query"), "not valid PromQL: %v", err)
	}
	if _, err := ParseThreshold(g.Threshold); err != nil {
		p.Add(g.Pos.Field("threshold"), join(path, "threshold"), "%v", err)
	}
	switch g.Per {
	case PerRun:
		if len(g.Steps) > 0 {
			p.Add(g.Pos.Field("steps"), join(path, "steps"), "steps name windows of per: step; this gate is per: run")
		}
	case PerStep:
		for i, name := range g.Steps {
			if !slices.ContainsFunc(s.Steps, func(st Step) bool { return st.Name == name }) {
				p.Add(g.Pos.Field("steps"), fmt.Sprintf("%s.steps[%d]", path, i), "no step named %q under steps", name)
			}
		}
	default:
		p.Add(g.Pos.Field("per"), join(path, "per"), "%q: expected run or step", g.Per)
	}
	if g.ScrapeInterval < 0 || g.Timeout < 0 {
		p.Add(g.Pos, path, "negative scrapeInterval or timeout: expected a duration")
	}
}

// Expr is the query for a window of length d: `$window` replaced by d to the millisecond (a PromQL duration
// such as 3s12ms; at least 1ms), so that the window's range holds the window's samples and no others.
func (g *Prometheus) Expr(d time.Duration) string {
	return strings.ReplaceAll(g.Query, "$window", model.Duration(max(d.Truncate(time.Millisecond), time.Millisecond)).String())
}

// Describe implements GateSpec.
func (g *Prometheus) Describe() string {
	over := "over the run"
	if g.Per == PerStep {
		over = "in every step's window"
		if len(g.Steps) > 0 {
			over = "in steps " + strings.Join(g.Steps, ", ")
		}
	}
	return fmt.Sprintf("Prometheus %s: %s — %s %s; no data fails", g.URL, g.Query, thresholdText(g.Threshold), over)
}

func thresholdText(t string) string {
	th, err := ParseThreshold(t)
	if err != nil {
		return t
	}
	return th.String()
}

// Threshold is what a value must hold: Value Op Limit.
type Threshold struct {
	Op    string
	Limit float64
}

var thresholdOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseThreshold parses "value < 0.01" (the operators <, <=, >, >=, ==, !=; "value" may be left out).
func ParseThreshold(s string) (Threshold, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimPrefix(t, "value"))
	for _, op := range thresholdOps {
		if rest, ok := strings.CutPrefix(t, op); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil || math.IsNaN(v) {
				return Threshold{}, fmt.Errorf("%q: expected a number after %s, as in \"value %s 0.01\"", s, op, op)
			}
			return Threshold{Op: op, Limit: v}, nil
		}
	}
	return Threshold{}, fmt.Errorf("%q is not a threshold: expected \"value <op> number\" with <op> one of <, <=, >, >=, ==, != (\"value < 0.01\")", s)
}

// Holds reports whether v holds the threshold. NaN never does (a ratio of 0/0: no traffic in the window).
func (t Threshold) Holds(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch t.Op {
	case "<":
		return v < t.Limit
	case "<=":
		return v <= t.Limit
	case ">":
		return v > t.Limit
	case ">=":
		return v >= t.Limit
	case "==":
		return v == t.Limit
	case "!=":
		return v != t.Limit
	default:
		return false // not a threshold ParseThreshold makes: holds nothing
	}
}

func (t Threshold) String() string {
	return "value " + t.Op + " " + strconv.FormatFloat(t.Limit, 'g', -1, 64)
}
