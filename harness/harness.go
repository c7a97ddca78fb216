// Package harness runs one rehearsal: it starts the scenario's traffic, lets the step runner carry out the
// steps on the same timeline, stops the traffic, runs teardown, judges the gates and writes every report —
// also when a step failed, the harness hit an error or the run was interrupted, so that what was measured is
// never lost.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/actions"
	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/shutdown"
	"github.com/canarygate/canarygate/loadgen"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Status is the live state of a run, handed to Options.Tick once a second.
type Status struct {
	Phase    string
	Elapsed  time.Duration
	RPS      float64
	Requests int64
	Failures int64
}

// Options configure a run. The zero value runs the core actions and writes the scenario's reports.
type Options struct {
	// OutDir overrides the scenario's report.dir.
	OutDir string
	// Formats overrides the scenario's report.formats.
	Formats []string
	// Version is the canarygate version written into the summary.
	Version string
	// Registry adds executors to the core ones (Kubernetes, Helm, Istio actions).
	Registry runner.Registry
	// Services are handed to executors in runner.Env.
	Services map[string]any
	// Observer hears about steps starting and ending.
	Observer runner.Observer
	// Tick, when set, is called about once a second with the live status.
	Tick func(Status)
	// StepSummary, when set, is a file the markdown summary is appended to (GitHub's $GITHUB_STEP_SUMMARY).
	StepSummary string
	// LoadOptions are passed to the load generator.
	LoadOptions []loadgen.Option
	// Providers provision the scenario's clusters by provider name ("existing", "kind"). The clusters are
	// provisioned before traffic starts and released after teardown.
	Providers map[string]cluster.Provider
	// Log receives lines about provisioning clusters.
	Log func(format string, args ...any)
	// Observers watch what a gate judges (e.g. a Service's address) while traffic runs, by gate kind.
	Observers map[string]Observer
	// Abort, when set, receives the last actions for an exit at once (a second signal): write the reports of
	// what was measured so far and kill what steps started.
	Abort *shutdown.Hooks
}

// Observer watches something for a gate from traffic start to traffic stop, recording values by key; it
// returns when ctx ends.
type Observer func(ctx context.Context, g scenarios.Gate, clusters *cluster.Set, record func(key, value string)) error

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
	o.got[key] = append(o.got[key], summary.Observation{AtMs: msf(o.tl.Now()), Value: value})
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
func (o *observations) start(ctx context.Context, sc *scenarios.Scenario, obs map[string]Observer, clusters *cluster.Set) (stop func()) {
	octx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, g := range sc.Checks {
		fn, ok := obs[g.Kind]
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

// ErrMissingExecutor is returned before anything runs when a scenario uses an action kind this build cannot run.
var ErrMissingExecutor = errors.New("no executor for action kind")

// Run carries out the scenario. It returns the run (with its verdict) whenever traffic started; the error is
// a harness or report-writing failure, not a failed gate.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (*Result, error) {
	reg := actions.Core().Merge(opts.Registry)
	if missing := reg.Missing(sc); len(missing) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrMissingExecutor, missing)
	}
	dir := sc.Report.Dir
	if opts.OutDir != "" {
		dir = opts.OutDir
	}
	formats := sc.Report.Formats
	if len(opts.Formats) > 0 {
		formats = opts.Formats
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create report directory: %w", err)
	}

	clusters, release, err := provision(ctx, sc, opts)
	if err != nil {
		return nil, err
	}
	runFailed := true
	defer func() { release(runFailed) }()
	services := map[string]any{cluster.ServiceKey: clusters}
	for k, v := range opts.Services {
		services[k] = v
	}

	tl := timeline.New()
	specs := make([]loadgen.StreamSpec, 0, len(sc.Traffic.Streams))
	targets := make([]loadgen.Target, 0, len(sc.Traffic.Streams))
	for _, st := range sc.Traffic.Streams {
		specs = append(specs, loadgen.StreamSpec{Name: st.Name, Method: st.Method, URL: st.URL, Rate: st.Rate.String(), Expect: st.Expect})
		h := http.Header{}
		for k, v := range st.Headers {
			h.Set(k, v)
		}
		targets = append(targets, loadgen.Target{
			Name: st.Name, Method: st.Method, URL: st.URL, Header: h, Body: []byte(st.Body),
			Rate: vegeta.Rate{Freq: st.Rate.Freq, Per: st.Rate.Per}, Timeout: st.Timeout.D(),
		})
	}
	agg := loadgen.NewAggregate(tl, specs)

	var stepResults []runner.Result
	snapshot := func() *summary.Run { return build(sc, tl, agg, stepResults, opts.Version) }
	// A check step judges the run so far: every step finished before it (with its outcome), the traffic and
	// the observations up to now — the same record the final gates read, only shorter.
	finished := &finishedSteps{}
	observed := &observations{tl: tl}
	liveSnapshot := func() *summary.Run {
		run := build(sc, tl, agg, finished.list(), opts.Version)
		run.Observations = observed.snapshot()
		return run
	}

	var sink resultSink = discard{}
	resultsPath := ""
	if slices.Contains(formats, scenarios.FormatVegeta) {
		resultsPath = filepath.Join(dir, summary.ResultsFileName)
		f, err := newFileSink(resultsPath)
		if err != nil {
			return nil, err
		}
		sink = f
	}

	r := &runner.Runner{Scenario: sc, Registry: reg, Timeline: tl, Snapshot: liveSnapshot, Observer: opts.Observer,
		Services: services, Finished: finished.add}
	// Whatever happens, no process a step started outlives the run.
	defer actions.KillStarted()
	reports := &reportOnce{}
	removeAbort := opts.Abort.Add(func() {
		actions.KillStarted()
		reports.write(func() error {
			run := liveSnapshot()
			run.Interrupted, run.Verdict = true, summary.VerdictInterrupted
			run.Error = "exited at once on a second signal: the reports show what was measured until then"
			run.Checks = checks.EvaluateAll(sc.Checks, run)
			if err := sink.flush(); err == nil && resultsPath != "" {
				run.ResultsFile = summary.ResultsFileName
			}
			return report.WriteAll(dir, run, report.Config{Formats: formats, StepSummary: opts.StepSummary})
		})
	})
	defer removeAbort()
	setupRes, setupFailed := r.Run(ctx, sc.Setup, timeline.KindSetup)
	stepResults = append(stepResults, setupRes...)

	var loadErr error
	if setupFailed || ctx.Err() != nil {
		// Without its setup the rehearsal would measure nothing meaningful: skip it, keep teardown.
		stepResults = append(stepResults, skipped(sc.Steps, timeline.KindStep)...)
		_ = sink.close()
	} else {
		tl.Begin(scenarios.PhaseWarmup, timeline.KindWarmup)
		stopObserving := observed.start(ctx, sc, opts.Observers, clusters)
		loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
		defer stopLoad()
		results := loadgen.Attack(loadCtx, targets, opts.LoadOptions...)
		consumed := make(chan error, 1)
		go func() {
			var firstErr error
			for r := range results {
				agg.Add(r)
				if err := sink.write(r); err != nil && firstErr == nil {
					firstErr = fmt.Errorf("write results file: %w", err)
				}
			}
			consumed <- firstErr
		}()
		stopTicker := startTicker(ctx, tl, agg, opts.Tick)

		sleep(ctx, sc.Traffic.Warmup.D())
		if ctx.Err() == nil {
			res, _ := r.Run(ctx, sc.Steps, timeline.KindStep)
			stepResults = append(stepResults, res...)
		} else {
			stepResults = append(stepResults, skipped(sc.Steps, timeline.KindStep)...)
		}
		if ctx.Err() == nil {
			tl.Begin(scenarios.PhaseCooldown, timeline.KindCooldown)
			sleep(ctx, sc.Traffic.Cooldown.D())
		}
		stopLoad()
		stopObserving()
		loadErr = <-consumed
		stopTicker()
		agg.Close()
		tl.End()
		if err := sink.close(); err != nil && loadErr == nil {
			loadErr = err
		}
	}

	// Teardown always runs, also after an interrupt: it is what leaves the user's cluster as it was.
	teardownCtx := context.WithoutCancel(ctx)
	res, _ := r.Run(teardownCtx, sc.Teardown, timeline.KindTeardown)
	stepResults = append(stepResults, res...)
	tl.End()

	run := snapshot()
	run.Observations = observed.got
	if observed.err != nil && loadErr == nil {
		loadErr = observed.err
	}
	// Mid-run checks first (in step order), then the final gates: a failed check step fails the verdict even
	// when the final gates do not repeat it.
	for _, st := range stepResults {
		run.Checks = append(run.Checks, st.Checks...)
	}
	run.Checks = append(run.Checks, checks.EvaluateAll(sc.Checks, run)...)
	if c := sc.Compare; c != nil {
		run.Thresholds = &summary.Thresholds{P99Ratio: c.P99Ratio, P99IncreaseMs: msf(c.P99Increase.D()),
			DurationRatio: c.DurationRatio, DurationIncreaseMs: msf(c.DurationIncrease.D())}
	}
	if resultsPath != "" {
		run.ResultsFile = summary.ResultsFileName
	}
	switch {
	case ctx.Err() != nil:
		run.Interrupted = true
		run.Verdict = summary.VerdictInterrupted
	case loadErr != nil:
		run.Verdict = summary.VerdictError
		run.Error = loadErr.Error()
	case checks.AllPassed(run.Checks):
		run.Verdict = summary.VerdictPass
	default:
		run.Verdict = summary.VerdictFail
	}
	runFailed = run.Verdict != summary.VerdictPass
	out := &Result{Run: run, Dir: dir}
	if err := reports.write(func() error {
		return report.WriteAll(dir, run, report.Config{Formats: formats, StepSummary: opts.StepSummary})
	}); err != nil {
		return out, err
	}
	return out, loadErr
}

func skipped(steps []scenarios.Step, kind timeline.Kind) []runner.Result {
	out := make([]runner.Result, 0, len(steps))
	for _, st := range steps {
		out = append(out, runner.Result{Name: st.Name, Kind: kind, Action: st.Kind, Description: st.Action.Describe(), Phase: -1, Outcome: summary.OutcomeSkipped})
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func startTicker(ctx context.Context, tl *timeline.Timeline, agg *loadgen.Aggregate, tick func(Status)) (stop func()) {
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
			tick(Status{Phase: phase, Elapsed: tl.Now(), RPS: float64(req - lastReq), Requests: req, Failures: fail})
			lastReq = req
		}
	}()
	return func() { close(done); <-finished }
}

// build assembles the run from the timeline, the aggregate and the step results.
func build(sc *scenarios.Scenario, tl *timeline.Timeline, agg *loadgen.Aggregate, steps []runner.Result, version string) *summary.Run {
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
		DurationMs:    msf(now),
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
		ph := summary.Phase{Name: p.Name, Kind: string(p.Kind), StartMs: msf(p.Start), EndMs: msf(end)}
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
	// Streams' PerPhase follows the phases; skipped steps saw no traffic.
	for i := range run.Streams {
		for len(run.Streams[i].PerPhase) < len(run.Phases) {
			run.Streams[i].PerPhase = append(run.Streams[i].PerPhase, summary.Stats{})
		}
	}
	return run
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
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type resultSink interface {
	write(*vegeta.Result) error
	// flush makes what was written so far readable in the file (an exit at once).
	flush() error
	close() error
}

type discard struct{}

func (discard) write(*vegeta.Result) error { return nil }
func (discard) flush() error               { return errors.New("no results file") }
func (discard) close() error               { return nil }

// fileSink writes results in vegeta's gob encoding, which `vegeta report` and `vegeta plot` read.
type fileSink struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	enc    vegeta.Encoder
	closed bool
}

func newFileSink(path string) (*fileSink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create results file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &fileSink{f: f, w: w, enc: vegeta.NewEncoder(w)}, nil
}

func (s *fileSink) write(r *vegeta.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	// Successful bodies and response headers are not evidence of anything and would make the file grow
	// with every request; failures keep what the server said.
	if r.Code >= 200 && r.Code < 400 {
		r.Body = nil
	}
	r.Headers = nil
	return s.enc.Encode(r)
}

func (s *fileSink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.w.Flush()
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.w.Flush(); err != nil {
		s.f.Close()
		return fmt.Errorf("write results file: %w", err)
	}
	return s.f.Close()
}
