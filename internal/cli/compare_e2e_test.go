package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/summary"
)

func TestCompareFindsALatencyRegressionInExactlyTheStepThatCausedIt(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	clean, slow := t.TempDir(), t.TempDir()

	t.Setenv(envOK, "upgraded")
	require.Equal(t, 0, runCLI(t, exampleArgs(srv, clean)...).code)
	os.Unsetenv(envOK)
	t.Setenv(envFault, srv.ControlURL(testserver.ModeDelay)+"&ms=200 1500ms "+srv.ControlURL(testserver.ModeOK))
	require.Equal(t, 0, runCLI(t, exampleArgs(srv, slow)...).code, "200 ms more is within the stream's timeout: the run itself passes")

	out := t.TempDir()
	res := runCLI(t, "compare", clean, slow, "--out", out)
	require.Equal(t, 1, res.code, "a regression exits 1")
	var regressions []string
	for _, line := range strings.Split(res.stdout, "\n") {
		if strings.Contains(line, "❌ ") && strings.HasPrefix(line, "| ") {
			regressions = append(regressions, line)
		}
	}
	require.Len(t, regressions, 1, "exactly one regression:\n%s", res.stdout)
	assert.Regexp(t, `^\| upgrade \| frontend \| p99 \(ms\) \|`, regressions[0])

	html, err := os.ReadFile(filepath.Join(out, "compare.html"))
	require.NoError(t, err)
	assertSelfContained(t, string(html))
	assert.Contains(t, string(html), "1 REGRESSION(S)")
	junit, err := os.ReadFile(filepath.Join(out, "compare-junit.xml"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(junit), "<failure"), "one failed testcase: the regressed metric")
	assert.Contains(t, string(junit), `name="upgrade · frontend · p99 (ms)"`)

	// The passing side, beside it: a second clean run of the same scenario (its own measurements, not the
	// first run compared with itself) is no regression of the first.
	t.Setenv(envOK, "upgraded")
	os.Unsetenv(envFault)
	clean2 := t.TempDir()
	require.Equal(t, 0, runCLI(t, exampleArgs(srv, clean2)...).code)
	same := runCLI(t, "compare", clean, clean2, "--out", t.TempDir())
	assert.Equal(t, 0, same.code, "two clean runs: %s", same.stdout)
	assert.Contains(t, same.stdout, "no regression")
	assert.NotContains(t, same.stdout, "❌")
}

// writeRun writes a synthetic run summary into a new directory.
func writeRun(t *testing.T, parent, name string, r *summary.Run) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.Create(filepath.Join(dir, summary.FileName))
	require.NoError(t, err)
	require.NoError(t, summary.Encode(f, r))
	require.NoError(t, f.Close())
	return dir
}

func syntheticRun(started time.Time, failures int64, p99, upgradeSeconds float64, steps ...string) *summary.Run {
	if len(steps) == 0 {
		steps = []string{"warm-up", "upgrade", "cool-down"}
	}
	r := &summary.Run{SchemaVersion: summary.SchemaVersion, Scenario: "nightly", Started: started, Verdict: summary.VerdictPass}
	st := summary.Stream{Name: "ingress", Expect: []int{200}}
	at := 0.0
	for _, name := range steps {
		d := 10.0
		if name == "upgrade" {
			d = upgradeSeconds
		}
		kind, outcome := "step", summary.OutcomePassed
		if name == "warm-up" || name == "cool-down" {
			kind, outcome = "warmup", ""
		}
		r.Phases = append(r.Phases, summary.Phase{Name: name, Kind: kind, Outcome: outcome, StartMs: at * 1000, EndMs: (at + d) * 1000})
		ps := summary.Stats{Requests: 100_000, Successes: 100_000, Latency: summary.Latency{P50: 2, P99: 5}}
		if name == "upgrade" {
			ps.Failures, ps.Successes, ps.Latency.P99 = failures, 100_000-failures, p99
			if failures > 0 {
				st.Series = append(st.Series, summary.Second{T: int64(at) + 1, Requests: 100, Failures: failures})
			}
		}
		st.PerPhase = append(st.PerPhase, ps)
		st.Totals.Requests += ps.Requests
		st.Totals.Failures += ps.Failures
		at += d
	}
	r.DurationMs = at * 1000
	r.Streams = []summary.Stream{st}
	return r
}

func TestOneNewUnexpectedResponseIsARegressionHoweverSmallTheRatio(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	base := writeRun(t, dir, "base", syntheticRun(t0, 0, 5, 20))
	cur := writeRun(t, dir, "cur", syntheticRun(t0.Add(24*time.Hour), 1, 5, 20))
	res := runCLI(t, "compare", base, cur, "--out", t.TempDir())
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stdout, "| upgrade | ingress | unexpected | 0 | 1 |")
	assert.Contains(t, res.stdout, "new unexpected response")
}

func TestCompareRefusesRunsItCannotCompare(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	base := writeRun(t, dir, "base", syntheticRun(t0, 0, 5, 20))
	other := writeRun(t, dir, "other", syntheticRun(t0, 0, 5, 20, "alpha", "beta"))
	res := runCLI(t, "compare", base, other, "--out", t.TempDir())
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "no step of")

	future := writeRun(t, dir, "future", syntheticRun(t0, 0, 5, 20))
	data, err := os.ReadFile(filepath.Join(future, summary.FileName))
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	raw["schemaVersion"] = summary.SchemaVersion + 1
	data, _ = json.Marshal(raw)
	require.NoError(t, os.WriteFile(filepath.Join(future, summary.FileName), data, 0o644))
	res = runCLI(t, "compare", base, future, "--out", t.TempDir())
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, fmt.Sprintf("schemaVersion %d is not supported", summary.SchemaVersion+1))

	added := writeRun(t, dir, "added", syntheticRun(t0, 0, 5, 20, "warm-up", "upgrade", "verify", "cool-down"))
	res = runCLI(t, "compare", base, added, "--out", t.TempDir())
	assert.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "Steps only in the current run: verify", "a step in one run only is listed, not dropped")
}

func TestTrendOverFiveRunsMatchesTheSummaries(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	// Nightly runs written out of order; p99 crosses its threshold on the 4th night, errors appear on the 5th.
	nights := []struct {
		day      int
		failures int64
		p99      float64
		dur      float64
	}{{2, 0, 6, 21}, {0, 0, 5, 20}, {4, 3, 90, 22}, {1, 0, 7, 20}, {3, 0, 120, 20}}
	for _, n := range nights {
		writeRun(t, dir, fmt.Sprintf("run-%d", n.day), syntheticRun(t0.Add(time.Duration(n.day)*24*time.Hour), n.failures, n.p99, n.dur))
	}
	out := t.TempDir()
	res := runCLI(t, "trend", dir, "--out", out)
	require.Equal(t, 0, res.code)
	md, err := os.ReadFile(filepath.Join(out, "trend.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| upgrade | p99 (ms) | 5 | 7 | 6 | 120 ▲ first crossing | 90 ▲ |", "ordered by start time, values from the summaries")
	assert.Contains(t, string(md), "| upgrade | unexpected | 0 | 0 | 0 | 0 | 3 ▲ first crossing |")
	assert.Contains(t, string(md), "| upgrade | duration (s) | 20 | 20 | 21 | 20 | 22 |")
	html, err := os.ReadFile(filepath.Join(out, "trend.html"))
	require.NoError(t, err)
	assertSelfContained(t, string(html))
	assert.Equal(t, 1, strings.Count(string(html), "<html"), "one page")
	assert.Contains(t, string(html), "120 ▲ first crossing")
}

// A summary written by schemaVersion 1 code (summary/testdata/schema-v1.json: canarygate 7dfdde6 ran a
// scenario whose second step failed, so its third was "skipped") still reads in compare and trend, beside a
// summary of today's schema: the step that never started is "not run", and one new unexpected response in
// the newer run is still a regression.
func TestSummariesOfSchemaVersion1StillCompareAndTrend(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "v1")
	require.NoError(t, os.MkdirAll(old, 0o755))
	data, err := os.ReadFile(filepath.Join("..", "..", "summary", "testdata", "schema-v1.json"))
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	require.EqualValues(t, 1, raw["schemaVersion"], "the fixture is of the old schema")
	require.NoError(t, os.WriteFile(filepath.Join(old, summary.FileName), data, 0o644))

	run, err := summary.Read(old)
	require.NoError(t, err)
	assert.Equal(t, summary.SchemaVersion, run.SchemaVersion)
	assert.Equal(t, summary.OutcomeNotRun, run.Phases[run.PhaseIndex("never")].Outcome, `version 1's "skipped" never started`)
	assert.Equal(t, summary.OutcomeFailed, run.Phases[run.PhaseIndex("breaks")].Outcome)

	// Today's run of the same scenario, one day later, with one unexpected response during "first".
	cur := *run
	cur.Started = run.Started.Add(24 * time.Hour)
	cur.Streams = append([]summary.Stream(nil), run.Streams...)
	st := cur.Streams[0]
	st.PerPhase = append([]summary.Stats(nil), st.PerPhase...)
	i := run.PhaseIndex("first")
	st.PerPhase[i].Failures++
	st.PerPhase[i].Codes = map[string]int64{"200": st.PerPhase[i].Requests - 1, "503": 1}
	st.Totals.Failures++
	cur.Streams[0] = st
	now := writeRun(t, dir, "v2", &cur)

	res := runCLI(t, "compare", old, now, "--out", t.TempDir())
	assert.Equal(t, 1, res.code, res.stderr)
	assert.Contains(t, res.stdout, "| first | local | unexpected | 0 | 1 |")

	out := t.TempDir()
	res = runCLI(t, "trend", dir, "--out", out)
	require.Equal(t, 0, res.code, res.stderr)
	md, err := os.ReadFile(filepath.Join(out, "trend.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| first | unexpected | 0 | 1 ▲ first crossing |")
}
