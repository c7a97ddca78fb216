package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/summary"
)

// In a GitHub Actions step, validate annotates each problem at its scenario's file:line:col (an error), and
// what only this machine lacks as a warning.
func TestValidateAnnotatesProblemsInGitHubActions(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "true")
	bad, notRunnable := "testdata/invalid/bad-duration.yaml", "testdata/notrunnable/missing-command.yaml"
	res := runCLI(t, "validate", bad, notRunnable)
	require.Equal(t, 2, res.code)
	assert.Contains(t, res.stdout, "::error file="+bad+",line=4,col=11,title=traffic.warmup::\"five seconds\" is not a duration")
	assert.Contains(t, res.stdout, "::warning file="+notRunnable+",line=8,col=7,title=steps[0].run.command::\"istioctll\" is not found on PATH")

	t.Setenv("GITHUB_ACTIONS", "")
	res = runCLI(t, "validate", bad, notRunnable)
	require.Equal(t, 2, res.code)
	assert.NotContains(t, res.stdout+res.stderr, "::", "no workflow commands outside GitHub Actions")
}

// A run that fails its gates in a GitHub Actions step: an annotation names each failed check and step, each
// step's lines are a group of the log, and the step output `unexpected` is the run record's count.
func TestRunAnnotatesFailuresAndGroupsStepsInGitHubActions(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	dir := t.TempDir()
	output := filepath.Join(t.TempDir(), "output")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_OUTPUT", output)
	t.Setenv(envFault, srv.ControlURL(testserver.Mode503)+" 1500ms "+srv.ControlURL(testserver.ModeOK))

	res := runCLI(t, exampleArgs(srv, dir)...)
	require.Equal(t, 1, res.code)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	require.Positive(t, run.TotalFailures())

	assert.Regexp(t, regexp.MustCompile(`(?m)^::error title=check noUnexpectedStatus::.* — during upgrade$`), res.stdout)
	assert.Regexp(t, regexp.MustCompile(`(?m)^::error title=step no-errors-so-far::failed: `), res.stdout, "the mid-run check step failed")
	assert.Regexp(t, regexp.MustCompile(`(?m)^::error title=canarygate fail::`), res.stdout)
	assert.NotContains(t, res.stdout, "title=canarygate error", "a failed gate is not a harness error")

	for _, step := range []string{"upgrade", "settle", "probe", "no-errors-so-far"} {
		assert.Contains(t, res.stderr, "::group::step "+step+"\n")
	}
	assert.Equal(t, strings.Count(res.stderr, "::group::"), strings.Count(res.stderr, "::endgroup::"), "every group is closed")
	// The step's ✓/✗ line follows its group, so it shows while the group is folded.
	assert.Contains(t, res.stderr, "::endgroup::\n✓ step upgrade")

	data, err := os.ReadFile(output)
	require.NoError(t, err)
	assert.Equal(t, "unexpected="+strconv.FormatInt(run.TotalFailures(), 10)+"\n", string(data))
}

// run refuses a scenario with problems before anything starts: annotated at the file's lines, like validate.
func TestRunAnnotatesBadInputInGitHubActions(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "true")
	res := runCLI(t, "run", "testdata/invalid/bad-duration.yaml")
	require.Equal(t, 2, res.code)
	assert.Contains(t, res.stdout, "::error file=testdata/invalid/bad-duration.yaml,line=4,col=11,title=traffic.warmup::")

	res = runCLI(t, "run", "testdata/notrunnable/missing-command.yaml")
	require.Equal(t, 2, res.code)
	assert.Contains(t, res.stdout, "::error file=testdata/notrunnable/missing-command.yaml,line=8,col=7,title=steps[0].run.command::")
}
