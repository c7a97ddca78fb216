package promgate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// Evaluate judges the gate from the results Query recorded in the run: every series of every window must
// hold the threshold, and a window with no data fails (nothing says it was safe). The check's evidence holds
// each window's expression as sent and its values, for every report.
func Evaluate(g *scenarios.Prometheus, run *summary.Run) summary.Check {
	c := summary.Check{Kind: scenarios.GatePrometheus, Description: g.Describe()}
	th, err := scenarios.ParseThreshold(g.Threshold)
	if err != nil {
		c.Summary = err.Error()
		return c
	}
	obs, ok := run.Observations[Key(g)]
	if !ok || len(obs) == 0 {
		if g.Per == scenarios.PerStep && run.OnlySkipped(g.Steps) {
			// A rollback branch the upgrade never needed: nothing of it ran, so there is nothing to judge —
			// not a failure, and not a pass either.
			c.SkippedSteps(g.Steps)
			return c
		}
		c.Summary = "not judged: Prometheus was not queried (the run ended before its traffic, or the step windows asked for never ran) — no data is not a pass"
		return c
	}
	var bad []string
	results := make([]Result, 0, len(obs))
	for _, o := range obs {
		var r Result
		if err := json.Unmarshal([]byte(o.Value), &r); err != nil {
			// canarygate wrote it: what it cannot read back is its own fault, not the target's.
			c.Error = fmt.Sprintf("a recorded result does not decode: %v", err)
			c.Summary = "not judged: " + c.Error
			return c
		}
		results = append(results, r)
		c.Evidence = append(c.Evidence, evidence(r))
		if why := judgeWindow(r, th); why != "" {
			bad = append(bad, why)
			if r.Window != "run" {
				c.Steps = append(c.Steps, r.Window)
			}
		}
	}
	// The query in the summary too: every report shows the summary, not all show the evidence.
	if len(bad) > 0 {
		c.Summary = strings.Join(bad, "; ") + " — query: " + g.Query
		return c
	}
	c.Passed = true
	c.Summary = fmt.Sprintf("%s in %s (%s) — query: %s", th, windowsText(len(obs), g.Per), valuesText(results), g.Query)
	return c
}

// judgeWindow says why a window fails, or "" when every series holds the threshold.
func judgeWindow(r Result, th scenarios.Threshold) string {
	scrape := time.Duration(r.ScrapeIntervalMs * float64(time.Millisecond))
	if r.Unresolved {
		length := time.Duration((r.ToMs - r.FromMs) * float64(time.Millisecond))
		return fmt.Sprintf("%s: not judged: the window lasted %s, shorter than two scrape intervals (2 × %s) — Prometheus cannot tell its requests from its neighbours'",
			r.Window, length.Round(100*time.Millisecond), scrape)
	}
	if len(r.Samples) == 0 {
		return fmt.Sprintf("%s: no data (%s returned nothing at %s, one scrape interval (%s) after the window's end)", r.Window, r.Expr, r.At.UTC().Format("15:04:05"), scrape)
	}
	var off []string
	for _, s := range r.Samples {
		v, err := strconv.ParseFloat(s.Value, 64)
		if err != nil || !th.Holds(v) {
			off = append(off, fmt.Sprintf("%s = %s", s.Series, s.Value))
		}
	}
	if len(off) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %s, not %s", r.Window, strings.Join(off, ", "), th)
}

func evidence(r Result) string {
	vals := make([]string, 0, len(r.Samples))
	for _, s := range r.Samples {
		vals = append(vals, s.Series+" "+s.Value)
	}
	if r.Unresolved {
		return fmt.Sprintf("%s (%.1fs–%.1fs): not asked: shorter than two scrape intervals", r.Window, r.FromMs/1000, r.ToMs/1000)
	}
	if len(vals) == 0 {
		vals = append(vals, "no data")
	}
	e := fmt.Sprintf("%s (%.1fs–%.1fs): %s at %s → %s", r.Window, r.FromMs/1000, r.ToMs/1000, r.Expr,
		r.At.UTC().Format(time.RFC3339), strings.Join(vals, ", "))
	if len(r.Warnings) > 0 {
		e += " (warnings: " + strings.Join(r.Warnings, "; ") + ")"
	}
	return e
}

func windowsText(n int, per string) string {
	if per == scenarios.PerStep {
		if n == 1 {
			return "the 1 step"
		}
		return fmt.Sprintf("each of %d steps", n)
	}
	return "the run"
}

func valuesText(results []Result) string {
	var vals []string
	for _, r := range results {
		for _, s := range r.Samples {
			v := s.Value
			if s.Series != "{}" && s.Series != "scalar" {
				v = s.Series + " " + v
			}
			if r.Window != "run" {
				v = r.Window + ": " + v
			}
			vals = append(vals, v)
		}
	}
	const most = 6
	if len(vals) > most {
		vals = append(vals[:most], fmt.Sprintf("… %d more in the evidence", len(vals)-most))
	}
	return strings.Join(vals, ", ")
}
