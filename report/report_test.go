package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	var buf bytes.Buffer
	require.NoError(t, WriteJUnit(&buf, sampleRun(10), Config{}))
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suite    struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc))
	assert.Equal(t, 4, doc.Tests, "2 steps + 2 checks; warm-up and cool-down are not testcases")
	assert.Equal(t, 2, doc.Failures)
	assert.Equal(t, 1, doc.Skipped)
	names := []string{}
	for _, c := range doc.Suite.Cases {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"upgrade", "later", "check: noUnexpectedStatus", "check: stepsSucceeded"}, names)
}

func TestHTMLDownsamplesLongRunsAndStaysSelfContained(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, sampleRun(3600), Config{MaxChartPoints: 300}))
	html := buf.String()
	assert.Contains(t, html, "downsampled")
	// Two polylines of at most 300 points each.
	for _, line := range strings.Split(html, "\n") {
		if strings.Contains(line, "<polyline") {
			for _, poly := range strings.Split(line, "<polyline")[1:] {
				assert.LessOrEqual(t, strings.Count(poly, ","), 300)
			}
		}
	}
	assert.NotContains(t, strings.ToLower(html), "<script")
	assert.Less(t, len(html), 200_000, "an hour-long run's report stays small")
}

func TestWriteAllWritesEveryFormatAndAppendsTheJobSummary(t *testing.T) {
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
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, summary.FileName), []byte(`{"schemaVersion": 99}`), 0o644))
	_, err := summary.Read(dir)
	var se *summary.SchemaError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "schemaVersion 99")
}
