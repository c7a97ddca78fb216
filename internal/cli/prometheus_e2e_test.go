package cli_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// successRatio is the share of the loopback server's answers that were not 503 in a window.
const successRatio = `sum(increase(testserver_requests_total{code!="503"}[$window])) / sum(increase(testserver_requests_total[$window]))`

// promRun runs testdata/prometheus.yaml against srv with the gate asking prom.
func promRun(t *testing.T, srv *testserver.Server, prom string, vars ...string) (runOut, *summary.Run, string) {
	t.Helper()
	return promRunFile(t, "testdata/prometheus.yaml", srv, prom, vars...)
}

func promRunFile(t *testing.T, file string, srv *testserver.Server, prom string, vars ...string) (runOut, *summary.Run, string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"run", file, "--no-env", "--out", dir, "--var", "TARGET=" + srv.URL, "--var", "PROM=" + prom,
		"--var", "QUERY=" + successRatio}
	for _, v := range vars {
		args = append(args, "--var", v)
	}
	res := runCLI(t, args...)
	run, err := summary.Read(dir)
	if err != nil {
		return res, nil, dir
	}
	return res, run, dir
}

func checkNamed(t *testing.T, run *summary.Run, name string) summary.Check {
	t.Helper()
	for _, c := range run.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, run.Checks)
	return summary.Check{}
}

// A real Prometheus scraping the loopback server's own counters: when a step makes it answer 503, the gate
// fails naming that step, with the query and the values in every report; the step before, and the run as a
// whole under a looser threshold, pass.
func TestPrometheusGateFailsNamingTheStepWhoseErrorRatioPrometheusSaw(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	prom := testenv.Prometheus(t, testenv.HostPort(t, srv.URL))

	res, run, dir := promRun(t, srv, prom)
	require.NotNil(t, run, res.stderr)
	assert.Equal(t, 1, res.code, "a gate failed")
	assert.Equal(t, summary.VerdictFail, run.Verdict)
	c := checkNamed(t, run, "error-ratio")
	assert.False(t, c.Passed)
	assert.Equal(t, []string{"degraded"}, c.Steps, "only the step the fault was in is blamed")
	// Every request sent in degraded's window answered 503; its evaluation reaches one scrape interval past
	// its end, where heal's healthy answers are counted too (Prometheus resolves nothing finer).
	m := regexp.MustCompile(`degraded: \{\} = (\S+), not value >= 0\.99`).FindStringSubmatch(c.Summary)
	require.NotNil(t, m, c.Summary)
	ratio, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.Less(t, ratio, 0.5, "the success ratio Prometheus saw in degraded's window")
	assert.NotContains(t, c.Summary, "healthy")
	require.Len(t, c.Evidence, 2)
	assert.Contains(t, c.Evidence[0], `healthy (`)
	assert.Contains(t, c.Evidence[0], `sum(increase(testserver_requests_total{code!="503"}[4s`, "$window is the step's length plus one scrape interval, to the millisecond")
	assert.Contains(t, c.Evidence[0], "→ {} 1", "no 503 while healthy")
	over := checkNamed(t, run, "error-ratio-over-the-run")
	assert.True(t, over.Passed, over.Summary)
	for _, f := range []string{report.MarkdownFile, report.HTMLFile, report.JUnitFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert.Contains(t, string(b), "testserver_requests_total", "%s shows the query", f)
		assert.Contains(t, string(b), "not value &gt;= 0.99", "%s shows the values and the threshold", f)
	}
}

func TestPrometheusGatePassesWhenPrometheusSawNoErrors(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	prom := testenv.Prometheus(t, testenv.HostPort(t, srv.URL))

	res, run, _ := promRun(t, srv, prom, "FAULT=ok")
	require.NotNil(t, run, res.stderr)
	assert.Equal(t, 0, res.code, "every gate passed")
	c := checkNamed(t, run, "error-ratio")
	assert.True(t, c.Passed, c.Summary)
	assert.Equal(t, "value >= 0.99 in each of 2 steps (healthy: 1, degraded: 1) — query: "+successRatio, c.Summary)
}

// No data is a failure, never a pass: a metric Prometheus does not have, and a step shorter than two scrape
// intervals (nothing to take an increase over), each say so.
func TestPrometheusGateFailsOnNoData(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	prom := testenv.Prometheus(t, testenv.HostPort(t, srv.URL))

	t.Run("no such metric", func(t *testing.T) {
		res, run, _ := promRun(t, srv, prom, "FAULT=ok", "QUERY=sum(increase(no_such_metric_total[$window]))")
		// The windows are about 3s, three scrapes each
		require.NotNil(t, run, res.stderr)
		assert.Equal(t, 1, res.code)
		c := checkNamed(t, run, "error-ratio")
		assert.False(t, c.Passed)
		assert.Contains(t, c.Summary, "healthy: no data (sum(increase(no_such_metric_total[4s")
		assert.Contains(t, c.Summary, "degraded: no data")
		assert.NotContains(t, c.Summary, "scrape intervals", "the windows were long enough: the metric is what is missing")
	})
	t.Run("a step shorter than two scrapes", func(t *testing.T) {
		res, run, _ := promRun(t, srv, prom, "FAULT=ok", "STEP1=short", "STEP2=short")
		require.NotNil(t, run, res.stderr)
		assert.Equal(t, 1, res.code)
		c := checkNamed(t, run, "error-ratio")
		assert.False(t, c.Passed)
		assert.Equal(t, []string{"short"}, c.Steps)
		assert.Contains(t, c.Summary, "short: not judged: the window lasted 300ms, shorter than two scrape intervals (2 × 1s)",
			"the interval read from Prometheus's own configuration")
	})
}

// A fault in the last fraction of a scrape interval of the run, with no cool-down: its 503s are first in
// Prometheus at the scrape after the run. The gate waits for that scrape and evaluates past the run's end, so
// it fails; asked at the run's end, it would have passed on the requests before the fault.
func TestPrometheusGateSeesAFaultInTheRunsLastScrapeInterval(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	prom := testenv.Prometheus(t, testenv.HostPort(t, srv.URL))

	res, run, _ := promRunFile(t, "testdata/prometheus-tail.yaml", srv, prom)
	require.NotNil(t, run, res.stderr)
	assert.Equal(t, 1, res.code, "a gate failed")
	c := checkNamed(t, run, "error-ratio-over-the-run")
	assert.False(t, c.Passed)
	m := regexp.MustCompile(`run: \{\} = (\S+), not value >= 0\.99`).FindStringSubmatch(c.Summary)
	require.NotNil(t, m, c.Summary)
	ratio, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	// About 15 of 215 requests answered 503 (300 ms of 4.3 s at 50/s).
	assert.Less(t, ratio, 0.99)
	assert.Greater(t, ratio, 0.5, "the requests before the fault are counted too")
	require.Len(t, c.Evidence, 1)
	w := regexp.MustCompile(`\{code!="503"\}\[([0-9a-z]+)\]`).FindStringSubmatch(c.Evidence[0])
	require.NotNil(t, w, c.Evidence[0])
	d, err := model.ParseDuration(w[1])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Duration(d), 5300*time.Millisecond, "$window: the run's 4.3 s and more, plus one scrape interval")
}

// What cannot be asked is found before the load starts: a query the parser accepts but Prometheus refuses is
// bad input (exit 2), a Prometheus that does not answer an error (exit 3) — and nothing was sent.
func TestPrometheusGateRefusedOrUnreachableBeforeTheLoadStarts(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	prom := testenv.Prometheus(t, testenv.HostPort(t, srv.URL))

	t.Run("refused", func(t *testing.T) {
		// label_replace's regular expression is compiled when evaluated: the parser cannot see it is broken.
		res, _, _ := promRun(t, srv, prom, `QUERY=label_replace(vector(1), "x", "$1", "y", "(")`)
		assert.Equal(t, 2, res.code, "bad input")
		assert.Contains(t, res.stderr, "query refused")
		assert.Contains(t, res.stderr, "invalid regular expression")
		assert.Zero(t, srv.Served(), "no load was sent")
	})
	t.Run("unreachable", func(t *testing.T) {
		res, _, _ := promRun(t, srv, "http://127.0.0.1:1")
		assert.Equal(t, 3, res.code, "an error of the run's surroundings, not a verdict")
		assert.Contains(t, res.stderr, "prometheus did not answer")
		assert.Zero(t, srv.Served(), "no load was sent")
	})
}

// A Prometheus that answered before the load and fails when the run asks it afterwards: the harness could
// not judge the run on its data — an error (exit 3) naming it, never a failed gate, never a pass. (A
// loopback stand-in of Prometheus's HTTP API: the query answers once, then 503s.)
func TestPrometheusThatStopsAnsweringAfterTheLoadIsAnError(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	var queries atomic.Int32
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/status/config":
			_, _ = io.WriteString(w, `{"status":"success","data":{"yaml":"global:\n  scrape_interval: 1s\n"}}`)
		case "/api/v1/query":
			if queries.Add(1) > 2 { // the two gates' preflights
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "<html>upstream unavailable</html>")
				return
			}
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer prom.Close()

	res, run, _ := promRun(t, srv, prom.URL, "FAULT=ok")
	require.NotNil(t, run, res.stderr)
	assert.Equal(t, 3, res.code, "the harness could not judge: an error")
	assert.Equal(t, summary.VerdictError, run.Verdict)
	assert.Contains(t, run.Error, "prometheus did not answer")
	assert.Contains(t, run.Error, "gate error-ratio")
	assert.Positive(t, srv.Served(), "the load ran: Prometheus answered before it")
}
