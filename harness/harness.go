// Package harness runs one rehearsal: it starts the scenario's traffic, lets the step runner carry out the
// steps on the same timeline, stops the traffic, runs teardown, judges the gates and writes every report —
// also when a step failed, the harness hit an error or the run was interrupted, so that what was measured is
// never lost.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/base/ctxcall"
	"github.com/canarygate/canarygate/base/shutdown"
	_ "github.com/canarygate/canarygate/builtin" // every shipped action and gate
	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/loadgen"
	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Options configure a run. The zero value runs the core actions and writes the scenario's reports.
type Options struct {
	// OutDir overrides the scenario's report.dir.
	OutDir string
	// Formats overrides the scenario's report.formats.
	Formats []string
	// Version is the canarygate version written into the summary.
	Version string
	// Readers replace how steps read pods and istiod (tests: loopback stand-ins); nil fields read the real way.
	Readers runner.Readers
	// GeneratorSource replaces how in-mesh generator pods are pulled (tests: loopback stand-ins, as a test
	// control plane's pod addresses lead off the machine); nil pulls through the API server's pod proxy.
	GeneratorSource SourceFor
	// InMeshOptions are passed to every in-mesh stream (pull interval, drain wait).
	InMeshOptions []meshload.Option
	// Observer hears about steps starting and ending.
	Observer runner.Observer
	// Tick, when set, is called about once a second with the live status.
	Tick func(summary.Live)
	// StepSummary, when set, is a file the markdown summary is appended to (GitHub's $GITHUB_STEP_SUMMARY).
	StepSummary string
	// LoadOptions are passed to the load generator.
	LoadOptions []loadgen.Option
	// Policy loosens Istio's version rules (policy.Resolve runs before anything else: an unsupported jump is
	// bad input, ErrPolicy; kind clusters without a node image get the one their Istio versions support).
	Policy policy.Options
	// ProviderOptions configure the registered providers (cluster.RegisterProvider) that provision the
	// scenario's clusters; Providers, by name, replace them (tests).
	ProviderOptions cluster.ProviderOptions
	// Providers provision the scenario's clusters by provider name ("existing", "kind"). The clusters are
	// provisioned before traffic starts and released after teardown.
	Providers map[string]cluster.Provider
	// Log receives lines about provisioning clusters.
	Log func(format string, args ...any)
	// AllowDisruption lets disrupt steps act on clusters of provider existing (run --allow-disruption); the
	// scenario must say so too (the cluster's allowDisruption).
	AllowDisruption bool
	// Abort, when set, receives the last actions for an exit at once (a second signal): write the reports of
	// what was measured so far and kill what steps started.
	Abort *shutdown.Hooks
	// RunID labels what the run creates in clusters (meshload.RunLabel); "" makes one (NewRunID).
	RunID string
}

// NewRunID makes a run's ID: its start time to the second and 4 random hex digits (two runs started in the
// same second differ), a valid label value.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// observations collects what observers recorded, on the run's timeline.
type observations struct {
	mu  sync.Mutex
	tl  *timeline.Timeline
	got map[string][]summary.Observation
	err error
}

func (o *observations) record(key, value string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.got == nil {
		o.got = map[string][]summary.Observation{}
	}
	o.got[key] = append(o.got[key], summary.Observation{AtMs: summary.Ms(o.tl.Now()), Value: value})
}

// snapshot copies what was observed so far.
func (o *observations) snapshot() map[string][]summary.Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.got == nil {
		return nil
	}
	out := make(map[string][]summary.Observation, len(o.got))
	for k, v := range o.got {
		out[k] = append([]summary.Observation(nil), v...)
	}
	return out
}

// reportOnce writes a run's reports once: at the end of the run, or earlier when the process is about to exit
// at once — whichever comes first; the other finds them written.
type reportOnce struct {
	mu   sync.Mutex
	done bool
}

func (o *reportOnce) write(fn func() error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return nil
	}
	o.done = true
	return fn()
}

// finishedSteps holds the results of the steps finished so far, for mid-run snapshots.
type finishedSteps struct {
	mu      sync.Mutex
	results []runner.Result
}

func (f *finishedSteps) add(r runner.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = append(f.results, r)
}

func (f *finishedSteps) list() []runner.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runner.Result(nil), f.results...)
}

// start runs every observer the scenario's gates need; stop ends them and waits.
func (o *observations) start(ctx context.Context, sc *scenarios.Scenario, clusters *cluster.Set) (stop func()) {
	octx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, g := range sc.Checks {
		fn, ok := checks.ObserverFor(g.Kind)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(octx, g, clusters, o.record); err != nil {
				o.mu.Lock()
				o.err = errors.Join(o.err, fmt.Errorf("observe %s: %w", g.Name, err))
				o.mu.Unlock()
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// ErrProvision marks a cluster that could not be provisioned (an infrastructure error).
var ErrProvision = errors.New("provision cluster")

// provision brings up every cluster of the scenario; on error, what was provisioned is released.
func provision(ctx context.Context, sc *scenarios.Scenario, opts Options) (*cluster.Set, func(failed bool), error) {
	var got []*cluster.Cluster
	var providers []cluster.Provider
	release := func(failed bool) {
		for i := len(got) - 1; i >= 0; i-- {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			if err := providers[i].Release(rctx, got[i], failed); err != nil && opts.Log != nil {
				opts.Log("release cluster %s: %v", got[i].Name, err)
			}
			cancel()
		}
	}
	for _, spec := range sc.Clusters {
		p, ok := opts.Providers[spec.Provider]
		if !ok {
			p, ok = cluster.NewProvider(spec.Provider, opts.ProviderOptions)
		}
		if !ok {
			release(true)
			return nil, nil, fmt.Errorf("%w %s: no provider %q in this build", ErrProvision, spec.Name, spec.Provider)
		}
		if opts.Log != nil {
			opts.Log("cluster %s: provisioning (%s)", spec.Name, spec.Provider)
		}
		c, err := p.Provision(ctx, spec)
		if err != nil {
			release(true)
			return nil, nil, fmt.Errorf("%w %s: %w", ErrProvision, spec.Name, err)
		}
		got = append(got, c)
		providers = append(providers, p)
	}
	return cluster.NewSet(got...), release, nil
}

// Result is a finished (or cut short) run.
type Result struct {
	Run *summary.Run
	// Dir is where the reports were written.
	Dir string
}

// ErrPolicy is returned before anything runs when the scenario breaks Istio's version rules (package
// policy): bad input, like a scenario that does not parse.
var ErrPolicy = errors.New("scenario breaks Istio's version rules")

// ErrNotRunnable is returned before anything runs when the scenario, valid as it is, cannot run on this
// machine (scenarios.Scenario.NotRunnable: a step's command not on PATH): bad input.
var ErrNotRunnable = errors.New("scenario cannot run on this machine")

// ErrDisruptionNotAllowed is returned before anything runs when a disrupt step acts on a cluster of provider
// existing and the run was not given AllowDisruption: bad input, refused before anything starts.
var ErrDisruptionNotAllowed = errors.New("disruption of an existing cluster not allowed")

// ErrPreflight is returned after setup, before the load starts, when a gate's outside system (the user's
// Prometheus) could not be asked: an error of the run's surroundings (exit 3), not a verdict.
var ErrPreflight = errors.New("a gate's query could not be asked before the load")

// ErrMissingExecutor is returned before anything runs when a scenario uses an action kind this build cannot run.
var ErrMissingExecutor = errors.New("no executor for action kind")

// Run carries out the scenario in named stages — prepare, provision, setup, traffic (warm-up, steps,
// cool-down), teardown, judge, write — and returns the run (with its verdict) whenever traffic could start;
// the error is a harness or report-writing failure, not a failed gate.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (*Result, error) {
	reh, err := prepare(sc, opts)
	if err != nil {
		return nil, err
	}
	clusters, release, err := provision(ctx, sc, opts)
	if err != nil {
		return nil, err
	}
	runFailed := true
	defer func() { release(runFailed) }()
	if err := reh.start(clusters); err != nil {
		return nil, err
	}
	if len(reh.inMeshStreams) > 0 && opts.Log != nil {
		opts.Log("run %s: what it deploys is labelled %s=%s ('canarygate cleanup --run %s' removes what a killed run left)",
			reh.runID, meshload.RunLabel, reh.runID, reh.runID)
	}
	// Whatever happens, no process a step started outlives the run.
	defer reh.procs.KillAll()
	defer opts.Abort.Add(reh.abort)()

	if reh.setup(ctx) {
		// A gate asked of a system outside the run (the user's Prometheus) is asked once before the load
		// starts: a query refused is bad input, a system that does not answer an error — found before
		// anything is measured, and the teardown still runs.
		if err := checks.Preflight(ctx, sc.Checks); err != nil {
			reh.teardown(ctx)
			_ = reh.sink.Close()
			if errors.Is(err, scenarios.ErrBadQuery) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", ErrPreflight, err)
		}
		reh.traffic(ctx)
	}
	reh.teardown(ctx)
	run := reh.judge(ctx)
	runFailed = run.Verdict != summary.VerdictPass
	out := &Result{Run: run, Dir: reh.dir}
	if err := reh.write(run); err != nil {
		return out, err
	}
	return out, reh.harnessErr
}

// rehearsal is one run's state, shared by its stages.
type rehearsal struct {
	sc      *scenarios.Scenario
	opts    Options
	runID   string
	dir     string
	formats []string

	tl      *timeline.Timeline
	agg     *aggregate.Aggregate
	targets []loadgen.Target
	// inMeshStreams run from generator pods in a cluster (inmesh.go); their calls per revision pair are
	// tallied in inMeshTallies, by stream.
	inMeshStreams []scenarios.Stream
	mu            sync.Mutex
	inMeshTallies map[string]*aggregate.InMeshPairs
	sink          resultSink
	results       string // the results file's path, when written
	clusters      *cluster.Set
	runner        *runner.Runner
	// procs are the process groups this run's steps started.
	procs    *runner.Processes
	finished *finishedSteps
	observed *observations
	reports  reportOnce

	// clock holds the streams on their own clock (a start step, a fixed duration).
	clock ownClock
	// steps are the results of every step (setup, steps, teardown), skipped ones included.
	steps []runner.Result
	// harnessErr is what spoiled the measurement on the harness's side: the verdict is then "error".
	harnessErr error
}

// prepare checks what the scenario needs of this build and creates the report directory.
func prepare(sc *scenarios.Scenario, opts Options) (*rehearsal, error) {
	if err := policy.Resolve(sc, opts.Policy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if len(sc.NotRunnable) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrNotRunnable, &scenarios.NotRunnableError{File: sc.File, Problems: sc.NotRunnable})
	}
	if ex := sc.ExistingDisrupted(); len(ex) > 0 && !opts.AllowDisruption {
		return nil, fmt.Errorf("%w: disrupt steps act on cluster(s) %s of provider existing: pass --allow-disruption to rehearse faults there", ErrDisruptionNotAllowed, strings.Join(ex, ", "))
	}
	if missing := runner.Missing(sc); len(missing) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrMissingExecutor, missing)
	}
	r := &rehearsal{sc: sc, opts: opts, procs: &runner.Processes{}, dir: sc.Report.Dir, formats: sc.Report.Formats, sink: discard{},
		runID: opts.RunID}
	if r.runID == "" {
		r.runID = NewRunID(time.Now())
	}
	if opts.OutDir != "" {
		r.dir = opts.OutDir
	}
	if len(opts.Formats) > 0 {
		r.formats = opts.Formats
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create report directory: %w", err)
	}
	return r, nil
}

// start builds the timeline, the aggregate, the results file and the step runner.
func (r *rehearsal) start(clusters *cluster.Set) error {
	sc := r.sc
	r.clusters = clusters
	r.tl = timeline.New()
	specs := make([]aggregate.StreamSpec, 0, len(sc.Traffic.Streams))
	for _, st := range sc.Traffic.Streams {
		if st.InMesh != nil {
			// The generators keep their own schedules, in their pods: each is judged from its results (inMesh),
			// not here against the stream's whole rate.
			specs = append(specs, aggregate.StreamSpec{Name: st.Name, Method: st.Method, URL: st.URL, Rate: st.Rate.String(), Expect: st.Expect,
				AskedRPS: st.Rate.PerSecond()})
			r.inMeshStreams = append(r.inMeshStreams, st)
			continue
		}
		specs = append(specs, aggregate.StreamSpec{Name: st.Name, Method: st.Method, URL: st.URL, Rate: st.Rate.String(), Expect: st.Expect,
			Interval: st.Rate.Interval(), AskedRPS: st.Rate.PerSecond()})
		h := http.Header{}
		for k, v := range st.Headers {
			h.Set(k, v)
		}
		t := loadgen.Target{
			Name: st.Name, Method: st.Method, URL: st.URL, Header: h, Body: []byte(st.Body),
			Rate: vegeta.Rate{Freq: st.Rate.Freq, Per: st.Rate.Per}, Timeout: st.Timeout.D(),
			MaxWorkers: uint64(st.MaxWorkers), Connections: st.Connections, MaxConnections: st.MaxConnections,
			NoKeepAlive: !st.KeepsAlive(), Duration: st.Duration.D(),
		}
		if st.From != "" {
			t.Start = r.clock.startWith(st.From)
		}
		if st.Duration > 0 {
			done := make(chan struct{})
			t.Done = done
			r.clock.fixed = append(r.clock.fixed, fixedStream{start: t.Start, done: done})
		}
		r.targets = append(r.targets, t)
	}
	r.agg = aggregate.New(r.tl, specs)
	if slices.Contains(r.formats, scenarios.FormatVegeta) {
		r.results = filepath.Join(r.dir, summary.ResultsFileName)
		f, err := report.NewResultsFile(r.results)
		if err != nil {
			return err
		}
		r.sink = f
	}
	r.finished = &finishedSteps{}
	r.observed = &observations{tl: r.tl}
	r.runner = &runner.Runner{Scenario: sc, Timeline: r.tl, Snapshot: r.live, Observer: clockObserver{clock: &r.clock, next: r.opts.Observer},
		Clusters: clusters, Readers: r.opts.Readers, Processes: r.procs, Finished: r.finished.add}
	return nil
}

// live is the run so far, for check steps: every step finished before (with its outcome), the traffic and
// the observations up to now — the same record the final gates read, only shorter.
func (r *rehearsal) live() *summary.Run {
	run := build(r.sc, r.tl, r.agg, r.finished.list(), r.opts.Version)
	run.RunID = r.runID
	r.fillInMesh(run)
	run.Observations = r.observed.snapshot()
	return run
}

// abort is the last action of an exit at once: kill the steps' processes, write what was measured.
func (r *rehearsal) abort() {
	r.procs.KillAll()
	err := r.reports.write(func() error {
		run := r.live()
		run.Interrupted, run.Verdict = true, summary.VerdictInterrupted
		run.Error = "exited at once on a second signal: the reports show what was measured until then"
		run.Checks = checks.EvaluateAll(r.sc.Checks, run)
		if err := r.sink.Flush(); err == nil && r.results != "" {
			run.ResultsFile = summary.ResultsFileName
		}
		return report.WriteAll(r.dir, run, report.Config{Formats: r.formats, StepSummary: r.opts.StepSummary})
	})
	if err != nil && r.opts.Log != nil {
		// The process exits next: saying it is all that is left to do.
		r.opts.Log("writing the reports before exiting: %v", err)
	}
}

// setup runs the setup steps; it reports whether the rehearsal may start. Without its setup the rehearsal
// would measure nothing meaningful: the steps are not run, teardown still runs.
func (r *rehearsal) setup(ctx context.Context) bool {
	res, failed := r.runner.Run(ctx, r.sc.Setup, timeline.KindSetup)
	r.steps = append(r.steps, res...)
	if failed || ctx.Err() != nil {
		why := "a setup step failed"
		if ctx.Err() != nil {
			why = "the run was interrupted during setup"
		}
		r.steps = append(r.steps, notRun(r.sc.Steps, timeline.KindStep, why)...)
		_ = r.sink.Close()
		return false
	}
	return true
}

// traffic runs the load from the warm-up to the end of the cool-down, with the steps in between, and the
// gates' observers for as long.
func (r *rehearsal) traffic(ctx context.Context) {
	sc := r.sc
	r.tl.Begin(scenarios.PhaseWarmup, timeline.KindWarmup)
	stopObserving := r.observed.start(ctx, sc, r.clusters)
	stopProbing := watchReachability(ctx, r.tl, r.clusters)
	loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoad()
	// Every result is folded in where it is read — the host streams' from their attackers' goroutines, the
	// in-mesh streams' from theirs: the aggregate and the results file take their own locks.
	var sinkErr error
	var sinkMu sync.Mutex
	handle := func(res *vegeta.Result) {
		r.agg.Add(res)
		if err := r.sink.Write(res); err != nil {
			sinkMu.Lock()
			if sinkErr == nil {
				sinkErr = fmt.Errorf("write results file: %w", err)
			}
			sinkMu.Unlock()
		}
	}
	hostDone := make(chan struct{})
	go func() {
		defer close(hostDone)
		loadgen.Each(loadCtx, r.targets, handle, r.opts.LoadOptions...)
	}()
	// In-mesh streams stop when the load does, or at an interrupt; either way they drain what their
	// generators still hold before their results channel closes.
	meshCtx, stopMesh := context.WithCancel(ctx)
	defer stopMesh()
	inMeshResults, inMeshDone := r.startInMesh(meshCtx)
	consumed := make(chan error, 1)
	go func() {
		if inMeshResults != nil { // nil without in-mesh streams: ranging over it would never end
			for res := range inMeshResults {
				handle(res)
			}
		}
		<-hostDone
		sinkMu.Lock()
		defer sinkMu.Unlock()
		consumed <- sinkErr
	}()
	stopTicker := startTicker(ctx, r.tl, r.agg, r.opts.Tick)

	_ = ctxcall.Sleep(ctx, sc.Traffic.Warmup.D()) // an interrupt is the run's to report
	// Disruptions the steps leave in the background are held on the run's context: restored when their
	// window ends, at once on an interrupt — and always before the load stops and teardown runs.
	r.runner.Background = runner.NewBackground(ctx)
	if ctx.Err() == nil {
		res, _ := r.runner.Run(ctx, sc.Steps, timeline.KindStep)
		r.steps = append(r.steps, res...)
	} else {
		r.steps = append(r.steps, notRun(sc.Steps, timeline.KindStep, "the run was interrupted during the warm-up")...)
	}
	if ctx.Err() == nil {
		r.tl.Begin(scenarios.PhaseCooldown, timeline.KindCooldown)
		_ = ctxcall.Sleep(ctx, sc.Traffic.Cooldown.D())
		// Streams on their own clock run their whole duration, however soon the steps ended.
		r.clock.wait(ctx)
	}
	// A disruption still in effect is part of what the load measures: it ends before the load does.
	r.harnessErr = errors.Join(r.harnessErr, r.runner.Background.Wait())
	stopLoad()
	stopMesh()
	r.harnessErr = errors.Join(r.harnessErr, <-inMeshDone)
	stopObserving()
	stopProbing()
	r.harnessErr = errors.Join(r.harnessErr, <-consumed)
	stopTicker()
	r.agg.Close()
	// A generator that fell behind or ran out of local resources spoiled the measurement: an error, never
	// a verdict on the target.
	r.harnessErr = errors.Join(r.harnessErr, r.agg.Saturation())
	r.tl.End()
	r.harnessErr = errors.Join(r.harnessErr, r.sink.Close())
}

// teardown always runs, also after an interrupt: it is what leaves the user's cluster as it was.
func (r *rehearsal) teardown(ctx context.Context) {
	res, _ := r.runner.Run(context.WithoutCancel(ctx), r.sc.Teardown, timeline.KindTeardown)
	r.steps = append(r.steps, res...)
	r.tl.End()
}

// judge assembles the run and its verdict: mid-run checks first (in step order), then the final gates — a
// failed check step fails the verdict even when the final gates do not repeat it.
func (r *rehearsal) judge(ctx context.Context) *summary.Run {
	run := build(r.sc, r.tl, r.agg, r.steps, r.opts.Version)
	run.RunID = r.runID
	r.fillInMesh(run)
	run.Observations = r.observed.got
	r.harnessErr = errors.Join(r.harnessErr, r.observed.err)
	if ctx.Err() == nil && len(run.Phases) > 0 {
		// Gates judged from another system's data (Prometheus) ask it now, over the finished windows; an
		// interrupted run is not asked (its verdict is "interrupted" whatever they would say).
		r.harnessErr = errors.Join(r.harnessErr, checks.QueryAll(ctx, r.sc.Checks, run))
	}
	r.harnessErr = errors.Join(r.harnessErr, unobserved(r.sc, run))
	for _, st := range r.steps {
		run.Checks = append(run.Checks, st.Checks...)
		if st.Outcome == summary.OutcomeError {
			// canarygate failed, not the target: no verdict on the target.
			r.harnessErr = errors.Join(r.harnessErr, fmt.Errorf("step %s: %w", st.Name, st.Err))
		}
	}
	rolledBack := markDecisions(run)
	run.Checks = append(run.Checks, checks.EvaluateAll(r.sc.Checks, run)...)
	r.harnessErr = errors.Join(r.harnessErr, checkErrors(run.Checks))
	if c := r.sc.Compare; c != nil {
		run.Thresholds = &summary.Thresholds{P99Ratio: c.P99Ratio, P99IncreaseMs: summary.Ms(c.P99Increase.D()),
			DurationRatio: c.DurationRatio, DurationIncreaseMs: summary.Ms(c.DurationIncrease.D())}
	}
	if r.results != "" {
		run.ResultsFile = summary.ResultsFileName
	}
	run.Verdict = Verdict(ctx.Err() != nil, r.harnessErr, run.Checks)
	if rolledBack && (run.Verdict == summary.VerdictPass || run.Verdict == summary.VerdictFail && onlyBeforeTheDecision(run)) {
		// The upgrade was rolled back, and the rollback itself — every step after the decision — was clean:
		// what failed, failed before (and is why it rolled back).
		run.Verdict = summary.VerdictRolledBack
	}
	run.Interrupted = run.Verdict == summary.VerdictInterrupted
	if run.Verdict == summary.VerdictError {
		run.Error = r.harnessErr.Error()
	}
	return run
}

// checkErrors joins the checks the harness could not judge through its own fault: no verdict on the target.
func checkErrors(cs []summary.Check) error {
	var errs []error
	for _, c := range cs {
		if c.Error != "" {
			errs = append(errs, fmt.Errorf("check %s: %s", c.Name, c.Error))
		}
	}
	return errors.Join(errs...)
}

// markDecisions marks the failed checks of every step whose failure decided the run's branch (a when:
// failed step ran) as decisions, and says which step decided in run.DecidedBy; it reports whether the run
// took a failure branch.
func markDecisions(run *summary.Run) bool {
	var decided []string
	for i, p := range run.Phases {
		if !run.Decided(i) {
			continue
		}
		why := p.Name + " " + p.Outcome
		if p.Error != "" {
			why += ": " + p.Error
		}
		decided = append(decided, why)
		for j := range run.Checks {
			if run.Checks[j].Phase == p.Name && !run.Checks[j].Passed {
				run.Checks[j].Decision = true
			}
		}
	}
	run.DecidedBy = strings.Join(decided, "; ")
	return len(decided) > 0
}

// onlyBeforeTheDecision reports whether every failed check (decisions aside) blames only steps up to the
// last one that decided a branch: the failures that led to the rollback, none during it. A failed check
// that blames no step cannot be placed, so it is not.
func onlyBeforeTheDecision(run *summary.Run) bool {
	last := -1
	for i := range run.Phases {
		if run.Decided(i) {
			last = i
		}
	}
	for _, c := range run.Checks {
		if c.Passed || c.Decision {
			continue
		}
		if len(c.Steps) == 0 {
			return false
		}
		for _, st := range c.Steps {
			if i := run.PhaseIndex(st); i < 0 || i > last {
				return false
			}
		}
	}
	return true
}

// Verdict maps what happened to the run's verdict, in this order: an interrupted run is "interrupted"; a
// run the harness itself spoiled (its own errors) is "error" whatever the gates said — its numbers may
// blame the target for the harness's fault; otherwise "pass" only when every check passed.
func Verdict(interrupted bool, harnessErr error, cs []summary.Check) string {
	switch {
	case interrupted:
		return summary.VerdictInterrupted
	case harnessErr != nil:
		return summary.VerdictError
	case checks.AllPassed(slices.DeleteFunc(slices.Clone(cs), func(c summary.Check) bool { return c.Decision })):
		// A decision's failed check chose the branch; the run is judged on everything else.
		return summary.VerdictPass
	default:
		return summary.VerdictFail
	}
}

// write writes the reports, unless an exit at once already did.
func (r *rehearsal) write(run *summary.Run) error {
	return r.reports.write(func() error {
		return report.WriteAll(r.dir, run, report.Config{Formats: r.formats, StepSummary: r.opts.StepSummary})
	})
}

func notRun(steps []scenarios.Step, kind timeline.Kind, why string) []runner.Result {
	out := make([]runner.Result, 0, len(steps))
	for i := range steps {
		out = append(out, runner.NotRun(&steps[i], kind, why))
	}
	return out
}

func startTicker(ctx context.Context, tl *timeline.Timeline, agg *aggregate.Aggregate, tick func(summary.Live)) (stop func()) {
	if tick == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastReq int64
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			req, fail := agg.Counts()
			phase := ""
			if ph := tl.Phases(); len(ph) > 0 {
				phase = ph[len(ph)-1].Name
			}
			tick(summary.Live{Phase: phase, Elapsed: tl.Now(), RPS: float64(req - lastReq), Requests: req, Failures: fail})
			lastReq = req
		}
	}()
	return func() { close(done); <-finished }
}

// build assembles the run from the timeline, the aggregate and the step results.
func build(sc *scenarios.Scenario, tl *timeline.Timeline, agg *aggregate.Aggregate, steps []runner.Result, version string) *summary.Run {
	phases := tl.Phases()
	now := tl.Now()
	run := &summary.Run{
		SchemaVersion: summary.SchemaVersion,
		Tool:          "canarygate",
		ToolVersion:   version,
		Scenario:      sc.Name,
		ScenarioFile:  sc.File,
		Description:   sc.Description,
		Started:       tl.Start().UTC().Truncate(time.Millisecond),
		DurationMs:    summary.Ms(now),
		Streams:       agg.Snapshot(),
	}
	byPhase := map[int]runner.Result{}
	for _, s := range steps {
		if s.Phase >= 0 {
			byPhase[s.Phase] = s
		}
	}
	for i, p := range phases {
		end := p.End
		if p.Open {
			end = now
		}
		ph := summary.Phase{Name: p.Name, Kind: string(p.Kind), StartMs: summary.Ms(p.Start), EndMs: summary.Ms(end)}
		if s, ok := byPhase[i]; ok {
			fillStep(&ph, s)
		} else if p.Open && ph.IsStep() {
			ph.Outcome = summary.OutcomeRunning
		}
		run.Phases = append(run.Phases, ph)
	}
	if len(phases) > 0 {
		run.DurationMs = run.Phases[len(run.Phases)-1].EndMs
	}
	for _, s := range steps {
		if s.Phase < 0 {
			ph := summary.Phase{Name: s.Name, Kind: string(s.Kind), StartMs: run.DurationMs, EndMs: run.DurationMs}
			fillStep(&ph, s)
			run.Phases = append(run.Phases, ph)
		}
	}
	run.Windows = windows(tl, now)
	// Streams' PerPhase follows the phases; skipped steps saw no traffic. PerWindow follows the windows.
	for i := range run.Streams {
		for len(run.Streams[i].PerPhase) < len(run.Phases) {
			run.Streams[i].PerPhase = append(run.Streams[i].PerPhase, summary.Stats{})
		}
		for len(run.Windows) > 0 && len(run.Streams[i].PerWindow) < len(run.Windows) {
			run.Streams[i].PerWindow = append(run.Streams[i].PerWindow, summary.Stats{})
		}
	}
	return run
}

// windows are the timeline's windows (disruptions) for the record; one still open ends now.
func windows(tl *timeline.Timeline, now time.Duration) []summary.Window {
	var out []summary.Window
	for _, w := range tl.Windows() {
		end := w.End
		if w.Open {
			end = now
		}
		out = append(out, summary.Window{Name: w.Name, Kind: w.Kind, Step: w.Step, What: w.What, StartMs: summary.Ms(w.Start), EndMs: summary.Ms(end),
			Open: w.Open, Events: w.Events, Restored: w.Restored, RestoreError: w.RestoreErr})
	}
	return out
}

func fillStep(ph *summary.Phase, s runner.Result) {
	ph.Action = s.Action
	ph.Description = s.Description
	ph.Outcome = s.Outcome
	if s.Err != nil {
		ph.Error = s.Err.Error()
	}
	ph.Output = s.Output
	ph.Changes = s.Changes
	ph.Diagnostics = s.Diagnostics
	ph.When, ph.Decides, ph.Branch = s.When, s.Decides, s.Branch
}

// resultSink is where every result goes as it comes: the vegeta results file (report.ResultsFile) when
// that format is wanted.
type resultSink interface {
	Write(*vegeta.Result) error
	Flush() error
	Close() error
}

type discard struct{}

func (discard) Write(*vegeta.Result) error { return nil }
func (discard) Flush() error               { return errors.New("no results file") }
func (discard) Close() error               { return nil }
