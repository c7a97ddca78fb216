package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

func createDeployment(t *testing.T, e *testenv.Env, ns, name string, nodeSelector map[string]string) {
	t.Helper()
	e.CreateDeployment(t, ns, name, 1, func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = nodeSelector })
}

func TestKubernetesStepsRunUnderLoadOnAnExistingCluster(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "demo")
	createDeployment(t, e, ns, "a", nil)
	createDeployment(t, e, ns, "b", nil)
	dir := t.TempDir()
	res := runCLI(t, "run", "testdata/kube-under-load.yaml", "--no-env", "--yes", "--out", dir,
		"--var", "KUBECONFIG_PATH="+e.Kubeconfig, "--var", "TARGET="+srv.URL, "--var", "NS="+ns)
	require.Equal(t, 0, res.code)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	relabel := run.Phases[run.PhaseIndex("relabel")]
	assert.Contains(t, relabel.Changes, "namespace "+ns+": label istio.io/rev: (none) → 1-30")
	restart := run.Phases[run.PhaseIndex("restart")]
	require.Len(t, restart.Changes, 2)
	assert.True(t, strings.HasPrefix(restart.Changes[0], "deployment "+ns+"/a: restarted and rolled out"))
	assert.Positive(t, run.Streams[0].PerPhase[run.PhaseIndex("restart")].Requests, "traffic ran during the restart")
	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	require.NoError(t, err)
	assert.Contains(t, string(html), "label istio.io/rev: (none) → 1-30")
}

func TestAFailedKubernetesStepPutsDiagnosticsInTheReport(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "stuck")
	createDeployment(t, e, ns, "a", map[string]string{"canarygate.test/no-such-node": "true"})
	dir := t.TempDir()
	res := runCLI(t, "run", "testdata/kube-under-load.yaml", "--no-env", "--yes", "--out", dir,
		"--var", "KUBECONFIG_PATH="+e.Kubeconfig, "--var", "TARGET="+srv.URL, "--var", "NS="+ns, "--var", "RESTART_TIMEOUT=4s")
	require.Equal(t, 1, res.code, "a failed step fails the stepsSucceeded gate")
	run, err := summary.Read(dir)
	require.NoError(t, err)
	restart := run.Phases[run.PhaseIndex("restart")]
	assert.Equal(t, summary.OutcomeTimedOut, restart.Outcome)
	assert.Contains(t, restart.Error, "deployment "+ns+"/a did not roll out")
	assert.Contains(t, strings.Join(restart.Diagnostics, "\n"), "FailedScheduling")
	assert.Equal(t, summary.OutcomeNotRun, run.Phases[run.PhaseIndex("ready")].Outcome)
	assert.Equal(t, "step restart timed-out", run.Phases[run.PhaseIndex("ready")].Error)
	assert.GreaterOrEqual(t, run.PhaseIndex("cool-down"), 0, "the run went on to cool-down and reports")
	junit, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	require.NoError(t, err)
	assert.Contains(t, string(junit), "FailedScheduling", "diagnostics are in the JUnit failure")
}
