// Package checks evaluates a scenario's gates on a run's timeline. Each gate returns pass or fail with
// evidence: the numbers it judged and the first failures, with the time and the step they happened in.
// Every gate kind is registered once (Register), with its spec type, its evaluator and, when what it judges
// must be watched while traffic runs, its observer.
package checks

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

func init() {
	Register(scenarios.GateNoUnexpectedStatus, func() *scenarios.NoUnexpectedStatus { return &scenarios.NoUnexpectedStatus{} }, noUnexpectedStatus)
	Register(scenarios.GateMaxErrorRatio, func() *scenarios.MaxErrorRatio { return &scenarios.MaxErrorRatio{} }, maxErrorRatio)
	Register(scenarios.GateMaxConsecutiveFailures, func() *scenarios.MaxConsecutiveFailures { return &scenarios.MaxConsecutiveFailures{} }, maxConsecutive)
	Register(scenarios.GateLatencyP99, func() *scenarios.LatencyP99 { return &scenarios.LatencyP99{} }, latencyP99)
	Register(scenarios.GateStepsSucceeded, func() *scenarios.StepsSucceeded { return &scenarios.StepsSucceeded{} }, stepsSucceeded)
}

// Evaluate judges one gate.
func Evaluate(g scenarios.Gate, run *summary.Run) summary.Check {
	k, ok := gates[g.Kind]
	var c summary.Check
	if !ok {
		c = summary.Check{Passed: false, Summary: fmt.Sprintf("no evaluator for check kind %q in this build", g.Kind)}
	} else {
		c = k.evaluate(g.Spec, run)
	}
	c.Name, c.Kind = g.Name, g.Kind
	if g.Spec != nil {
		c.Description = g.Spec.Describe()
	}
	return c
}

// EvaluateAll judges every gate, in order.
func EvaluateAll(gates []scenarios.Gate, run *summary.Run) []summary.Check {
	out := make([]summary.Check, 0, len(gates))
	for _, g := range gates {
		out = append(out, Evaluate(g, run))
	}
	return out
}

// AllPassed reports whether every check passed.
func AllPassed(cs []summary.Check) bool {
	for _, c := range cs {
		if !c.Passed {
			return false
		}
	}
	return true
}

func selectStreams(run *summary.Run, names []string) []summary.Stream {
	if len(names) == 0 {
		return run.Streams
	}
	var out []summary.Stream
	for _, s := range run.Streams {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// phasesWith lists the indexes of the phases where a stream's statistics satisfy pred.
func phasesWith(s summary.Stream, pred func(summary.Stats) bool) []int {
	var out []int
	for i, ps := range s.PerPhase {
		if pred(ps) {
			out = append(out, i)
		}
	}
	return out
}

// blame adds the named phases to the steps a check blames, once each, in timeline order.
func blame(c *summary.Check, run *summary.Run, phases []int) {
	for _, i := range phases {
		if i < 0 || i >= len(run.Phases) {
			continue
		}
		name := run.Phases[i].Name
		if !slices.Contains(c.Steps, name) {
			c.Steps = append(c.Steps, name)
		}
	}
	sort.SliceStable(c.Steps, func(a, b int) bool { return run.PhaseIndex(c.Steps[a]) < run.PhaseIndex(c.Steps[b]) })
}

// phaseAt is the index of the phase that was running at atMs: the last one begun by then (-1 before the
// first).
func phaseAt(run *summary.Run, atMs float64) int {
	idx := -1
	for i, p := range run.Phases {
		if p.StartMs <= atMs && p.Ran() {
			idx = i
		}
	}
	return idx
}

// failuresByPhase says where a stream's failures happened: "upgrade: 45 (HTTP 503 ×45)".
func failuresByPhase(run *summary.Run, s summary.Stream) []string {
	expected := expectStrings(s.Expect)
	var out []string
	for i, ps := range s.PerPhase {
		if ps.Failures == 0 || i >= len(run.Phases) {
			continue
		}
		var codes []string
		for code, n := range ps.Codes {
			if !slices.Contains(expected, code) {
				label := "HTTP " + code
				if code == "0" {
					label = "transport error"
				}
				codes = append(codes, fmt.Sprintf("%s ×%d", label, n))
			}
		}
		sort.Strings(codes)
		out = append(out, fmt.Sprintf("%s: %s during %q (%s)", s.Name, plural(ps.Failures, "failure"), run.Phases[i].Name, strings.Join(codes, ", ")))
	}
	return out
}

func expectStrings(codes []int) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = fmt.Sprint(c)
	}
	return out
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func noUnexpectedStatus(g *scenarios.NoUnexpectedStatus, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	var requests, failures int64
	for _, s := range selectStreams(run, g.Streams) {
		requests += s.Totals.Requests
		failures += s.Totals.Failures
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %d requests, %d unexpected (expected status %v)", s.Name, s.Totals.Requests, s.Totals.Failures, s.Expect))
		if s.Totals.Failures > 0 {
			c.Passed = false
			c.Evidence = append(c.Evidence, failuresByPhase(run, s)...)
			c.Failures = append(c.Failures, s.FirstFailures...)
			blame(&c, run, phasesWith(s, func(ps summary.Stats) bool { return ps.Failures > 0 }))
		}
	}
	if requests == 0 {
		c.Passed = false
		c.Summary = "no requests were measured: nothing shows the upgrade was free of errors"
		return c
	}
	c.Summary = fmt.Sprintf("%s unexpected out of %d requests", plural(failures, "response"), requests)
	return c
}

func maxErrorRatio(g *scenarios.MaxErrorRatio, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	worst := 0.0
	for _, s := range selectStreams(run, g.Streams) {
		ratio := 0.0
		if s.Totals.Requests > 0 {
			ratio = float64(s.Totals.Failures) / float64(s.Totals.Requests)
		}
		worst = max(worst, ratio)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %d/%d failed = %.4f%%", s.Name, s.Totals.Failures, s.Totals.Requests, ratio*100))
		if ratio > g.Max {
			c.Passed = false
			c.Failures = append(c.Failures, s.FirstFailures...)
			blame(&c, run, phasesWith(s, func(ps summary.Stats) bool { return ps.Failures > 0 }))
		}
	}
	c.Summary = fmt.Sprintf("worst error ratio %.4f%% (limit %.4f%%)", worst*100, g.Max*100)
	return c
}

func maxConsecutive(g *scenarios.MaxConsecutiveFailures, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	var worst int64
	for _, s := range selectStreams(run, g.Streams) {
		worst = max(worst, s.MaxConsecutiveFailures)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: longest run of failures %d", s.Name, s.MaxConsecutiveFailures))
		if s.MaxConsecutiveFailures > int64(g.Max) {
			c.Passed = false
			c.Failures = append(c.Failures, s.FirstFailures...)
			// The steps whose own runs are too long; a run that only crosses a step boundary blames every
			// step it touched.
			over := phasesWith(s, func(ps summary.Stats) bool { return ps.MaxConsecutiveFailures > int64(g.Max) })
			if len(over) == 0 {
				over = phasesWith(s, func(ps summary.Stats) bool { return ps.Failures > 0 })
			}
			blame(&c, run, over)
			for _, i := range over {
				if i < len(run.Phases) {
					c.Evidence = append(c.Evidence, fmt.Sprintf("%s during %q: %d in a row over %.1fs (by send time)", s.Name, run.Phases[i].Name, s.PerPhase[i].MaxConsecutiveFailures, s.PerPhase[i].LongestBurstMs/1000))
				}
			}
		}
	}
	c.Summary = fmt.Sprintf("longest run of consecutive failures %d (limit %d)", worst, g.Max)
	return c
}

func latencyP99(g *scenarios.LatencyP99, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	limit := float64(g.Max.D().Microseconds()) / 1000
	worst, worstWhere := 0.0, ""
	for _, s := range selectStreams(run, g.Streams) {
		for i, ps := range s.PerPhase {
			if i >= len(run.Phases) || ps.Requests == 0 {
				continue
			}
			name := run.Phases[i].Name
			if len(g.Steps) > 0 && !slices.Contains(g.Steps, name) {
				continue
			}
			if ps.Latency.P99 > worst {
				worst, worstWhere = ps.Latency.P99, fmt.Sprintf("%s during %q", s.Name, name)
			}
			if ps.Latency.P99 > limit {
				c.Passed = false
				blame(&c, run, []int{i})
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s during %q: p99 %.1f ms > %.1f ms", s.Name, name, ps.Latency.P99, limit))
			}
		}
	}
	if worstWhere == "" {
		if run.OnlySkipped(g.Steps) {
			c.SkippedSteps(g.Steps)
			return c
		}
		c.Summary = "no requests in the selected steps"
		c.Passed = false
		return c
	}
	c.Summary = fmt.Sprintf("worst p99 %.1f ms (%s), limit %.1f ms", worst, worstWhere, limit)
	return c
}

func stepsSucceeded(g *scenarios.StepsSucceeded, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	var steps, bad int
	var notRun, stalled []string
	for i, p := range run.Phases {
		if !p.IsStep() || p.Outcome == summary.OutcomeRunning {
			// Mid-run, the check step itself is still running: it is judged by its own outcome.
			continue
		}
		switch {
		case p.Outcome == summary.OutcomeSkipped:
			// Not taken on purpose (its when): neither succeeded nor failed.
			c.Evidence = append(c.Evidence, fmt.Sprintf("step %q skipped: %s", p.Name, p.Error))
			continue
		case run.Decided(i):
			// Its failure chose the branch the run then took: the verdict says so ("rolled back").
			c.Evidence = append(c.Evidence, fmt.Sprintf("step %q %s and decided the branch: %s", p.Name, p.Outcome, p.Error))
			continue
		}
		if p.Kind != string(timeline.KindStep) && !g.IncludeSetupAndTeardown {
			if p.Outcome != summary.OutcomePassed {
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s step %q %s (not judged: includeSetupAndTeardown is off)", p.Kind, p.Name, p.Outcome))
			}
			continue
		}
		steps++
		if p.Outcome == summary.OutcomePassed {
			continue
		}
		bad++
		c.Passed = false
		msg := fmt.Sprintf("step %q %s", p.Name, p.Outcome)
		if p.Error != "" {
			msg += ": " + p.Error
		}
		if p.Ran() {
			// Why, when the cluster's own record says: an admission webhook that could not answer.
			for _, why := range StalledBy(run, i) {
				msg += "; " + why
				stalled = append(stalled, p.Name+": "+why)
			}
		}
		c.Evidence = append(c.Evidence, msg)
		if !p.Ran() {
			// A step that never started did not fail: the run's outcome is attributed to the step that
			// failed or was interrupted, and this one is listed as not run.
			notRun = append(notRun, p.Name)
			continue
		}
		c.Steps = append(c.Steps, p.Name)
	}
	if run.Interrupted {
		c.Passed = false
		c.Evidence = append(c.Evidence, "the run was interrupted before every step ran")
	}
	if steps == 0 {
		c.Passed = false
		c.Summary = "no step has finished: nothing shows that the steps succeeded"
		return c
	}
	c.Summary = fmt.Sprintf("%d of %d steps succeeded", steps-bad, steps)
	if len(notRun) > 0 {
		c.Summary += fmt.Sprintf("; %d not run (%s)", len(notRun), strings.Join(notRun, ", "))
	}
	if len(stalled) > 0 {
		c.Summary += "; " + strings.Join(stalled, "; ")
	}
	return c
}

// ObservationKey names the observations of a Service's address.
func ObservationKey(g *scenarios.GatewayAddressStable) string {
	return "service-address/" + g.Namespace + "/" + g.Service
}

// EndpointsObservationKey names the observations of a Service's ready endpoints (a count).
func EndpointsObservationKey(g *scenarios.GatewayAddressStable) string {
	return "service-ready-endpoints/" + g.Namespace + "/" + g.Service
}

// Absent is the value observers record while a watched object does not exist.
const Absent = "absent"

// AddressStable judges gatewayAddressStable from the observations of the Service (registered, with its
// observer, by the package that watches the Service).
func AddressStable(g *scenarios.GatewayAddressStable, run *summary.Run) summary.Check {
	obs := run.Observations[ObservationKey(g)]
	c := summary.Check{Passed: true}
	if len(obs) == 0 {
		c.Passed = false
		c.Summary = fmt.Sprintf("Service %s/%s was never observed", g.Namespace, g.Service)
		return c
	}
	distinct := map[string]bool{}
	absent := 0
	// The steps an address problem is blamed on: where each change happened, and where the Service was
	// first seen absent.
	var changedIn []int
	for i, o := range obs {
		distinct[o.Value] = true
		p := phaseAt(run, o.AtMs)
		where := ""
		if p >= 0 {
			where = fmt.Sprintf(" (during %q)", run.Phases[p].Name)
		}
		c.Evidence = append(c.Evidence, fmt.Sprintf("at %.1fs%s: %s", o.AtMs/1000, where, o.Value))
		if o.Value == Absent {
			absent++
		}
		if i > 0 || o.Value == Absent {
			changedIn = append(changedIn, p)
		}
	}
	// Ready endpoints behind the address: never zero while traffic ran. (Observed when the harness watches
	// EndpointSlices; a run record without them is judged on the address alone.)
	epObs := run.Observations[EndpointsObservationKey(g)]
	var noEndpoints []string
	var noEndpointsIn []int
	for _, o := range epObs {
		if o.Value != "0" {
			continue
		}
		p := phaseAt(run, o.AtMs)
		noEndpointsIn = append(noEndpointsIn, p)
		where := ""
		if p >= 0 {
			where = fmt.Sprintf(" during %q", run.Phases[p].Name)
		}
		noEndpoints = append(noEndpoints, fmt.Sprintf("%.1fs%s", o.AtMs/1000, where))
	}
	if len(epObs) > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("ready endpoints: %s", observedValues(epObs)))
	}
	switch {
	case absent > 0:
		c.Passed = false
		blame(&c, run, changedIn)
		c.Summary = fmt.Sprintf("Service %s/%s was absent %d time(s): clients had no address to call", g.Namespace, g.Service, absent)
	case len(distinct) > 1:
		c.Passed = false
		blame(&c, run, changedIn)
		c.Summary = fmt.Sprintf("the address of Service %s/%s changed %d time(s)", g.Namespace, g.Service, len(obs)-1)
	case len(noEndpoints) > 0:
		c.Passed = false
		blame(&c, run, noEndpointsIn)
		c.Summary = fmt.Sprintf("Service %s/%s kept its address but had no ready endpoint at %s", g.Namespace, g.Service, strings.Join(noEndpoints, ", "))
	default:
		c.Summary = fmt.Sprintf("Service %s/%s kept %s", g.Namespace, g.Service, obs[0].Value)
		if len(epObs) > 0 {
			c.Summary += fmt.Sprintf(" with ready endpoints throughout (%s)", observedValues(epObs))
		}
	}
	return c
}

func observedValues(obs []summary.Observation) string {
	vals := make([]string, len(obs))
	for i, o := range obs {
		vals[i] = o.Value
	}
	return strings.Join(vals, " → ")
}
