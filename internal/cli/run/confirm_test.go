package run_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/run"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/scenarios"
)

// onCluster is a scenario on one cluster of that provider; the kubeconfig does not exist, so a run that got
// past the confirmation stops at provisioning (exit 3), having changed nothing.
func onCluster(t *testing.T, provider string) (string, *scenarios.Scenario) {
	t.Helper()
	y := `name: staging-upgrade
clusters: [{name: staging, provider: ` + provider + `, kubeconfig: "` + filepath.Join(t.TempDir(), "no-kubeconfig") + `", context: staging}]
traffic:
  streams: [{name: s, url: "http://127.0.0.1:1/"}]
steps:
  - name: move-demo
    labelNamespace: {namespaces: [demo], set: {istio.io/rev: canary}}
`
	file := filepath.Join(t.TempDir(), "sc.yaml")
	require.NoError(t, os.WriteFile(file, []byte(y), 0o644))
	sc, err := scenarios.Parse(file, []byte(y), scenarios.Vars{})
	require.NoError(t, err)
	return file, sc
}

func confirm(t *testing.T, sc *scenarios.Scenario, in io.Reader, yes, tty bool) (string, error) {
	t.Helper()
	var errOut bytes.Buffer
	err := run.Confirm(context.Background(), streams.IO{In: in, Out: io.Discard, ErrOut: &errOut}, sc, yes, tty)
	return errOut.String(), err
}

// On an existing cluster the plan is shown first; on a terminal only "yes" (or "y") goes on, any other answer
// or none cancels with exit 130 and says nothing changed; --yes goes on without asking.
func TestRunAsksBeforeChangingAnExistingCluster(t *testing.T) {
	_, sc := onCluster(t, run.ProviderExisting)
	for _, answer := range []string{"yes\n", "Y\n", " yes \n", "yes"} {
		out, err := confirm(t, sc, strings.NewReader(answer), false, true)
		require.NoError(t, err, "answer %q", answer)
		assert.Contains(t, out, "move-demo", "the plan before the question")
		assert.Contains(t, out, "changes cluster(s) it did not create: staging (kubeconfig ")
		assert.Contains(t, out, "context staging)")
		assert.Contains(t, out, "Carry it out? Only 'yes' goes on")
	}
	for _, answer := range []string{"no\n", "\n", "yess\n", ""} {
		_, err := confirm(t, sc, strings.NewReader(answer), false, true)
		require.Error(t, err, "answer %q", answer)
		assert.Equal(t, exitcode.Interrupted, exitcode.Of(err), "answer %q", answer)
		assert.Contains(t, err.Error(), "nothing was changed")
	}
	out, err := confirm(t, sc, strings.NewReader(""), true, true)
	require.NoError(t, err)
	assert.Contains(t, out, "move-demo")
	assert.Contains(t, out, "--yes: not asking")
}

// Ctrl-C at the prompt (the run's context ends) stops waiting for an answer: exit 130.
func TestAnInterruptAtThePromptCancels(t *testing.T) {
	_, sc := onCluster(t, run.ProviderExisting)
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run.Confirm(ctx, streams.IO{In: r, Out: io.Discard, ErrOut: io.Discard}, sc, false, true)
	}()
	cancel()
	err := <-done
	assert.Equal(t, exitcode.Interrupted, exitcode.Of(err))
	assert.ErrorIs(t, err, context.Canceled)
}

// A scenario whose clusters the run creates (kind) is not asked about, terminal or not.
func TestRunDoesNotAskAboutClustersItCreates(t *testing.T) {
	_, sc := onCluster(t, "kind")
	out, err := confirm(t, sc, strings.NewReader(""), false, false)
	require.NoError(t, err)
	assert.Empty(t, out)
}

// `canarygate run` with no terminal (CI, a pipe) and no --yes refuses an existing cluster before anything
// starts: exit 2, the plan shown, --yes named. With --yes it goes on (here to provisioning, which fails on
// the missing kubeconfig: exit 3 — past the confirmation).
func TestRunWithoutATerminalNeedsYes(t *testing.T) {
	file, _ := onCluster(t, run.ProviderExisting)
	main := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Main(args, streams.IO{In: strings.NewReader("yes\n"), Out: &out, ErrOut: &errOut})
		t.Logf("canarygate %v → %d\n%s%s", args, code, out.String(), errOut.String())
		return code, out.String() + errOut.String()
	}
	code, out := main("run", file, "--no-env", "--out", t.TempDir())
	assert.Equal(t, exitcode.BadInput, code)
	assert.Contains(t, out, "no terminal to confirm on: pass --yes to run it without asking")
	assert.Contains(t, out, "move-demo", "the plan of what it would have changed")
	assert.NotContains(t, out, "provisioning", "nothing started")

	code, out = main("run", file, "--no-env", "--out", t.TempDir(), "--yes")
	assert.Equal(t, exitcode.Harness, code)
	assert.Contains(t, out, "cluster staging: provisioning")
	assert.Contains(t, out, "load kubeconfig")
}
