package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// A target that hangs past the generator's worker cap: 2 workers cannot send 50/s when every request waits
// for its 1 s timeout. The timeouts are real, but the generator fell behind its schedule, so the run says
// so — exit 3, "load generator saturated" — rather than fail the target (exit 1).
func TestASaturatedGeneratorIsAnErrorNotAFailedGate(t *testing.T) {
	srv := testserver.New(10 * time.Second)
	defer srv.Close()
	srv.SetMode(testserver.ModeSlow)
	dir := t.TempDir()
	sc := writeScenario(t, `name: saturated
traffic:
  warmup: 2s
  cooldown: 500ms
  streams:
    - {name: frontend, url: "`+srv.URL+`/", rate: 50/s, timeout: 1s, maxWorkers: 2}
steps:
  - {name: upgrade, soak: {duration: 1s}}
report: {dir: "`+dir+`"}
`)
	res := runCLI(t, "run", sc, "--no-env")
	assert.Equal(t, 3, res.code, "an error of the harness, not a verdict on the target")
	assert.Contains(t, res.stdout+res.stderr, "load generator saturated")
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictError, run.Verdict)
	assert.Contains(t, run.Error, "load generator saturated: stream frontend")
	assert.Contains(t, run.Error, "of 50/s asked")
	g := run.Streams[0].Generator
	assert.True(t, g.Saturated)
	assert.Positive(t, g.Late)
	assert.Less(t, g.AchievedRPS, 10.0, "2 workers × 1 request per second each")

	junit := readJUnit(t, dir)
	assert.Equal(t, "error", junit.prop("verdict"))
	var generatorCase bool
	for _, c := range junit.Suites[0].Cases {
		if c.Name == "load generator: frontend" {
			generatorCase = true
		}
	}
	assert.True(t, generatorCase)
	raw, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `<error message="load generator saturated" type="harness">`)
	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assert.Contains(t, string(html), "saturated: its requests say nothing about the target")
	assert.Contains(t, string(html), "Harness error, no verdict on the target: load generator saturated")
}

// The same stream against a target that answers 503 at once: the generator keeps its schedule, the failures
// are the target's, and the gate fails (exit 1).
func TestATargetAnswering503AtASustainableRateFailsTheGate(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	srv.SetMode(testserver.Mode503)
	dir := t.TempDir()
	sc := writeScenario(t, `name: failing-target
traffic:
  warmup: 1s
  cooldown: 500ms
  streams:
    - {name: frontend, url: "`+srv.URL+`/", rate: 50/s, timeout: 1s, maxWorkers: 2}
steps:
  - {name: upgrade, soak: {duration: 1s}}
report: {dir: "`+dir+`"}
`)
	res := runCLI(t, "run", sc, "--no-env")
	assert.Equal(t, 1, res.code)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictFail, run.Verdict)
	assert.Empty(t, run.Error)
	g := run.Streams[0].Generator
	assert.False(t, g.Saturated, "%+v", g)
	assert.Zero(t, g.LocalErrors)
	assert.InDelta(t, 50, g.AchievedRPS, 5, "the generator kept the asked rate")
	assert.Equal(t, run.Streams[0].Totals.Requests, run.Streams[0].Totals.Failures, "every answer was a 503")
	junit := readJUnit(t, dir)
	assert.Equal(t, "fail", junit.prop("verdict"))
	raw, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	require.NoError(t, err)
	assert.False(t, strings.Contains(string(raw), `<error message="load generator saturated"`))
	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	// Kept its schedule — on a busy machine perhaps with a few requests late, which the report states ("kept
	// up, N request(s) sent up to … late"): either way not saturated, so the 503s are the target's.
	assert.Regexp(t, `kept its schedule|kept up, \d+ request\(s\) sent up to`, string(html))
	assert.Contains(t, string(html), "× HTTP 503 during")
}

// rate: max sends as fast as its workers allow: no schedule, so nothing is late; plan shows the cap.
func TestRateMaxRunsAsFastAsItsWorkersAllow(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	dir := t.TempDir()
	sc := writeScenario(t, `name: ceiling
recordOnly: true
traffic:
  warmup: 1s
  cooldown: 0s
  streams:
    - {name: frontend, url: "`+srv.URL+`/", rate: max, maxWorkers: 4}
steps:
  - {name: end, soak: {duration: 100ms}}
report: {dir: "`+dir+`", formats: [json]}
`)
	p := runCLI(t, "plan", sc, "--no-env")
	require.Equal(t, 0, p.code)
	assert.Contains(t, p.stdout, "at max, timeout 5s, success = status [200]; at most 4 workers")
	res := runCLI(t, "run", sc, "--no-env")
	require.Equal(t, 0, res.code)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	s := run.Streams[0]
	assert.Equal(t, "max", s.Rate)
	assert.Zero(t, s.Generator.AskedRPS)
	assert.Zero(t, s.Generator.Late, "no schedule to fall behind")
	assert.False(t, s.Generator.Saturated)
	assert.Greater(t, s.Generator.AchievedRPS, 100.0, "4 workers against loopback send far more than 100/s")
	assert.Equal(t, s.Totals.Requests, srv.Served())
}
