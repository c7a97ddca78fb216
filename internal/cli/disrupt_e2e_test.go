package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// disruptArgs runs testdata/disrupt.yaml on the test control plane against srv.
func disruptArgs(e *testenv.Env, srv *testserver.Server, ns, dir string, extra ...string) []string {
	return append([]string{"run", "testdata/disrupt.yaml", "--no-env", "--out", dir, "--allow-disruption", "--yes",
		"--var", "KUBECONFIG_PATH=" + e.Kubeconfig, "--var", "TARGET=" + srv.URL, "--var", "NS=" + ns}, extra...)
}

func podUIDs(t *testing.T, e *testenv.Env, ns, selector string) []string {
	t.Helper()
	pods, err := e.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, string(p.UID))
		}
	}
	return out
}

func replicas(t *testing.T, e *testenv.Env, ns, name string) int32 {
	t.Helper()
	d, err := e.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return *d.Spec.Replicas
}

// The disrupt step keeps a Deployment at zero replicas over the next steps (its pods really go: the next
// step waits for their deletion), kills another's pod without grace, restores both, and the window is in
// the record and the reports with what the load measured in it.
func TestDisruptKeepsADeploymentDownOverTheNextStepsAndRestoresIt(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "disrupt")
	createDeployment(t, e, ns, "a", nil)
	createDeployment(t, e, ns, "b", nil)
	var bBefore []string
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		bBefore = podUIDs(t, e, ns, "app=b")
		return len(bBefore) == 1, nil
	}), "b's pod created")
	dir := t.TempDir()

	res := runCLI(t, disruptArgs(e, srv, ns, dir)...)
	require.Equal(t, 0, res.code, res.stderr)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	require.Len(t, run.Windows, 2)
	down, kill := run.Windows[0], run.Windows[1]
	assert.Equal(t, "keep-a-down", down.Name)
	assert.Equal(t, summary.WindowKindDisruption, down.Kind)
	assert.True(t, down.Restored, down.RestoreError)
	events := strings.Join(down.Events, "\n")
	assert.Contains(t, events, "scaled deployment "+ns+"/a from 1 to 0")
	assert.Contains(t, events, "scaled deployment "+ns+"/a back to 1")
	assert.Contains(t, events, "deployment "+ns+"/a available again (1)")
	// In the background: the window spans the steps after it, and the step itself ended at once.
	waited := run.Phases[run.PhaseIndex("a-is-down")]
	assert.Equal(t, summary.OutcomePassed, waited.Outcome, "a's pods were deleted while the window held it at 0")
	assert.Less(t, down.StartMs, waited.StartMs)
	assert.Greater(t, down.EndMs, run.Phases[run.PhaseIndex("kill-b")].StartMs)
	assert.GreaterOrEqual(t, down.EndMs-down.StartMs, 4000.0, "kept down for its duration")
	assert.Equal(t, int32(1), replicas(t, e, ns, "a"), "restored")

	assert.True(t, kill.Restored)
	assert.Contains(t, strings.Join(kill.Events, "\n"), "(grace 0s)")
	assert.NotContains(t, podUIDs(t, e, ns, "app=b"), bBefore[0], "b's pod was killed (its controller made another)")

	// What the load measured in each window: every request the loopback server answered, none unexpected.
	require.Len(t, run.Streams[0].PerWindow, 2)
	assert.Positive(t, run.Streams[0].PerWindow[0].Requests)
	assert.Zero(t, run.Streams[0].PerWindow[0].Failures)
	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assert.Contains(t, string(html), "<h2>Disruptions</h2>")
	assert.Contains(t, string(html), "scale deployment "+ns+"/a to 0")
	md, err := os.ReadFile(filepath.Join(dir, report.MarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| keep-a-down | scale deployment "+ns+"/a to 0 |")
}

// A disruption that cannot be undone — the kept-down Deployment deleted during its window — is the harness's
// failure, not the target's: verdict error, exit 3, the window saying why.
func TestADisruptionThatCannotBeRestoredIsAnError(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "unrestorable")
	createDeployment(t, e, ns, "a", nil)
	createDeployment(t, e, ns, "b", nil)
	dir := t.TempDir()

	res := runCLI(t, disruptArgs(e, srv, ns, dir, "--var", "BREAK=a")...)
	require.Equal(t, 3, res.code, "not restored: error, never fail or pass")
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictError, run.Verdict)
	require.NotEmpty(t, run.Windows)
	assert.False(t, run.Windows[0].Restored)
	assert.Contains(t, run.Windows[0].RestoreError, "disruption not restored")
	assert.Contains(t, run.Windows[0].RestoreError, ns+"/a")
	assert.Contains(t, run.Error, "keep-a-down")
}

// On a cluster of provider existing a disruption needs the scenario's allowDisruption and the run's
// --allow-disruption: without either, exit 2 before anything starts (the Deployment untouched).
func TestDisruptingAnExistingClusterNeedsBothOptIns(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "optin")
	createDeployment(t, e, ns, "a", nil)
	dir := t.TempDir()

	noField := runCLI(t, append(disruptArgs(e, srv, ns, dir), "--var", "ALLOW=false")...)
	assert.Equal(t, 2, noField.code)
	assert.Contains(t, noField.stderr, `cluster "test" is provider existing: a disruption there needs allowDisruption: true`)
	assert.Contains(t, noField.stderr, "testdata/disrupt.yaml:20:7: steps[0].disrupt: cluster")

	args := disruptArgs(e, srv, ns, dir)
	noFlag := runCLI(t, append(args[:5:5], args[6:]...)...) // without --allow-disruption
	assert.Equal(t, 2, noFlag.code)
	assert.Contains(t, noFlag.stderr, "disrupt steps act on cluster(s) test of provider existing: pass --allow-disruption")
	assert.Equal(t, int32(1), replicas(t, e, ns, "a"), "nothing started")
	_, err := summary.Read(dir)
	assert.Error(t, err, "no run, no report")
}

// An interrupt in the middle of a background disruption restores it at once; the run exits 130.
func TestAnInterruptRestoresABackgroundDisruption(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "interrupt")
	createDeployment(t, e, ns, "a", nil)
	createDeployment(t, e, ns, "b", nil)
	dir := t.TempDir()
	// Interrupt once the run holds in its last step, a's window open.
	interruptInStep(t, disruptArgs(e, srv, ns, dir, "--var", "DOWN=10m", "--var", "HOLD=10m"), "hold", 2*time.Minute, func() {
		require.Equal(t, int32(0), replicas(t, e, ns, "a"), "a is kept down while hold runs")
	})
	assert.Equal(t, int32(1), replicas(t, e, ns, "a"), "restored on the interrupt")
	run, err := summary.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, summary.VerdictInterrupted, run.Verdict)
	require.NotEmpty(t, run.Windows)
	assert.True(t, run.Windows[0].Restored)
	assert.Contains(t, strings.Join(run.Windows[0].Events, "\n"), "cut short")
}
