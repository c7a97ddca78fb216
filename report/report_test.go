package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func sampleRun(seconds int) *summary.Run {
	r := &summary.Run{
		SchemaVersion: summary.SchemaVersion, Tool: "canarygate", Scenario: "sample", Verdict: summary.VerdictFail,
		Started: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), DurationMs: float64(seconds) * 1000,
		Phases: []summary.Phase{
			{Name: "warm-up", Kind: "warmup", StartMs: 0, EndMs: 1000},
			{Name: "upgrade", Kind: "step", StartMs: 1000, EndMs: float64(seconds-1) * 1000, Outcome: summary.OutcomeFailed, Error: "boom\nsecond line"},
			{Name: "later", Kind: "step", StartMs: float64(seconds-1) * 1000, EndMs: float64(seconds-1) * 1000, Outcome: summary.OutcomeSkipped},
			{Name: "cool-down", Kind: "cooldown", StartMs: float64(seconds-1) * 1000, EndMs: float64(seconds) * 1000},
		},
		Checks: []summary.Check{
			{Name: "noUnexpectedStatus", Kind: "noUnexpectedStatus", Passed: false, Summary: "3 unexpected", Evidence: []string{"s: 3 failures during \"upgrade\""}},
			{Name: "stepsSucceeded", Kind: "stepsSucceeded", Passed: true, Summary: "ok"},
		},
	}
	st := summary.Stream{Name: "s", Expect: []int{200}, Totals: summary.Stats{Requests: int64(seconds) * 10, Failures: 3},
		PerPhase: []summary.Stats{{Requests: 10}, {Requests: int64(seconds-2) * 10, Failures: 3, Codes: map[string]int64{"503": 3}}, {}, {Requests: 10}}}
	for i := 0; i < seconds; i++ {
		st.Series = append(st.Series, summary.Second{T: int64(i), Requests: 10, P50Ms: 1 + float64(i%7), P99Ms: 5 + float64(i%13)})
	}
	st.Series[2].Failures = 3
	r.Streams = []summary.Stream{st}
	return r
}

func TestJUnitHasATestcasePerStepAndCheck(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, sampleRun(10), Config{}))
	doc := readJUnit(t, buf.Bytes())
	assert.Equal(t, 5, doc.Tests, "2 steps + 2 checks + the stream's load generator; warm-up and cool-down are not testcases")
	assert.Equal(t, 2, doc.Failures)
	assert.Equal(t, 1, doc.Skipped)
	names := []string{}
	for _, c := range doc.Suite.Cases {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"upgrade", "later", "check: noUnexpectedStatus", "check: stepsSucceeded", "load generator: s"}, names)
}

// junitDoc is what the tests read back of a JUnit report: the counts and each testcase's outcome.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suite    struct {
		Cases []junitTestcase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitTestcase struct {
	Name    string           `xml:"name,attr"`
	Failure *junitTestReason `xml:"failure"`
	Error   *junitTestReason `xml:"error"`
	Skipped *junitTestReason `xml:"skipped"`
}

type junitTestReason struct {
	Message string `xml:"message,attr"`
}

func readJUnit(t *testing.T, b []byte) junitDoc {
	t.Helper()
	var doc junitDoc
	require.NoError(t, xml.Unmarshal(b, &doc))
	return doc
}

// testcase is the testcase of that name; the test stops without it.
func (d junitDoc) testcase(t *testing.T, name string) junitTestcase {
	t.Helper()
	for _, tc := range d.Suite.Cases {
		if tc.Name == name {
			return tc
		}
	}
	t.Fatalf("no testcase %q", name)
	return junitTestcase{}
}

func TestHTMLDownsamplesLongRunsAndStaysSelfContained(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, sampleRun(3600), Config{MaxChartPoints: 300}))
	html := buf.String()
	assert.Contains(t, html, "downsampled")
	// Two polylines (p50, p99), each drawn — with between 100 and 300 points.
	polys := regexp.MustCompile(`<polyline class="(p50|p99)" points="([^"]*)"`).FindAllStringSubmatch(html, -1)
	require.Len(t, polys, 2)
	for _, p := range polys {
		points := len(strings.Fields(p[2]))
		assert.GreaterOrEqual(t, points, 100, "%s is drawn", p[1])
		assert.LessOrEqual(t, points, 300, "%s is downsampled", p[1])
	}
	assert.NotContains(t, strings.ToLower(html), "<script")
	assert.Less(t, len(html), 200_000, "an hour-long run's report stays small")
}

func TestWriteAllWritesEveryFormatAndAppendsTheJobSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := filepath.Join(t.TempDir(), "job.md")
	require.NoError(t, os.WriteFile(job, []byte("earlier step\n"), 0o644))
	require.NoError(t, WriteAll(dir, sampleRun(20), Config{StepSummary: job}))
	for _, f := range []string{HTMLFile, JUnitFile, JSONFile, MarkdownFile} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	data, err := os.ReadFile(job)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "earlier step\n"), "appended, not overwritten")
	assert.Contains(t, string(data), "| noUnexpectedStatus | ❌ fail | 3 unexpected |")
	back, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, sampleRun(20).Streams[0].Totals, back.Streams[0].Totals)
}

func TestReadRejectsOtherSchemaVersions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, summary.FileName), []byte(`{"schemaVersion": 99}`), 0o644))
	_, err := summary.Read(dir)
	var se *summary.SchemaError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "schemaVersion 99")
}

func TestHeadlineAndFailureGroupsSayWhatFailedWhere(t *testing.T) {
	t.Parallel()
	r := sampleRun(20)
	r.Streams[0].FailureGroups = []summary.FailureGroup{
		{Stream: "s", Phase: "upgrade", Code: 503, Error: "HTTP 503 Service Unavailable", Count: 600, FirstMs: 2000, LastMs: 4990, Body: "no healthy upstream"},
		{Stream: "s", Phase: "upgrade", Error: `Get "http://127.0.0.1:30080/": dial tcp 127.0.0.1:30080: connect: connection refused`, Count: 3, FirstMs: 5000, LastMs: 5100},
	}
	assert.Equal(t, "600 × HTTP 503 during upgrade; 3 × connection refused during upgrade.", Headline(r))

	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, r, Config{}))
	html := buf.String()
	assert.Contains(t, html, "<strong>600 × HTTP 503 during upgrade; 3 × connection refused during upgrade.</strong>")
	assert.Contains(t, html, `<td class="n">600</td><td class="n">2.0s</td><td class="n">5.0s</td><td>s</td><td>upgrade</td><td>HTTP 503 Service Unavailable</td><td><code>no healthy upstream</code></td>`)
	assert.Equal(t, 1, strings.Count(html, "HTTP 503 Service Unavailable</td>"), "one row for 600 identical failures")

	// A step that passed but saw unexpected responses is not shown as a plain pass.
	r.Phases[1].Outcome, r.Phases[1].Error = summary.OutcomePassed, ""
	buf.Reset()
	require.NoError(t, WriteHTML(&buf, r, Config{}))
	assert.Contains(t, buf.String(), `<td>upgrade</td><td class="bad">passed · 3 unexpected</td>`)

	r.Verdict, r.Streams[0].FailureGroups, r.Checks = summary.VerdictFail, nil, []summary.Check{{Name: "stepsSucceeded", Kind: "stepsSucceeded", Summary: "1 of 2 steps succeeded", Steps: []string{"upgrade"}}}
	assert.Equal(t, "check stepsSucceeded failed during upgrade: 1 of 2 steps succeeded.", Headline(r))
	r.Verdict, r.Error = summary.VerdictError, "load generator saturated"
	assert.Equal(t, "Harness error, no verdict on the target: load generator saturated", Headline(r))
	r.Verdict = summary.VerdictPass
	assert.Equal(t, "Every gate passed: 200 requests, 0 unexpected.", Headline(r))
}

// An in-mesh stream's revision × revision record is in both the HTML page and the job summary.
func TestInMeshMatrixIsReported(t *testing.T) {
	t.Parallel()
	run := &summary.Run{Scenario: "lab", Verdict: summary.VerdictFail, Streams: []summary.Stream{{Name: "gen", Rate: "20/s",
		InMesh: &summary.InMesh{Namespace: "demo-a", Identity: "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-gen",
			Via: summary.IdentityViaTLS, Callee: "app-b.demo-b.svc.cluster.local", Peers: map[string]int64{"spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-gen": 3},
			Pairs: []summary.InMeshPair{
				{Phase: "move-demo-a", From: "old", To: "new", Requests: 41, Failures: 2, NotMTLS: 39},
				{Phase: "move-demo-a", From: "new", To: "", Requests: 3},
			}}}}}
	var h, m strings.Builder
	require.NoError(t, WriteHTML(&h, run, Config{}))
	require.NoError(t, WriteMarkdown(&m, run, Config{}))
	assert.Contains(t, h.String(), "<h2>In-mesh calls: gen</h2>")
	assert.Contains(t, h.String(), "<td>move-demo-a</td><td>old → new</td><td class=\"n\">41</td>")
	assert.Contains(t, h.String(), "new → no proxy")
	assert.Contains(t, h.String(), "identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC)")
	assert.Contains(t, h.String(), "Caller identities the callee saw: <code>spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-gen</code> (3 calls)")
	assert.Contains(t, m.String(), "| move-demo-a | old → new | 41 | 0 | 2 | 39 |")
	assert.Contains(t, m.String(), "| move-demo-a | new → no proxy | 3 | 3 | 0 | 0 |")
	assert.Contains(t, m.String(), "identity `spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-gen`; identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC)")
	assert.Contains(t, m.String(), "Caller identity the callee saw: `spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-gen` (3 calls)")
}

// A generator that kept up but was delayed says what that costs the proof; a saturated one says its
// requests prove nothing; one on schedule says so.
// What injection changed, per moved workload, in every report: the job summary folds it, the HTML lists it
// with the checks, JSON keeps the record.
func TestInjectionRecordsAreReported(t *testing.T) {
	rec := summary.Check{Name: "injection demo-a/app-a", Kind: scenarios.RecordInjectionDiff, Passed: true, Phase: "move-demo-a",
		Summary:  "app-a-1 (revision old) → app-a-2 (revision new): 2 field(s) differ, 1 beyond the revision's name and the proxy image",
		Evidence: []string{"container istio-proxy image: hub/proxyv2:a → hub/proxyv2:b (expected: proxy image)", "sidecar: container → native sidecar (init container, restartPolicy Always)"}}
	run := &summary.Run{Scenario: "lab", Verdict: summary.VerdictPass, Checks: []summary.Check{rec}}
	var h, m strings.Builder
	require.NoError(t, WriteHTML(&h, run, Config{}))
	require.NoError(t, WriteMarkdown(&m, run, Config{}))
	assert.Contains(t, m.String(), "<details><summary>What injection changed</summary>")
	assert.Contains(t, m.String(), "**demo-a/app-a** (move-demo-a): app-a-1 (revision old) → app-a-2 (revision new): 2 field(s) differ")
	assert.Contains(t, m.String(), "- `sidecar: container → native sidecar (init container, restartPolicy Always)`")
	assert.Contains(t, h.String(), "sidecar: container → native sidecar (init container, restartPolicy Always)")
}

func TestGeneratorStateSaysWhatTheDelaysCost(t *testing.T) {
	t.Parallel()
	run := &summary.Run{Scenario: "s", Verdict: summary.VerdictPass, Streams: []summary.Stream{
		{Name: "delayed", Rate: "20/s", Generator: summary.Generator{AskedRPS: 20, AchievedRPS: 20, Sent: 1058, Late: 14, MaxLagMs: 190}},
		{Name: "behind", Rate: "50/s", Generator: summary.Generator{AskedRPS: 50, AchievedRPS: 2, Sent: 10, Late: 8, MaxLagMs: 4000, Saturated: true}},
		{Name: "steady", Rate: "10/s", Generator: summary.Generator{AskedRPS: 10, AchievedRPS: 10, Sent: 100}},
	}}
	var m strings.Builder
	require.NoError(t, WriteMarkdown(&m, run, Config{}))
	assert.Contains(t, m.String(), "| delayed | 20/s | 20.0/s | 14 | 0 | kept up, 14 request(s) sent up to 190 ms late: an outage shorter than that at those moments would not show |")
	assert.Contains(t, m.String(), "| behind | 50/s | 2.0/s | 8 | 0 | ❌ saturated: its requests say nothing about the target |")
	assert.Contains(t, m.String(), "| steady | 10/s | 10.0/s | 0 | 0 | kept its schedule |")
}

// An interrupted run's headline says where it was interrupted and which steps never ran — not that they
// failed.
func TestInterruptedHeadlineSaysWhereAndWhatDidNotRun(t *testing.T) {
	t.Parallel()
	r := &summary.Run{Verdict: summary.VerdictInterrupted, Interrupted: true, Phases: []summary.Phase{
		{Name: "warm-up", Kind: "warmup"},
		{Name: "install", Kind: "step", Outcome: summary.OutcomePassed},
		{Name: "move-demo-a", Kind: "step", Outcome: summary.OutcomeInterrupted, Error: "interrupted"},
		{Name: "move-demo-b", Kind: "step", Outcome: summary.OutcomeNotRun, Error: "the run was interrupted during move-demo-a"},
		{Name: "uninstall", Kind: "step", Outcome: summary.OutcomeNotRun, Error: "the run was interrupted during move-demo-a"},
	}}
	assert.Equal(t, "Interrupted during move-demo-a; not run: move-demo-b, uninstall: no failure measured until then.", Headline(r))
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, r, Config{}))
	assert.Contains(t, buf.String(), `<skipped message="not run: the run was interrupted during move-demo-a"></skipped>`)
	assert.Contains(t, buf.String(), `<failure message="interrupted" type="interrupted">`)
}

// A run that exited at once (a second signal) while a step ran: the step still running has a failure with a
// message, and the suite's error count has the error element it counts.
func TestJUnitOfAnExitAtOnceHasItsErrorAndTheRunningStepsMessage(t *testing.T) {
	t.Parallel()
	r := &summary.Run{Scenario: "s", Verdict: summary.VerdictInterrupted, Interrupted: true,
		Error:  "exited at once on a second signal: the reports show what was measured until then",
		Phases: []summary.Phase{{Name: "move", Kind: "step", Outcome: summary.OutcomeRunning}}}
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, r, Config{}))
	out := buf.String()
	assert.Contains(t, out, `errors="1"`)
	assert.Contains(t, out, `<error message="exited at once on a second signal: the reports show what was measured until then" type="harness">`)
	assert.Contains(t, out, `<failure message="still running when canarygate exited at once (a second signal): its outcome is unknown" type="running">`)
}

// Windows (a disruption, an API server outage) are a table of their own in the HTML page and the job summary,
// with what each stream sent in them and whether the fault was undone; a failure group sent in one names it
// beside its step, and one sent outside names none.
func TestWindowsAreReportedAndNamedBesideTheFailuresSentInThem(t *testing.T) {
	r := sampleRun(20)
	r.Windows = []summary.Window{
		{Name: "istiod-down", Kind: summary.WindowKindDisruption, What: "scale deployment istio-system/istiod-new to 0", StartMs: 2000, EndMs: 6000, Restored: true},
		{Name: "API server of lab unreachable", Kind: summary.WindowKindOutage, What: "API server of cluster lab unreachable 10:00:04–10:00:05", StartMs: 4000, EndMs: 5000, Restored: true},
		{Name: "pause", Kind: summary.WindowKindDisruption, What: "pause lab-control-plane", StartMs: 15000, EndMs: 16000, RestoreError: "disruption not restored: unpause failed"},
	}
	r.Streams[0].PerWindow = []summary.Stats{{Requests: 40, Failures: 3}, {Requests: 10, Failures: 3}, {Requests: 10}}
	r.Streams[0].FailureGroups = []summary.FailureGroup{
		{Stream: "s", Phase: "upgrade", Error: "503", Count: 3, FirstMs: 4100, LastMs: 4300},
		{Stream: "s", Phase: "upgrade", Error: "reset", Count: 1, FirstMs: 9000, LastMs: 9000},
	}
	var md bytes.Buffer
	require.NoError(t, WriteMarkdown(&md, r, Config{}))
	assert.Contains(t, md.String(), "| istiod-down | scale deployment istio-system/istiod-new to 0 | 2.0s | 4.0s | restored | s: 40 sent, 3 unexpected |")
	assert.Contains(t, md.String(), "| pause | pause lab-control-plane | 15.0s | 1.0s | NOT restored: disruption not restored: unpause failed | s: 10 sent, 0 unexpected |")
	assert.Contains(t, md.String(), "| 3 | 4.100s | 4.300s | s | upgrade (disruption istiod-down; API server of cluster lab unreachable 10:00:04–10:00:05) | 503 |")
	assert.Contains(t, md.String(), "| 1 | 9.000s | 9.000s | s | upgrade | reset |")
	var html bytes.Buffer
	require.NoError(t, WriteHTML(&html, r, Config{}))
	assert.Contains(t, html.String(), "<h2>Disruptions</h2>")
	assert.Contains(t, html.String(), "NOT restored: disruption not restored: unpause failed")
	assert.Contains(t, html.String(), "<small>disruption istiod-down; API server of cluster lab unreachable 10:00:04–10:00:05</small>")
}

// A check with nothing to judge (its steps all skipped by their conditions) reads "n/a" in every report — a
// skipped testcase in JUnit, never a pass nor a failure.
func TestANotApplicableCheckIsNeitherPassNorFailInEveryReport(t *testing.T) {
	t.Parallel()
	run := sampleRun(10)
	c := summary.Check{Name: "rollbackLatency", Kind: "latencyP99"}
	c.SkippedSteps([]string{"later"})
	run.Checks = append(run.Checks, c)

	md, html, doc := everyReport(t, run)
	assert.Contains(t, md, "| rollbackLatency | ➖ n/a | not applicable: every step it judges (later) was skipped by its condition")
	assert.Regexp(t, `rollbackLatency<br><small></small></td>\s*<td class="">n/a</td>`, html)
	assert.Equal(t, 2, doc.Failures, "as without it")
	assert.Equal(t, 2, doc.Skipped, "the skipped step and the check")
	tc := doc.testcase(t, "check: rollbackLatency")
	require.NotNil(t, tc.Skipped, "the check's testcase is skipped")
	assert.Contains(t, tc.Skipped.Message, "not applicable", "the check's testcase is skipped, saying why")
}

// A check the harness could not judge reads "error" in every report — a JUnit error (the harness's), never
// a failure of the target nor a pass.
func TestACheckTheHarnessCouldNotJudgeIsAnErrorInEveryReport(t *testing.T) {
	t.Parallel()
	run := sampleRun(10)
	run.Checks = append(run.Checks, summary.Check{Name: "errorRatio", Kind: "prometheus",
		Summary: "not judged: a recorded result does not decode: EOF", Error: "a recorded result does not decode: EOF"})

	md, html, doc := everyReport(t, run)
	assert.Contains(t, md, "| errorRatio | ⚠️ error | not judged: a recorded result does not decode: EOF |")
	assert.Regexp(t, `errorRatio<br><small></small></td>\s*<td class="bad">error</td>`, html)
	assert.Equal(t, 2, doc.Failures, "as without it")
	assert.Equal(t, 1, doc.Errors, "the check's")
	tc := doc.testcase(t, "check: errorRatio")
	require.NotNil(t, tc.Error, "the check's testcase is an error")
	assert.Nil(t, tc.Failure, "not a failure")
	assert.Equal(t, "not judged: a recorded result does not decode: EOF", tc.Error.Message, "the check's testcase is an error, saying why")
}

// everyReport renders the run's markdown and HTML reports and reads back its JUnit report.
func everyReport(t *testing.T, run *summary.Run) (md, html string, junit junitDoc) {
	t.Helper()
	var m, h, j bytes.Buffer
	require.NoError(t, WriteMarkdown(&m, run, Config{}))
	require.NoError(t, WriteHTML(&h, run, Config{}))
	require.NoError(t, WriteJUnit(&j, run, Config{}))
	return m.String(), h.String(), readJUnit(t, j.Bytes())
}
