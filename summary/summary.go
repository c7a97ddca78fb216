// Package summary is the record of one rehearsal: phases, step outcomes, per-stream statistics (totals, per
// phase, per second), check verdicts. It is what every report renders, and its JSON form (with
// SchemaVersion) is the input of `canarygate report` and of comparisons between runs.
package summary

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is bumped whenever a field changes meaning or disappears.
//
// 2: a step that never started is "not run" (OutcomeNotRun), with why in its error; "skipped" is kept for a
// step deliberately not taken. Version 1 wrote "skipped" for both; Read upgrades it.
const SchemaVersion = 2

// FileName is the JSON summary's name inside a run directory.
const FileName = "summary.json"

// ResultsFileName is the vegeta results file inside a run directory (vegeta's gob encoding).
const ResultsFileName = "results.bin"

// Verdicts.
const (
	VerdictPass        = "pass"
	VerdictFail        = "fail"
	VerdictError       = "error"
	VerdictInterrupted = "interrupted"
	// VerdictRolledBack: a step whose condition was another's failure (when: failed) ran — the upgrade would
	// not have completed; Run.DecidedBy says which step decided. Exit 1, like a failed gate.
	VerdictRolledBack = "rolled back"
)

// Step outcomes.
const (
	OutcomePassed   = "passed"
	OutcomeFailed   = "failed"
	OutcomeTimedOut = "timed-out"
	// OutcomeSkipped: the step was deliberately not taken (a condition said so); why is in its error.
	OutcomeSkipped = "skipped"
	// OutcomeNotRun: the step never started — the run was interrupted, or an earlier step failed, first;
	// why is in its error. It neither passed nor failed on its own.
	OutcomeNotRun = "not run"
	// OutcomeInterrupted: the run was interrupted (SIGINT/SIGTERM) while the step ran; it neither passed
	// nor failed on its own.
	OutcomeInterrupted = "interrupted"
	// OutcomeError: the step could not be carried out because of canarygate itself (an action that panicked,
	// an action kind this build has no executor for): it says nothing about the target, so the run's verdict
	// is "error" (exit 3), never "gate failed".
	OutcomeError = "error"
	// OutcomeRunning is the outcome of the step still running when a mid-run snapshot is taken.
	OutcomeRunning = "running"
	// OutcomeNone is the outcome of phases that are not steps (warm-up, cool-down).
	OutcomeNone = ""
)

// Run is one rehearsal.
type Run struct {
	SchemaVersion int       `json:"schemaVersion"`
	Tool          string    `json:"tool"`
	ToolVersion   string    `json:"toolVersion"`
	Scenario      string    `json:"scenario"`
	ScenarioFile  string    `json:"scenarioFile,omitempty"`
	Description   string    `json:"description,omitempty"`
	Started       time.Time `json:"started"`
	// RunID is what the run labelled the objects it created in clusters with (canarygate cleanup --run).
	RunID       string  `json:"runId,omitempty"`
	DurationMs  float64 `json:"durationMs"`
	Verdict     string  `json:"verdict"`
	Interrupted bool    `json:"interrupted,omitempty"`
	// DecidedBy names the step whose failure sent the run down its failure branch (the rollback), and why:
	// set with VerdictRolledBack.
	DecidedBy string `json:"decidedBy,omitempty"`
	// Error is a harness or infrastructure failure that kept the run from finishing.
	Error  string  `json:"error,omitempty"`
	Phases []Phase `json:"phases"`
	// Windows are spans over the phases: disruptions rehearsed on purpose (disrupt steps).
	Windows []Window `json:"windows,omitempty"`
	Streams []Stream `json:"streams"`
	Checks  []Check  `json:"checks"`
	// ResultsFile is the vegeta results file, relative to the run directory.
	ResultsFile string `json:"resultsFile,omitempty"`
	// Observations are values watched during the run (e.g. a Service's address), by observation key.
	Observations map[string][]Observation `json:"observations,omitempty"`
	// Thresholds are the scenario's limits for comparing this run with another (canarygate compare).
	Thresholds *Thresholds `json:"thresholds,omitempty"`
}

// Window is a disruption's span on the timeline: from the moment it took effect to its restoration. Each
// stream's PerWindow counts the requests sent in it.
type Window struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Step opened it; What says what was disrupted and how.
	Step    string  `json:"step"`
	What    string  `json:"what"`
	StartMs float64 `json:"startMs"`
	EndMs   float64 `json:"endMs"`
	// Open: still disrupted when the record was taken (a live snapshot, or a run that ended at once).
	Open   bool     `json:"open,omitempty"`
	Events []string `json:"events,omitempty"`
	// Restored says the disruption was undone; RestoreError why not (the cluster may be left disrupted).
	Restored     bool   `json:"restored"`
	RestoreError string `json:"restoreError,omitempty"`
}

// Label names the window in a sentence: an outage by what it was ("API server of cluster x unreachable
// 12:00:01–12:00:09"), a disruption as "disruption <name>".
func (w Window) Label() string {
	if w.Kind == WindowKindOutage {
		return w.What
	}
	return "disruption " + w.Name
}

// WindowsOver are the windows a span of the run overlaps — from fromMs to toMs, both included, so that a
// single moment (fromMs = toMs) sent at a window's start is in it and one at its end is not: one rule for
// every place that says "during".
func (r *Run) WindowsOver(fromMs, toMs float64) []Window {
	var out []Window
	for _, w := range r.Windows {
		if fromMs < w.EndMs && toMs >= w.StartMs {
			out = append(out, w)
		}
	}
	return out
}

// WindowLabels is WindowsOver's labels joined with "; " ("" when none).
func (r *Run) WindowLabels(fromMs, toMs float64) string {
	var names []string
	for _, w := range r.WindowsOver(fromMs, toMs) {
		names = append(names, w.Label())
	}
	return strings.Join(names, "; ")
}

// Window kinds: a disrupt step's fault, and a span during which a cluster's API server did not answer.
const (
	WindowKindDisruption = "disruption"
	WindowKindOutage     = "outage"
)

// Live is the state of a run while it runs, for a status line.
type Live struct {
	Phase    string
	Elapsed  time.Duration
	RPS      float64
	Requests int64
	Failures int64
}

// Observation is a value seen at a time of the run.
type Observation struct {
	AtMs  float64 `json:"atMs"`
	Value string  `json:"value"`
}

// Thresholds say how much worse a run may be than its baseline before it is a regression. Any new
// unexpected response is always a regression.
type Thresholds struct {
	// P99Ratio and P99IncreaseMs: a step's p99 regresses when it grows by more than both.
	P99Ratio      float64 `json:"p99Ratio" yaml:"p99Ratio"`
	P99IncreaseMs float64 `json:"p99IncreaseMs" yaml:"p99IncreaseMs"`
	// DurationRatio and DurationIncreaseMs: a step's duration regresses when it grows by more than both.
	DurationRatio      float64 `json:"durationRatio" yaml:"durationRatio"`
	DurationIncreaseMs float64 `json:"durationIncreaseMs" yaml:"durationIncreaseMs"`
}

// DefaultThresholds: p99 may grow by half and by 50 ms, a step may take twice as long and 30 s more.
var DefaultThresholds = Thresholds{P99Ratio: 1.5, P99IncreaseMs: 50, DurationRatio: 2, DurationIncreaseMs: 30_000}

// Phase is a span of the run: warm-up, a step, cool-down or a teardown step.
type Phase struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Action      string  `json:"action,omitempty"`
	Description string  `json:"description,omitempty"`
	StartMs     float64 `json:"startMs"`
	EndMs       float64 `json:"endMs"`
	Outcome     string  `json:"outcome,omitempty"`
	Error       string  `json:"error,omitempty"`
	// Output is the step's captured output (truncated).
	Output string `json:"output,omitempty"`
	// Changes lists what the step changed ("namespace demo-a: label istio.io/rev: 1-29 → 1-30").
	Changes []string `json:"changes,omitempty"`
	// Diagnostics holds what was gathered when the step failed (events, logs).
	Diagnostics []string `json:"diagnostics,omitempty"`
	// When is the step's condition ("failed: health"); Decides says a later step's condition names this
	// step; Branch says the step ran because the step its condition names failed.
	When    string `json:"when,omitempty"`
	Decides bool   `json:"decides,omitempty"`
	Branch  bool   `json:"branch,omitempty"`
}

// Decided reports whether the phase failed as a decision: it failed, and a step whose condition is its
// failure ran (the run took that branch), so its failure is the run's choice, not the run's end.
func (r *Run) Decided(i int) bool {
	p := r.Phases[i]
	if !p.Decides || (p.Outcome != OutcomeFailed && p.Outcome != OutcomeTimedOut) {
		return false
	}
	for _, q := range r.Phases {
		if q.Branch && q.When == "failed: "+p.Name && q.Ran() {
			return true
		}
	}
	return false
}

// DurationMs is the phase's length.
func (p Phase) DurationMs() float64 { return p.EndMs - p.StartMs }

// IsStep reports whether the phase is a step (or teardown step) rather than a load window.
func (p Phase) IsStep() bool { return p.Kind == "step" || p.Kind == "teardown" || p.Kind == "setup" }

// Ran reports whether the phase ran at all (a step not run or skipped saw no traffic of its own).
func (p Phase) Ran() bool { return p.Outcome != OutcomeSkipped && p.Outcome != OutcomeNotRun }

// Stream is the traffic of one stream.
type Stream struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	URL    string `json:"url"`
	Rate   string `json:"rate"`
	Expect []int  `json:"expect"`
	Totals Stats  `json:"totals"`
	// PerWindow is aligned with Run.Windows: the requests sent in each (a disruption), by send time.
	PerWindow []Stats `json:"perWindow,omitempty"`
	// PerPhase is indexed like Run.Phases.
	PerPhase []Stats `json:"perPhase"`
	// Series has one point per second of the run that saw requests.
	Series []Second `json:"series"`
	// MaxConsecutiveFailures is the longest run of failures in send order over the whole run.
	MaxConsecutiveFailures int64        `json:"maxConsecutiveFailures"`
	FirstFailures          []Failure    `json:"firstFailures,omitempty"`
	Errors                 []ErrorCount `json:"errors,omitempty"`
	// Generator says whether the load generator kept its schedule.
	Generator Generator `json:"generator"`
	// FailureGroups are the failures grouped by step and what they said, in order of first occurrence.
	FailureGroups []FailureGroup `json:"failureGroups,omitempty"`
	// InMesh, for a stream run by generator pods, is who called whom: per step, caller revision and
	// callee revision, the calls, the unexpected ones and those the callee did not see from the generators'
	// own identity.
	InMesh *InMesh `json:"inMesh,omitempty"`
}

// InMesh is an in-mesh stream's revision × revision record.
type InMesh struct {
	Namespace string `json:"namespace"`
	// Identity is the generators' SPIFFE identity: a call is proven mTLS when the callee saw it.
	Identity string `json:"identity"`
	// Via says how the callee learnt the caller's identity: IdentityViaTLS (proxyless gRPC: the callee's
	// own TLS handshake) or IdentityViaXFCC (the X-Forwarded-Client-Cert its sidecar added).
	Via string `json:"via,omitempty"`
	// Callee is the target's host (the Service the generators call).
	Callee string       `json:"callee,omitempty"`
	Pairs  []InMeshPair `json:"pairs,omitempty"`
	// Peers counts, per caller identity the callee reported, the calls it reported it for.
	Peers map[string]int64 `json:"peers,omitempty"`
}

// How a callee learnt its caller's identity (InMesh.Via).
const (
	IdentityViaTLS  = "tls"
	IdentityViaXFCC = "xfcc"
)

// ViaText says where the identity came from, for messages.
func (m *InMesh) ViaText() string {
	callee := m.Callee
	if callee == "" {
		callee = "the callee"
	}
	if m.Via == IdentityViaTLS {
		return "identity from the TLS handshake seen by " + callee + " (proxyless gRPC)"
	}
	return "identity from the X-Forwarded-Client-Cert " + callee + "'s sidecar added"
}

// InMeshPair is the calls from generators on revision From to callees on revision To during one phase
// ("" revision: no proxy, or not reported; To NoAnswer: calls that got no answer).
type InMeshPair struct {
	Phase    string `json:"phase"`
	From     string `json:"from"`
	To       string `json:"to"`
	Requests int64  `json:"requests"`
	// Failures are calls whose status was not expected; NotMTLS answered calls whose callee did not report
	// the generators' identity (plaintext, or another identity). A failed call proves nothing either way:
	// it is a failure, not counted here.
	Failures int64 `json:"failures"`
	NotMTLS  int64 `json:"notMTLS"`
}

// NoAnswer is the callee revision of calls nobody answered (a refused connection, a failed handshake, a
// timeout): which revision they were meant for is unknown — the callee says its revision in its answer.
const NoAnswer = "(no answer)"

// Proven is the pair's calls proven mTLS from the generators' identity: answered as expected, with it.
func (p InMeshPair) Proven() int64 { return p.Requests - p.Failures - p.NotMTLS }

// FailureGroup is every failure of one stream in one phase that said the same thing.
type FailureGroup struct {
	Stream  string  `json:"stream"`
	Phase   string  `json:"phase"`
	Code    uint16  `json:"code"`
	Error   string  `json:"error"`
	Count   int64   `json:"count"`
	FirstMs float64 `json:"firstMs"`
	LastMs  float64 `json:"lastMs"`
	// Body is what the first of them answered (truncated).
	Body string `json:"body,omitempty"`
}

// Stats counts requests of a stream in some span.
type Stats struct {
	Requests  int64            `json:"requests"`
	Successes int64            `json:"successes"`
	Failures  int64            `json:"failures"`
	Codes     map[string]int64 `json:"codes,omitempty"`
	Latency   Latency          `json:"latencyMs"`
	// MaxConsecutiveFailures is the longest run of failures in the order the requests were sent.
	MaxConsecutiveFailures int64 `json:"maxConsecutiveFailures"`
	// LongestBurstMs is how long the longest run of failures lasted, by send time: from its first failure to
	// the first request sent after it that did not fail. Within a phase, a run ends where the phase ends.
	LongestBurstMs float64 `json:"longestBurstMs"`
	// SentLate counts requests the generator sent later than its schedule allows; LocalErrors requests it
	// could not send (its own machine out of ports or files: not in Requests).
	SentLate    int64 `json:"sentLate,omitempty"`
	LocalErrors int64 `json:"localErrors,omitempty"`
}

// Generator is how well a stream's load generator did what was asked. When it is Saturated the run's
// verdict is "error": its requests say nothing about the target.
type Generator struct {
	AskedRPS    float64 `json:"askedRps"`
	AchievedRPS float64 `json:"achievedRps"`
	// Sent counts every request the generator started, local errors included.
	Sent int64 `json:"sent"`
	// Late counts requests sent more than LagToleranceMs after their scheduled time; MaxLagMs is the worst.
	Late               int64        `json:"late"`
	MaxLagMs           float64      `json:"maxLagMs"`
	LagToleranceMs     float64      `json:"lagToleranceMs"`
	LocalErrors        int64        `json:"localErrors"`
	LocalErrorMessages []ErrorCount `json:"localErrorMessages,omitempty"`
	Saturated          bool         `json:"saturated"`
}

// State says in words how the generator did: saturated (its requests say nothing about the target), kept
// up with some requests delayed (and so what the run cannot show there), or kept its schedule.
func (g Generator) State() string {
	switch {
	case g.Saturated:
		return "saturated: its requests say nothing about the target"
	case g.Late > 0:
		return fmt.Sprintf("kept up, %d request(s) sent up to %.0f ms late: an outage shorter than that at those moments would not show", g.Late, g.MaxLagMs)
	}
	return "kept its schedule"
}

// Latency quantiles in milliseconds (histogram estimates within 2 %; min, max and mean exact).
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Second is one second of a stream.
type Second struct {
	// T is the second's offset from the run start, in seconds.
	T        int64   `json:"t"`
	Requests int64   `json:"requests"`
	Failures int64   `json:"failures"`
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
}

// Failure is one failed request, kept as evidence.
type Failure struct {
	Stream string  `json:"stream"`
	AtMs   float64 `json:"atMs"`
	Phase  string  `json:"phase"`
	Code   uint16  `json:"code"`
	Error  string  `json:"error,omitempty"`
	Body   string  `json:"body,omitempty"`
}

// ErrorCount is how often one error message occurred.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// Check is a gate's verdict.
type Check struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Passed      bool   `json:"passed"`
	// Summary is one sentence with the numbers.
	Summary  string    `json:"summary"`
	Evidence []string  `json:"evidence,omitempty"`
	Failures []Failure `json:"failures,omitempty"`
	// Phase is set for checks evaluated mid-run by a check step.
	Phase string `json:"phase,omitempty"`
	// Decision marks a failed mid-run check whose step's failure decided the run's branch (Run.Decided): it
	// is reported, and the verdict is "rolled back" rather than "fail" on its account.
	Decision bool `json:"decision,omitempty"`
	// Steps names the steps (phases) a failed check blames, in timeline order.
	Steps []string `json:"steps,omitempty"`
	// NotApplicable marks a check with nothing to judge because every step it judges was skipped by its
	// condition (a rollback branch the upgrade never needed): it neither fails the run nor shows as a pass.
	// Passed is true with it, so that readers that know only Passed do not fail the run on its account.
	NotApplicable bool `json:"notApplicable,omitempty"`
	// Error says the harness could not judge the check through its own fault (a result it recorded does not
	// read back): the check neither passes nor fails the target, and the run's verdict is "error" (exit 3).
	Error string `json:"error,omitempty"`
}

// SkippedSteps marks the check not applicable: every step it judges, named in steps, was skipped by its
// condition (OnlySkipped).
func (c *Check) SkippedSteps(steps []string) {
	c.Passed, c.NotApplicable = true, true
	c.Summary = fmt.Sprintf("not applicable: every step it judges (%s) was skipped by its condition — nothing of it ran to judge", strings.Join(steps, ", "))
}

// Mark is how a check reads in every report: "error", "n/a", "pass" or "fail".
func (c Check) Mark() string {
	switch {
	case c.Error != "":
		return "error"
	case c.NotApplicable:
		return "n/a"
	case c.Passed:
		return "pass"
	default:
		return "fail"
	}
}

// TotalFailures adds up every stream's failures.
func (r *Run) TotalFailures() int64 {
	var n int64
	for _, s := range r.Streams {
		n += s.Totals.Failures
	}
	return n
}

// TotalRequests adds up every stream's requests.
func (r *Run) TotalRequests() int64 {
	var n int64
	for _, s := range r.Streams {
		n += s.Totals.Requests
	}
	return n
}

// OnlySkipped reports whether steps names at least one step of the run and every one it names was skipped
// by its condition (Outcome "skipped"; not "not run", which an interrupt or an earlier failure causes).
func (r *Run) OnlySkipped(steps []string) bool {
	found := false
	for _, p := range r.Phases {
		if !p.IsStep() || !slices.Contains(steps, p.Name) {
			continue
		}
		if p.Outcome != OutcomeSkipped {
			return false
		}
		found = true
	}
	return found
}

// PhaseIndex finds a phase by name.
func (r *Run) PhaseIndex(name string) int {
	for i, p := range r.Phases {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// Encode writes r as indented JSON.
func Encode(w io.Writer, r *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SchemaError reports a summary this version cannot read.
type SchemaError struct {
	File string
	Got  int
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s: schemaVersion %d is not supported (this canarygate reads schemaVersion %d)", e.File, e.Got, SchemaVersion)
}

// Read loads a summary from a JSON file or a run directory.
func Read(path string) (*Run, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = path + string(os.PathSeparator) + FileName
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run summary: %w", err)
	}
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not a canarygate run summary: %w", path, err)
	}
	switch r.SchemaVersion {
	case SchemaVersion:
	case 1:
		upgradeV1(&r)
	default:
		return nil, &SchemaError{File: path, Got: r.SchemaVersion}
	}
	return &r, nil
}

// upgradeV1 reads a schemaVersion 1 summary as version 2: version 1 had no "not run", and every step it
// called "skipped" was one that never started after an interrupt or a failed step.
func upgradeV1(r *Run) {
	for i := range r.Phases {
		if r.Phases[i].Outcome == OutcomeSkipped {
			r.Phases[i].Outcome = OutcomeNotRun
		}
	}
	r.SchemaVersion = SchemaVersion
}

// Ms is a duration in the record's unit: milliseconds, to the microsecond. Every number of milliseconds in a
// run record goes through it, so the record has one precision.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
