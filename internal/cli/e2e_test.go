package cli_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/base/proc"
	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

type runOut struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) runOut {
	t.Helper()
	t.Setenv(envChild, "1")
	var out, errOut bytes.Buffer
	code := cli.Main(args, streams.IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	t.Logf("canarygate %s → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return runOut{code, out.String(), errOut.String()}
}

// exampleArgs runs the shipped http-example scenario, shortened, against srv, with the test binary as the
// upgrade command.
func exampleArgs(srv *testserver.Server, out string, extra ...string) []string {
	args := []string{"run", "http-example",
		"--var", "TARGET=" + srv.URL, "--var", "OUT=" + out, "--var", "RATE=50/s",
		"--var", "WARMUP=1500ms", "--var", "COOLDOWN=1500ms", "--var", "SETTLE=500ms",
		"--var", "UPGRADE_CMD=" + os.Args[0], "--no-env"}
	return append(args, extra...)
}

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, dir string) junitDoc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	require.NoError(t, err)
	var doc junitDoc
	require.NoError(t, xml.Unmarshal(data, &doc), "junit.xml must parse")
	require.Len(t, doc.Suites, 1)
	return doc
}

func (d junitDoc) prop(name string) string {
	for _, p := range d.Suites[0].Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// decodeResults reads the results file with vegeta's own decoder and totals it.
func decodeResults(t *testing.T, path string) (total, failures int) {
	t.Helper()
	for _, r := range readResults(t, path) {
		total++
		if r.Code != 200 {
			failures++
		}
	}
	return total, failures
}

func TestShippedExamplePassesAgainstAHealthyServerAndEveryReportAgrees(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv(envOK, "upgraded")
	stepSummary := filepath.Join(t.TempDir(), "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", stepSummary)

	res := runCLI(t, exampleArgs(srv, dir)...)
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "http-example: pass")

	for _, f := range []string{report.HTMLFile, report.JUnitFile, report.JSONFile, report.MarkdownFile, summary.ResultsFileName} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictPass, run.Verdict)
	total := run.TotalRequests()
	// 50/s over ~4.5 s of traffic at least: the load really ran.
	assert.Greater(t, total, int64(150))
	assert.Zero(t, run.TotalFailures())
	assert.Equal(t, srv.Served(), total+1, "every request the server answered is counted (plus the probe step's one), and no more")

	// Same totals everywhere.
	var perPhase int64
	for _, ps := range run.Streams[0].PerPhase {
		perPhase += ps.Requests
	}
	assert.Equal(t, total, perPhase, "per-phase counts add up to the total: every result is attributed to exactly one phase")
	var perSecond int64
	for _, s := range run.Streams[0].Series {
		perSecond += s.Requests
	}
	assert.Equal(t, total, perSecond)
	n, fails := decodeResults(t, filepath.Join(dir, summary.ResultsFileName))
	assert.Equal(t, int(total), n, "results file total equals the JSON summary's")
	assert.Zero(t, fails)

	junit := readJUnit(t, dir)
	assert.Equal(t, strconv.FormatInt(total, 10), junit.prop("requests"))
	assert.Equal(t, "pass", junit.prop("verdict"))
	assert.Equal(t, 0, junit.Failures)
	assert.Equal(t, 4+3+1+1, junit.Tests, "4 steps, 3 final checks, the check step's own and the load generator")

	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), strconv.FormatInt(total, 10)+" requests, 0 unexpected")
	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assert.Contains(t, string(html), strconv.FormatInt(total, 10)+" requests, 0 unexpected")
	assertSelfContained(t, string(html))
	job, err := os.ReadFile(stepSummary)
	require.NoError(t, err)
	assert.Equal(t, string(md), string(job), "the job summary gets the markdown summary")

	// canarygate report renders the same reports again from the JSON summary.
	require.NoError(t, os.Remove(filepath.Join(dir, report.HTMLFile)))
	again := runCLI(t, "report", dir)
	require.Equal(t, 0, again.code)
	html2, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assert.Equal(t, string(html), string(html2))
}

func assertSelfContained(t *testing.T, html string) {
	t.Helper()
	for _, re := range []string{`(?i)<script`, `(?i)<link[^>]+href`, `(?i)src\s*=\s*["']?https?:`, `(?i)url\(\s*["']?https?:`, `(?i)@import`} {
		assert.NotRegexp(t, regexp.MustCompile(re), html, "the HTML report must fetch nothing and run nothing")
	}
}

func TestFaultDuringAStepFailsTheGateAndIsAttributedToThatStep(t *testing.T) {
	for _, mode := range []string{testserver.Mode503, testserver.ModeReset, testserver.ModeSlow} {
		t.Run(mode, func(t *testing.T) {
			// Slow answers take longer than the stream's 2 s timeout.
			srv := testserver.New(3 * time.Second)
			defer srv.Close()
			dir := t.TempDir()
			t.Setenv(envFault, srv.ControlURL(mode)+" 1500ms "+srv.ControlURL(testserver.ModeOK))

			var extra []string
			if mode == testserver.ModeSlow {
				// Requests time out 2 s after they were sent: let them land before the mid-run check looks.
				extra = []string{"--var", "SETTLE=2500ms"}
			}
			res := runCLI(t, exampleArgs(srv, dir, extra...)...)
			require.Equal(t, 1, res.code, "a failed gate exits 1")

			run, err := summary.Read(dir)
			require.NoError(t, err)
			assert.Equal(t, summary.VerdictFail, run.Verdict)
			st := run.Streams[0]
			require.Positive(t, st.Totals.Failures, "the fault produced failures")
			upgrade := run.PhaseIndex("upgrade")
			require.GreaterOrEqual(t, upgrade, 0)
			for i, p := range run.Phases {
				if i == upgrade {
					assert.Equal(t, st.Totals.Failures, st.PerPhase[i].Failures, "every failure belongs to the step that ran when it was sent")
					continue
				}
				assert.Zero(t, st.PerPhase[i].Failures, "no failure is attributed to %q", p.Name)
			}
			assert.Equal(t, summary.OutcomePassed, run.Phases[upgrade].Outcome, "the upgrade command itself succeeded")
			for _, f := range st.FirstFailures {
				assert.Equal(t, "upgrade", f.Phase)
			}
			var gate summary.Check
			for _, c := range run.Checks {
				if c.Kind == "noUnexpectedStatus" {
					gate = c
				}
			}
			assert.False(t, gate.Passed)
			assert.Contains(t, strings.Join(gate.Evidence, "\n"), `during "upgrade"`)
			assert.NotContains(t, strings.Join(gate.Evidence, "\n"), `during "warm-up"`)
			// The mid-run check step after the fault fails, stopping the run; cool-down still ran.
			check := run.Phases[run.PhaseIndex("no-errors-so-far")]
			assert.Equal(t, summary.OutcomeFailed, check.Outcome)
			assert.GreaterOrEqual(t, run.PhaseIndex("cool-down"), 0)

			junit := readJUnit(t, dir)
			failed := map[string]string{}
			for _, c := range junit.Suites[0].Cases {
				if c.Failure != nil {
					failed[c.Name] = c.Failure.Text
				}
			}
			assert.Contains(t, failed, "check: noUnexpectedStatus")
			assert.Contains(t, failed["check: noUnexpectedStatus"], `during "upgrade"`)
			assert.NotContains(t, failed["check: noUnexpectedStatus"], `during "warm-up"`)
			assert.NotContains(t, failed, "upgrade", "the step's own testcase passed: it ran fine, the traffic did not")
			assert.Contains(t, failed, "no-errors-so-far")

			html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
			require.NoError(t, err)
			assert.Contains(t, string(html), `during &#34;upgrade&#34;`)
			assert.NotContains(t, string(html), `during &#34;warm-up&#34;`)
			assert.NotContains(t, string(html), `during &#34;settle&#34;`)
		})
	}
}

func TestHostileBodiesOutputAndNamesAreEscapedInEveryReport(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	srv.SetFailureBody(`<script>alert("body")</script>`)
	srv.SetMode(testserver.Mode503)
	dir := t.TempDir()
	t.Setenv(envEcho, `<script>alert("output")</script><img src=x onerror=alert(1)>`)
	res := runCLI(t, "run", "testdata/hostile.yaml", "--var", "TARGET="+srv.URL, "--var", "HELPER="+os.Args[0], "--out", dir)
	require.Equal(t, 1, res.code)

	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assertSelfContained(t, string(html))
	assert.NotRegexp(t, regexp.MustCompile(`(?i)<img`), string(html))
	// The hostile strings are there, escaped: the test would see them if they were not.
	assert.Contains(t, string(html), `&lt;script&gt;alert(&#34;body&#34;)&lt;/script&gt;`)
	assert.Contains(t, string(html), `&lt;script&gt;alert(&#34;output&#34;)&lt;/script&gt;`)
	assert.Contains(t, string(html), `&lt;script&gt;alert(&#34;stream&#34;)&lt;/script&gt;`)

	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	require.NoError(t, err)
	assert.NotRegexp(t, regexp.MustCompile(`(?i)<script`), string(md))
	junit := readJUnit(t, dir)
	assert.Positive(t, junit.Failures)
}

func TestMalformedScenariosExit2NamingLineAndField(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 20)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			m := regexp.MustCompile(`(?m)^# want: (\d+) (.+)$`).FindStringSubmatch(string(data))
			require.NotNil(t, m, "each case says what it wants")
			for _, args := range [][]string{{"validate", f}, {"run", f, "--out", t.TempDir()}} {
				cmd := args[0]
				res := runCLI(t, append(args, "--no-env")...)
				assert.Equal(t, 2, res.code, "%s exits 2 on bad input", cmd)
				assert.Contains(t, res.stderr, f+":"+m[1]+":", "names the file and line")
				assert.Contains(t, res.stderr, m[2], "names the field or the problem")
			}
		})
	}
}

// A valid scenario this machine cannot run (a step's command missing here): validate passes it with a warning
// naming the file and line, --strict and run refuse it (exit 2) the same way.
func TestNotRunnableScenariosWarnAtValidateAndExit2AtRun(t *testing.T) {
	files, err := filepath.Glob("testdata/notrunnable/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			m := regexp.MustCompile(`(?m)^# want: (\d+) (.+)$`).FindStringSubmatch(string(data))
			require.NotNil(t, m, "each case says what it wants")
			for _, c := range []struct {
				args []string
				code int
			}{{[]string{"validate", f}, 0}, {[]string{"validate", f, "--strict"}, 2}, {[]string{"run", f, "--out", t.TempDir()}, 2}} {
				res := runCLI(t, append(c.args, "--no-env")...)
				assert.Equal(t, c.code, res.code, "%v", c.args)
				assert.Contains(t, res.stderr, f+":"+m[1]+":", "names the file and line")
				assert.Contains(t, res.stderr, m[2], "names the field or the problem")
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	assert.Equal(t, 2, runCLI(t, "run").code)
	assert.Equal(t, 2, runCLI(t, "run", "http-example", "--no-such-flag").code)
	assert.Equal(t, 2, runCLI(t, "run", "no-such-scenario").code)
	assert.Equal(t, 2, runCLI(t, "run", "http-example", "--var", "novalue").code)
	assert.Equal(t, 2, runCLI(t, "report", t.TempDir()).code, "a directory without summary.json")
}

func TestEveryShippedScenarioValidatesAndPlans(t *testing.T) {
	res := runCLI(t, "scenarios")
	require.Equal(t, 0, res.code)
	// The offline lab has no defaults for what hack/lab-env.sh builds on the machine: without them it is
	// bad input naming each variable (below); with them it is valid.
	lab := []string{"--var", "NODE_IMAGE=canarygate/kind-node:v1.37.2-test", "--var", "ISTIO_CHARTS=/charts",
		"--var", "OLD_ISTIO_CHARTS=/old-charts", "--var", "OLD_TAG=old", "--var", "NEW_TAG=new"}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		name := strings.Fields(line)[0]
		var vars []string
		if name == "istio-lab" {
			vars = lab
		}
		assert.Equal(t, 0, runCLI(t, append([]string{"validate", name}, vars...)...).code, name)
		p := runCLI(t, append([]string{"plan", name}, vars...)...)
		assert.Equal(t, 0, p.code)
		assert.Contains(t, p.stdout, "warm-up")
		assert.Contains(t, p.stdout, "cool-down")
	}
}

// istio-lab's variables come from hack/lab-env.sh; the scenario declares them with what each is and who sets
// it. validate and plan check everything else with them unset (exit 0), saying each one; run refuses before
// anything starts (exit 2), with the description; a variable nobody declared stays an error everywhere.
func TestTheLabValidatesAsShippedAndNamesTheVariablesItNeeds(t *testing.T) {
	lab := []string{"NODE_IMAGE", "ISTIO_CHARTS", "OLD_ISTIO_CHARTS", "OLD_TAG", "NEW_TAG"}
	res := runCLI(t, "validate", "istio-lab", "--no-env")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "✓ istio-lab (scenarios/istio-lab.yaml): valid")
	assert.Contains(t, res.stderr, "⚠ NODE_IMAGE is not set: the offline kind node image (kindest/node:v1.37.2-canarygate) — hack/lab-env.sh builds it, `make lab` sets it — checked without it")
	for _, v := range lab {
		assert.Contains(t, res.stderr, "⚠ "+v+" is not set: ", v)
	}
	assert.NotContains(t, res.stderr, "no chart directory", "a chart path that depends on an unset variable is not checked")

	plan := runCLI(t, "plan", "istio-lab", "--no-env")
	assert.Equal(t, 0, plan.code, plan.stderr)
	assert.Contains(t, plan.stdout, "Variables it needs:\n  ISTIO_CHARTS: NEW's Istio charts, stamped with its version and image tag — hack/lab-env.sh sets it (not set: ${ISTIO_CHARTS} below, run needs it)\n")
	assert.Contains(t, plan.stdout, "helm install release istio-system/istiod-old from ${OLD_ISTIO_CHARTS}/istio-control/istio-discovery")

	run := runCLI(t, "run", "istio-lab", "--no-env", "--out", t.TempDir())
	assert.Equal(t, 2, run.code)
	assert.Contains(t, run.stderr, "variable NODE_IMAGE is not set: the offline kind node image (kindest/node:v1.37.2-canarygate) — hack/lab-env.sh builds it, `make lab` sets it (pass --var NODE_IMAGE=VALUE or set it in the environment)")
	assert.NotContains(t, run.stderr, "creating cluster", "refused before anything starts")

	// Set, they are said to be: plan lists them as set.
	plan = runCLI(t, "plan", "istio-lab", "--no-env", "--var", "NODE_IMAGE=kindest/node:v1.37.2-canarygate", "--var", "ISTIO_CHARTS=/new-charts",
		"--var", "OLD_ISTIO_CHARTS=/old-charts", "--var", "OLD_TAG=old", "--var", "NEW_TAG=new")
	assert.Equal(t, 0, plan.code, plan.stderr)
	assert.Contains(t, plan.stdout, "  NEW_TAG: the image tag of NEW's istiod and proxy, built here — hack/lab-env.sh sets it (set)\n")
	assert.NotContains(t, plan.stdout, "${")
}

// interruptInStep runs canarygate with args in a process of its own, sends it SIGINT once it says it runs
// step (after inStep, when given, saw the run there), and requires it to exit 130 within the time given.
func interruptInStep(t *testing.T, args []string, step string, within time.Duration, inStep func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envMain+"=1", envChild+"=1")
	stderr := &proc.Output{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	// The run announces each step on stderr: interrupt once it is inside this one.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(stderr.String(), "step "+step) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	require.Contains(t, stderr.String(), "step "+step)
	if inStep != nil {
		inStep()
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 130, exit.ExitCode())
	case <-time.After(within):
		_ = cmd.Process.Kill()
		t.Fatalf("canarygate did not stop within %s of SIGINT", within)
	}
}

func TestInterruptWritesReportsAndExits130(t *testing.T) {
	t.Setenv(envOK, "upgraded")
	srv := testserver.New(time.Second)
	defer srv.Close()
	dir := t.TempDir()
	interruptInStep(t, exampleArgs(srv, dir, "--var", "SETTLE=60s"), "settle", 30*time.Second, nil)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.True(t, run.Interrupted)
	assert.Equal(t, summary.VerdictInterrupted, run.Verdict)
	assert.Positive(t, run.TotalRequests())
	settle := run.Phases[run.PhaseIndex("settle")]
	assert.Equal(t, summary.OutcomeInterrupted, settle.Outcome, "interrupted, not failed")
	assert.Equal(t, "interrupted", settle.Error)
	probe := run.Phases[run.PhaseIndex("probe")]
	assert.Equal(t, summary.OutcomeNotRun, probe.Outcome)
	assert.Equal(t, "the run was interrupted during settle", probe.Error)
	for _, f := range []string{report.HTMLFile, report.JUnitFile, report.MarkdownFile, summary.ResultsFileName} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	n, _ := decodeResults(t, filepath.Join(dir, summary.ResultsFileName))
	assert.Equal(t, int(run.TotalRequests()), n)
}

func TestRehearsalWithoutAContainerEngineExits3WithOneLine(t *testing.T) {
	// No engine CLI on PATH (this machine may well have Docker): the kind provider finds none.
	t.Setenv("PATH", t.TempDir())
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	res := runCLI(t, "run", "istio-canary", "--no-env", "--out", t.TempDir())
	assert.Equal(t, 3, res.code)
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		if strings.HasPrefix(l, "✗") || strings.Contains(l, "goroutine") || strings.Contains(l, "panic") {
			errLines = append(errLines, l)
		}
	}
	require.Len(t, errLines, 1, "one line, no stack trace")
	assert.Contains(t, errLines[0], "no container engine answers")
	assert.Contains(t, errLines[0], "docker: not on PATH")
}
