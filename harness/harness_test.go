package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func TestVerdictPutsTheHarnessBeforeTheGates(t *testing.T) {
	pass, fail := summary.Check{Passed: true}, summary.Check{}
	spoiled := errors.New("load generator saturated")
	for _, c := range []struct {
		interrupted bool
		err         error
		checks      []summary.Check
		want        string
	}{
		{false, nil, []summary.Check{pass, pass}, summary.VerdictPass},
		{false, nil, []summary.Check{pass, fail}, summary.VerdictFail},
		{false, spoiled, []summary.Check{pass}, summary.VerdictError},
		{false, spoiled, []summary.Check{fail}, summary.VerdictError}, // the failure may be the harness's own doing
		{true, spoiled, []summary.Check{fail}, summary.VerdictInterrupted},
		{true, nil, []summary.Check{pass}, summary.VerdictInterrupted},
	} {
		assert.Equal(t, c.want, Verdict(c.interrupted, c.err, c.checks), "%+v", c)
	}
}

// A check the harness could not judge (a result it recorded does not read back) spoils the run: "error",
// named — not the "fail" of the check's Passed false, and not a pass beside passing checks.
func TestACheckTheHarnessCouldNotJudgeIsAnError(t *testing.T) {
	spoiled := summary.Check{Name: "prometheus", Error: "a recorded result does not decode: unexpected end of JSON input"}
	cs := []summary.Check{{Name: "noUnexpectedStatus", Passed: true}, spoiled}
	err := checkErrors(cs)
	require.EqualError(t, err, "check prometheus: a recorded result does not decode: unexpected end of JSON input")
	assert.Equal(t, summary.VerdictError, Verdict(false, err, cs))
	assert.Equal(t, summary.VerdictInterrupted, Verdict(true, err, cs))
	// A check that failed on the target's account is no error of the harness.
	assert.NoError(t, checkErrors([]summary.Check{{Name: "noUnexpectedStatus", Summary: "3 unexpected"}}))
}

func parse(t *testing.T, y string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("t.yaml", []byte(y), scenarios.Vars{})
	require.NoError(t, err)
	return sc
}

// A failed setup step: no traffic, the steps are skipped, teardown still runs, and the verdict fails naming
// the skipped step — never a pass with nothing measured.
func TestAFailedSetupSkipsTheRehearsalButNotTeardown(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
traffic:
  streams: [{name: a, url: "`+srv.URL+`/"}]
setup:
  - {name: install, http: {url: "`+srv.URL+`/missing", expect: [204]}}
steps:
  - {name: upgrade, soak: {duration: 1s}}
teardown:
  - {name: cleanup, http: {url: "`+srv.URL+`/"}}
`)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	require.NoError(t, err)
	run := res.Run
	assert.Equal(t, summary.VerdictFail, run.Verdict)
	assert.Zero(t, run.TotalRequests(), "no traffic without setup")
	outcomes := map[string]string{}
	for _, p := range run.Phases {
		outcomes[p.Name] = p.Outcome
	}
	assert.Equal(t, map[string]string{"install": summary.OutcomeFailed, "upgrade": summary.OutcomeNotRun, "cleanup": summary.OutcomePassed}, outcomes)
	var failed []string
	for _, c := range run.Checks {
		if !c.Passed {
			failed = append(failed, c.Name)
		}
	}
	assert.ElementsMatch(t, []string{"noUnexpectedStatus", "stepsSucceeded"}, failed, "nothing measured and a step not run")
}

// continueOnError lets the run go on after a failed step; the failure still fails stepsSucceeded.
func TestContinueOnErrorRunsTheNextStepsAndStillFailsTheGate(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
traffic:
  warmup: 100ms
  cooldown: 100ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 20/s}]
steps:
  - {name: flaky, http: {url: "`+srv.URL+`/", expect: [204]}, continueOnError: true}
  - {name: next, soak: {duration: 100ms}}
  - {name: stop-here, http: {url: "`+srv.URL+`/", expect: [204]}}
  - {name: never, soak: {duration: 100ms}}
`)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	require.NoError(t, err)
	run := res.Run
	assert.Equal(t, summary.OutcomeFailed, run.Phases[run.PhaseIndex("flaky")].Outcome)
	assert.Equal(t, summary.OutcomePassed, run.Phases[run.PhaseIndex("next")].Outcome, "ran after a continueOnError failure")
	assert.Equal(t, summary.OutcomeFailed, run.Phases[run.PhaseIndex("stop-here")].Outcome)
	assert.Equal(t, summary.OutcomeNotRun, run.Phases[run.PhaseIndex("never")].Outcome, "a failure without continueOnError stops the steps")
	assert.Equal(t, "step stop-here failed", run.Phases[run.PhaseIndex("never")].Error, "why it did not run")
	assert.Equal(t, summary.VerdictFail, run.Verdict)
	assert.Positive(t, run.TotalRequests())
}

// A recordOnly scenario is judged by no gate: it passes with the numbers recorded.
func TestRecordOnlyHasNoGate(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
recordOnly: true
traffic:
  warmup: 100ms
  cooldown: 100ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 20/s}]
steps:
  - {name: s, soak: {duration: 100ms}}
`)
	require.Empty(t, sc.Checks)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	require.NoError(t, err)
	assert.Empty(t, res.Run.Checks)
	assert.Equal(t, summary.VerdictPass, res.Run.Verdict)
}

// The scenario's compare: section travels in the run record, where canarygate compare finds it.
func TestTheScenariosCompareThresholdsAreRecorded(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
traffic:
  warmup: 50ms
  cooldown: 50ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 20/s}]
steps:
  - {name: s, soak: {duration: 50ms}}
compare: {p99Ratio: 3, p99Increase: 20ms, durationRatio: 1.5, durationIncrease: 10s}
`)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, &summary.Thresholds{P99Ratio: 3, P99IncreaseMs: 20, DurationRatio: 1.5, DurationIncreaseMs: 10_000}, res.Run.Thresholds)
}

// Istio's version rules apply to library callers of Run too, before anything runs: a canary jump of three
// minors is bad input (ErrPolicy) and nothing is provisioned; with AllowSkip the run goes on (and here stops
// at provisioning a cluster whose kubeconfig does not exist).
func TestRunAppliesIstiosVersionRulesFirst(t *testing.T) {
	sc := parse(t, `name: jump
clusters: [{name: c, provider: existing, kubeconfig: /nonexistent/kubeconfig}]
traffic:
  streams: [{name: a, url: "http://127.0.0.1:1/"}]
steps:
  - {name: old, installRevision: {revision: "1-28", version: "1.28.10"}}
  - {name: new, installRevision: {revision: "1-31", version: "1.31.0"}}
`)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	assert.Nil(t, res)
	require.ErrorIs(t, err, ErrPolicy)
	assert.Contains(t, err.Error(), "canary upgrade 1.28.10 → 1.31.0 crosses 3 minor versions, at most 2 allowed")

	_, err = Run(context.Background(), sc, Options{OutDir: t.TempDir(), Policy: policy.Options{AllowSkip: true}})
	require.ErrorIs(t, err, ErrProvision, "allowed: on to provisioning")
	assert.NotErrorIs(t, err, ErrPolicy)
}

// brokenAction is a step action whose executor panics: canarygate's own bug, never the target's.
type brokenAction struct{}

func (*brokenAction) Validate(*scenarios.Scenario, scenarios.Problems, string) {}
func (*brokenAction) Describe() string                                         { return "panic (a test's broken action)" }

func init() {
	runner.Register("testBrokenAction", func() *brokenAction { return &brokenAction{} },
		func(context.Context, *runner.Env, *brokenAction) error { panic("nil map in the action") })
}

// A step canarygate itself could not carry out (its action panicked) is "error", the steps after it are not
// run, and the run's verdict is "error" (exit 3) — not "gate failed" on a target that did nothing wrong.
func TestAStepTheHarnessBrokeIsAnErrorNotAFailure(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
traffic:
  warmup: 100ms
  cooldown: 100ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 20/s}]
steps:
  - {name: broken, testBrokenAction: {}}
  - {name: after, soak: {duration: 100ms}}
`)
	dir := t.TempDir()
	res, err := Run(context.Background(), sc, Options{OutDir: dir})
	require.Error(t, err)
	assert.ErrorIs(t, err, runner.ErrHarness)
	junit, rerr := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, rerr)
	assert.Contains(t, string(junit), `<testcase name="broken" classname="s.steps" time="`)
	assert.Contains(t, string(junit), `<error message="harness error: action panicked: nil map in the action" type="harness">`)
	run := res.Run
	broken := run.Phases[run.PhaseIndex("broken")]
	assert.Equal(t, summary.OutcomeError, broken.Outcome)
	assert.Contains(t, broken.Error, "harness error: action panicked: nil map in the action")
	assert.Equal(t, summary.OutcomeNotRun, run.Phases[run.PhaseIndex("after")].Outcome)
	assert.Equal(t, summary.VerdictError, run.Verdict)
	assert.Contains(t, run.Error, "step broken: harness error")
}
