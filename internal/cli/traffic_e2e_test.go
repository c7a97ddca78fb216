package cli_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// A stream on its own clock starts with its step and runs its duration, whatever the steps do: no request
// before the step began, its requests from then on, and the cool-down waits until it has run its 1.5 s —
// beyond the steps' end — while the ordinary stream runs from the warm-up to the end of the cool-down.
func TestAStreamOnItsOwnClock(t *testing.T) {
	srv := testserver.New(time.Second)
	t.Cleanup(srv.Close)
	out := t.TempDir()
	res := runCLI(t, "run", "testdata/own-clock.yaml", "--no-env", "--var", "TARGET="+srv.URL, "--var", "OUT="+out)
	require.Equal(t, 0, res.code, res.stderr)
	run, err := summary.Read(out)
	require.NoError(t, err)
	var steady, solo summary.Stream
	for _, st := range run.Streams {
		switch st.Name {
		case "steady":
			steady = st
		case "solo":
			solo = st
		}
	}
	up := run.PhaseIndex("upgrade")
	require.GreaterOrEqual(t, up, 0)
	for i := 0; i < up; i++ {
		assert.Zero(t, solo.PerPhase[i].Requests, "solo sent nothing during %s", run.Phases[i].Name)
		assert.Positive(t, steady.PerPhase[i].Requests, "steady ran during %s", run.Phases[i].Name)
	}
	assert.Positive(t, solo.PerPhase[up].Requests)
	// 20/s for 1.5 s is 30 at most (vegeta stops at the duration; a starved pacer sends fewer, never more),
	// then it stopped though steady went on.
	assert.LessOrEqual(t, solo.Totals.Requests, int64(31))
	assert.GreaterOrEqual(t, solo.Totals.Requests, int64(15))
	assert.Equal(t, solo.Generator.Sent, solo.Totals.Requests)
	cool := run.Phases[run.PhaseIndex(scenarios.PhaseCooldown)]
	assert.GreaterOrEqual(t, cool.EndMs-run.Phases[up].StartMs, 1500.0, "the cool-down lasted until solo had run its duration")
	assert.Positive(t, steady.PerPhase[run.PhaseIndex(scenarios.PhaseCooldown)].Requests)
	assert.Equal(t, summary.VerdictPass, run.Verdict)

	plan := runCLI(t, "plan", "testdata/own-clock.yaml", "--var", "TARGET="+srv.URL, "--no-env")
	assert.Contains(t, plan.stdout, "; on its own clock: 1.5s from the start of step upgrade, whatever the steps do (the cool-down waits for it)")
}

// A scenario with no traffic, said so, runs its steps and is judged on them alone (exit 0); every report
// is written with no stream in it. Gates that judge traffic are bad input there.
func TestAScenarioWithNoTraffic(t *testing.T) {
	out := t.TempDir()
	res := runCLI(t, "run", "testdata/no-traffic.yaml", "--no-env", "--var", "OUT="+out)
	require.Equal(t, 0, res.code, res.stderr)
	run, err := summary.Read(out)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictPass, run.Verdict)
	assert.Empty(t, run.Streams)
	require.Len(t, run.Checks, 1)
	assert.Equal(t, "stepsSucceeded", run.Checks[0].Kind)
	for _, f := range []string{"report.html", "junit.xml", "summary.md"} {
		_, err := os.Stat(filepath.Join(out, f))
		assert.NoError(t, err, f)
	}
	plan := runCLI(t, "plan", "testdata/no-traffic.yaml", "--no-env")
	assert.Contains(t, plan.stdout, "Traffic: none (traffic: {none: true}): the steps alone are judged")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: bad\ntraffic: {none: true}\nsteps: [{name: s, check: {noUnexpectedStatus: {}}}]\nchecks: [noUnexpectedStatus: {}]\n"), 0o644))
	res = runCLI(t, "validate", bad)
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "bad.yaml:4:10: checks[0].noUnexpectedStatus: noUnexpectedStatus judges traffic, and this scenario has none")
	assert.Contains(t, res.stderr, "steps.s: check noUnexpectedStatus judges traffic")
	require.NoError(t, os.WriteFile(bad, []byte("name: bad\ntraffic: {none: true, streams: [{name: a, url: \"http://127.0.0.1:1/\", from: nope}]}\nsteps: [{name: s, soak: {duration: 1s}}]\n"), 0o644))
	res = runCLI(t, "validate", bad)
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "traffic.none: none: true with streams listed: expected one or the other")
	assert.Contains(t, res.stderr, `traffic.streams[0].from: no step named "nope" under steps`)
}
