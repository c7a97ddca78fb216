package action_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// ref is the directory the runner fetched the action into (…/_actions/canarygate/canarygate/REF): with
// github.action_ref empty, the only place the version can come from.
const ref = "v9.8.7-actiontest"

// The action as GitHub runs it, three times: a passing run, a failing gate, a bad scenario. Each builds
// canarygate from the action's checkout with its own Install step (make demo-image), so the test is slow:
// skipped under -short.
func TestTheActionAsGitHubRunsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds canarygate and the demo app's image from a copy of the repository (about a minute warm)")
	}
	for _, tool := range []string{"bash", "make", "go"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the action's steps need %s", tool)
	}
	r := newFakeRunner(t)
	srv := testserver.New(time.Second)
	defer srv.Close()
	vars := "TARGET=" + srv.URL + " RATE=50/s WARMUP=1s COOLDOWN=1s SETTLE=300ms UPGRADE_CMD=true"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	t.Run("pass", func(t *testing.T) {
		res := r.use(t, ctx, map[string]string{"scenario": "http-example", "vars": vars, "out": "report"})
		assert.Empty(t, res.failed)
		assert.Equal(t, map[string]string{"verdict": "pass", "exit-code": "0", "unexpected": "0", "report-dir": "report"}, res.outputs)
		run, err := summary.Read(filepath.Join(r.workspace, "report"))
		require.NoError(t, err)
		assert.Equal(t, ref, run.ToolVersion, "the version is the ref the action was fetched at, never dev")
		md, err := os.ReadFile(filepath.Join(r.workspace, "report", report.MarkdownFile))
		require.NoError(t, err)
		assert.Equal(t, string(md), res.summary, "the job summary is the markdown report")
		for _, s := range []string{"upgrade", "settle", "probe", "no-errors-so-far"} {
			assert.Contains(t, res.log, "::group::step "+s+"\n")
		}
		assert.NotContains(t, res.log, "::error")
		assert.Regexp(t, regexp.MustCompile(`(?m)^canarygate `+regexp.QuoteMeta(ref)+` `), res.log, "the Install step shows the version")
		assert.NotEmpty(t, res.steps["artifact"]["name"], "the artifact is named")

		// The binary the action put on PATH says the same.
		out, err := exec.Command(filepath.Join(res.env["CANARYGATE_BIN_DIR"], "canarygate"), "version").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.True(t, strings.HasPrefix(string(out), "canarygate "+ref+" "), "%s", out)
	})

	t.Run("a gate fails", func(t *testing.T) {
		srv.SetMode(testserver.Mode503)
		defer srv.SetMode(testserver.ModeOK)
		res := r.use(t, ctx, map[string]string{"scenario": "http-example", "vars": vars, "out": "failed"})
		assert.Equal(t, []string{"Rehearse"}, res.failed)
		run, err := summary.Read(filepath.Join(r.workspace, "failed"))
		require.NoError(t, err)
		require.Positive(t, run.TotalFailures())
		assert.Equal(t, map[string]string{"verdict": "fail", "exit-code": "1", "report-dir": "failed",
			"unexpected": strconv.FormatInt(run.TotalFailures(), 10)}, res.outputs)
		assert.Regexp(t, regexp.MustCompile(`(?m)^::error title=check noUnexpectedStatus::\d+ responses unexpected`), res.log)
		assert.Regexp(t, regexp.MustCompile(`(?m)^::error title=step probe::failed: `), res.log)
		assert.Contains(t, res.summary, "fail")
		assert.NotEmpty(t, res.steps["artifact"]["name"], "the report is still uploaded (if: always())")
	})

	t.Run("bad input", func(t *testing.T) {
		bad := filepath.Join(r.workspace, "gates", "bad.yaml")
		require.NoError(t, os.MkdirAll(filepath.Dir(bad), 0o755))
		require.NoError(t, os.WriteFile(bad, []byte("name: bad\ntraffic:\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\n  warmup: five seconds\nsteps: [{name: s, soak: {duration: 1s}}]\n"), 0o644))
		res := r.use(t, ctx, map[string]string{"scenario": "gates/bad.yaml"})
		assert.Equal(t, []string{"Rehearse"}, res.failed)
		assert.Equal(t, map[string]string{"verdict": "bad-input", "exit-code": "2", "unexpected": "", "report-dir": "canarygate-report"}, res.outputs)
		assert.Contains(t, res.log, "::error file=gates/bad.yaml,line=4,col=11,title=traffic.warmup::\"five seconds\" is not a duration")
	})
}

// newFakeRunner lays out a copy of the repository as the runner lays out a fetched action: no .git, under
// RUNNER/_actions/canarygate/canarygate/REF.
func newFakeRunner(t *testing.T) *fakeRunner {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	base := t.TempDir()
	r := &fakeRunner{actionPath: filepath.Join(base, "_actions", "canarygate", "canarygate", ref),
		workspace: filepath.Join(base, "work"), temp: filepath.Join(base, "_temp")}
	for _, d := range []string{r.workspace, r.temp} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	copyRepo(t, root, r.actionPath)
	require.NoDirExists(t, filepath.Join(r.actionPath, ".git"))
	data, err := os.ReadFile(filepath.Join(r.actionPath, "action.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &r.action))
	return r
}

// copyRepo copies the files git would commit (tracked, and new ones not ignored) — what a tag of this tree
// holds.
func copyRepo(t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.Command("git", "-C", from, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err)
	n := 0
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(from, rel)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		require.NoError(t, err)
		if !info.Mode().IsRegular() {
			continue
		}
		dst := filepath.Join(to, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		copyFile(t, src, dst, info.Mode().Perm())
		n++
	}
	require.Greater(t, n, 100, "the repository was copied")
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
