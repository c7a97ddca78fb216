// Package runner is the step runner: it carries out a scenario's steps in order on the rehearsal's timeline,
// each with its own timeout and context, stops at the first failure unless the step says continueOnError,
// and records what every step did (outcome, output, changes, diagnostics) in typed results.
//
// What a step does is the executor registered with its action kind (Register, in the package that carries the
// action out); the runner knows no action itself.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Env is what an executor gets besides its context: the step, where its output goes, and the run so far.
// It is a typed struct rather than context values so that what a step may use is visible in one place.
type Env struct {
	Scenario *scenarios.Scenario
	Step     *scenarios.Step
	// Output collects the step's output for the report.
	Output io.Writer
	// Snapshot returns the run as measured so far (check steps judge it).
	Snapshot func() *summary.Run
	// Clusters are the run's clusters; Cluster() is the one the step names.
	Clusters *cluster.Set
	// Readers read what pods and istiod serve (nil fields: the real way).
	Readers Readers
	// Processes records the process groups the step starts (the run's, killed when it ends).
	Processes *Processes
	// Timeline is the run's clock: a disruption opens its window on it.
	Timeline *timeline.Timeline
	// Background keeps what the step leaves running after it ends (a disruption over the next steps).
	Background *Background

	mu          sync.Mutex
	changes     []string
	diagnostics []string
	checks      []summary.Check
}

// Judged records a gate a check step evaluated: it joins the run's checks, so a failed mid-run check fails
// the run's verdict like a final one.
func (e *Env) Judged(c summary.Check) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checks = append(e.checks, c)
}

// Changed records something the step changed ("namespace demo-a: label istio.io/rev: 1-29 → 1-30").
func (e *Env) Changed(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.changes = append(e.changes, fmt.Sprintf(format, args...))
}

// Diagnose records evidence gathered about a failure (events, pod logs).
func (e *Env) Diagnose(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.diagnostics = append(e.diagnostics, fmt.Sprintf(format, args...))
}

// Cluster returns the cluster the step acts on (the first one when the step names none).
func (e *Env) Cluster() (*cluster.Cluster, error) {
	if e.Clusters == nil {
		return nil, errors.New("this run has no clusters: the scenario lists none under clusters")
	}
	return e.Clusters.Get(e.Step.Cluster)
}

// Readers read what pods and istiod serve over HTTP. A nil field is read the real way (through the API
// server's pod proxy, or a port-forward for istiod's localhost-only debug endpoints); tests set loopback
// stand-ins, because a test control plane's pod IPs lead off this machine.
type Readers struct {
	// IstiodMetrics reads an istiod pod's :15014/metrics (pilot_xds).
	IstiodMetrics cluster.PodReader
	// IstiodConnections reads an istiod pod's /debug/connections.
	IstiodConnections cluster.PodReader
	// ProxyMetrics reads a workload pod's proxy metrics (:15020/stats/prometheus).
	ProxyMetrics cluster.PodReader
}

// Result is what one step did.
type Result struct {
	Name        string
	Kind        timeline.Kind
	Action      string
	Description string
	// Phase is the step's index on the timeline; -1 for a skipped step.
	Phase       int
	Outcome     string
	Err         error
	Output      string
	Changes     []string
	Diagnostics []string
	// Checks are the gates the step judged (check steps).
	Checks []summary.Check
	// When is the step's condition ("failed: health"), Decides whether a later step's condition names it.
	When    string
	Decides bool
	// Branch is set when the step ran because an earlier step failed (its when: failed): the run took the
	// other branch (a rollback).
	Branch bool
}

// Observer hears about steps as they start and end (progress lines).
type Observer interface {
	StepStarted(name string, kind timeline.Kind)
	StepFinished(r Result)
}

// Runner carries out steps.
type Runner struct {
	Scenario *scenarios.Scenario
	Timeline *timeline.Timeline
	Snapshot func() *summary.Run
	Observer Observer
	Clusters *cluster.Set
	Readers  Readers
	// Processes are the run's process groups (see Env.Processes).
	Processes *Processes
	// Background is the run's background work (see Env.Background).
	Background *Background
	// MaxOutput bounds the output kept per step.
	MaxOutput int
	// Finished, when set, receives each step's result as soon as the step ends (before the next starts), so
	// that a mid-run snapshot knows every step finished so far.
	Finished func(Result)

	// outcomes holds every finished step's outcome, across Run calls (setup, steps, teardown), for when.
	outcomes map[string]string
}

// DefaultMaxOutput is how much of a step's output the report keeps.
const DefaultMaxOutput = 64 << 10

// ErrInterrupted marks steps cut short because the run was interrupted.
var ErrInterrupted = errors.New("interrupted")

// Run carries out steps in order. After a failed step (one without continueOnError) the rest are not run;
// when ctx ends, the running step is cancelled ("interrupted") and the rest are not run. Each step not run
// says why. It returns the results and whether a step failed in a way that stops the run.
func (r *Runner) Run(ctx context.Context, steps []scenarios.Step, kind timeline.Kind) (results []Result, stopped bool) {
	if r.outcomes == nil {
		r.outcomes = map[string]string{}
	}
	why := ""
	for i := range steps {
		st := &steps[i]
		if why == "" && ctx.Err() != nil {
			why = "the run was interrupted before it started"
		}
		if why != "" {
			results = append(results, NotRun(st, kind, why))
			r.outcomes[st.Name] = summary.OutcomeNotRun
			continue
		}
		if skip := r.notTaken(st); skip != "" {
			res := NotRun(st, kind, skip)
			res.Outcome = summary.OutcomeSkipped
			results = append(results, res)
			r.outcomes[st.Name] = res.Outcome
			if r.Observer != nil {
				r.Observer.StepFinished(res)
			}
			continue
		}
		res := r.runOne(ctx, st, kind)
		res.Branch = st.When != nil && st.When.OnFailure()
		results = append(results, res)
		r.outcomes[st.Name] = res.Outcome
		switch {
		case res.Outcome == summary.OutcomeInterrupted:
			why = fmt.Sprintf("the run was interrupted during %s", st.Name)
		case st.Decides && Failed(res.Outcome):
			// Its failure is the decision a later step's when waits for, not the end of the run.
		case res.Outcome != summary.OutcomePassed && !st.ContinueOnError:
			stopped = true
			why = fmt.Sprintf("step %s %s", st.Name, res.Outcome)
		}
	}
	return results, stopped
}

// Failed reports whether an outcome is the step's own failure (failed or timed out): what when: failed
// means. Interrupted, error, skipped and not run are not: they decide nothing about the target.
func Failed(outcome string) bool {
	return outcome == summary.OutcomeFailed || outcome == summary.OutcomeTimedOut
}

// notTaken says why a conditional step is skipped ("" when it runs).
func (r *Runner) notTaken(st *scenarios.Step) string {
	w := st.When
	if w == nil {
		return ""
	}
	got := r.outcomes[w.Step()]
	switch {
	case w.OnFailure() && Failed(got), !w.OnFailure() && got == summary.OutcomePassed:
		return ""
	case got == "":
		got = "did not run"
	}
	return fmt.Sprintf("not taken: runs only if %s %s, and it %s", w.Step(), w.Outcome(), got)
}

// ErrHarness marks a step error that is canarygate's own (an action that panicked, no executor): the step's
// outcome is "error" and the run's verdict "error" (exit 3) — it says nothing about the target.
var ErrHarness = errors.New("harness error")

// NotRun is the result of a step that never started, and why.
func NotRun(st *scenarios.Step, kind timeline.Kind, why string) Result {
	return Result{Name: st.Name, Kind: kind, Action: st.Kind, Description: st.Action.Describe(), Phase: -1,
		Outcome: summary.OutcomeNotRun, Err: errors.New(why), When: when(st), Decides: st.Decides}
}

func when(st *scenarios.Step) string {
	if st.When == nil {
		return ""
	}
	return st.When.String()
}

func (r *Runner) runOne(parent context.Context, st *scenarios.Step, kind timeline.Kind) Result {
	res := Result{Name: st.Name, Kind: kind, Action: st.Kind, Description: st.Action.Describe(), When: when(st), Decides: st.Decides}
	// The phase begins before anyone hears of it: a stream that starts with this step (scenarios.Stream.From)
	// sends its first request inside the step's phase.
	res.Phase = r.Timeline.Begin(st.Name, kind)
	if r.Observer != nil {
		r.Observer.StepStarted(st.Name, kind)
	}
	maxOut := r.MaxOutput
	if maxOut <= 0 {
		maxOut = DefaultMaxOutput
	}
	out := &boundedBuffer{max: maxOut}
	env := &Env{Scenario: r.Scenario, Step: st, Output: out, Snapshot: r.Snapshot, Clusters: r.Clusters, Readers: r.Readers, Processes: r.Processes,
		Timeline: r.Timeline, Background: r.Background}

	ctx, cancel := context.WithTimeout(parent, st.Timeout.D())
	defer cancel()
	var err error
	if ex, ok := executors[st.Kind]; !ok {
		err = fmt.Errorf("%w: no executor for action kind %q in this build", ErrHarness, st.Kind)
	} else {
		err = safeExecute(ctx, ex, env)
	}
	switch {
	case err == nil:
		res.Outcome = summary.OutcomePassed
	case parent.Err() != nil:
		// Not the step's failure: the run was stopped while it ran.
		res.Outcome = summary.OutcomeInterrupted
		err = ErrInterrupted
	case errors.Is(err, ErrHarness):
		res.Outcome = summary.OutcomeError
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Outcome = summary.OutcomeTimedOut
		err = fmt.Errorf("timed out after %s: %w", st.Timeout, err)
	default:
		res.Outcome = summary.OutcomeFailed
	}
	res.Err = err
	res.Output = out.String()
	env.mu.Lock()
	res.Changes, res.Diagnostics, res.Checks = env.changes, env.diagnostics, env.checks
	env.mu.Unlock()
	if r.Finished != nil {
		r.Finished(res)
	}
	if r.Observer != nil {
		r.Observer.StepFinished(res)
	}
	return res
}

// safeExecute turns an executor's panic into the step's failure: one broken action must not lose the
// measurements of the whole run.
func safeExecute(ctx context.Context, ex executor, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: action panicked: %v", ErrHarness, p)
		}
	}()
	return ex(ctx, env)
}

// boundedBuffer keeps the first max bytes written and counts the rest.
type boundedBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf = append(b.buf, p[:room]...)
	}
	b.dropped += len(p) - max(room, 0)
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return string(b.buf) + fmt.Sprintf("\n… %d more bytes not kept", b.dropped)
	}
	return string(b.buf)
}
