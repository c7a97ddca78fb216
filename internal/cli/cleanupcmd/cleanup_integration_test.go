package cleanupcmd_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/meshload"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// cleanup runs `canarygate cleanup ARGS` as a user types it and returns what it printed and its exit code.
func cleanup(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(append([]string{"cleanup"}, args...), streams.IO{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
	t.Logf("canarygate cleanup %v: exit %d\n%s%s", args, code, errOut.String(), out.String())
	return out.String() + errOut.String(), code
}

// userObjects creates a Deployment and a ServiceAccount of the user's: of the same kinds as the generators,
// in the same namespace, with labels (nil: none).
func userObjects(t *testing.T, e *testenv.Env, ns, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	require.NoError(t, err)
	sel := map[string]string{"app": name}
	_, err = e.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// exists reports whether the Deployment and the ServiceAccount of that name are there (both or neither).
func exists(t *testing.T, e *testenv.Env, ns, name string) bool {
	t.Helper()
	ctx := context.Background()
	_, derr := e.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	_, serr := e.Client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
	for _, err := range []error{derr, serr} {
		if err != nil && !apierrors.IsNotFound(err) {
			require.NoError(t, err)
		}
	}
	require.Equal(t, derr == nil, serr == nil, "%s/%s: Deployment %v, ServiceAccount %v", ns, name, derr, serr)
	return derr == nil
}

// What two killed runs left — generators deployed exactly as a run deploys them — beside the user's own
// objects of the same kinds (unlabelled, and labelled by another manager): cleanup of one run removes that
// run's and nothing else; cleanup of all removes the other run's; no object labelled as canarygate's is
// left, the user's are untouched, and a second cleanup is a no-op that says so. --dry-run changes nothing.
func TestCleanupRemovesWhatKilledRunsLeftAndNothingElse(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "cleanup")
	c := e.Cluster(t)
	runs := map[string]meshload.Spec{}
	for stream, run := range map[string]string{"a-calls-b": "20261206-114821-aaaa", "b-calls-a": "20261206-120000-bbbb"} {
		spec := meshload.Spec{Stream: stream, Namespace: ns, Image: "generator", URL: "http://app-b.demo-b.svc.cluster.local:8080/",
			Rate: vegeta.Rate{Freq: 10, Per: time.Second}, Replicas: 1, Timeout: time.Second, Run: run}
		require.NoError(t, meshload.Deploy(ctx, c, spec))
		runs[stream] = spec
	}
	first, second := runs["a-calls-b"], runs["b-calls-a"]
	userObjects(t, e, ns, "app", nil)
	userObjects(t, e, ns, "chart-app", map[string]string{meshload.ManagedLabel: "Helm", meshload.StreamLabel: "a-calls-b"})

	out, code := cleanup(t, "--kubeconfig", e.Kubeconfig, "--run", first.Run, "--dry-run")
	require.Equal(t, exitcode.OK, code, out)
	assert.Contains(t, out, "would delete Deployment "+ns+"/"+first.Name()+" (run "+first.Run+")")
	assert.Contains(t, out, "would delete ServiceAccount "+ns+"/"+first.Name())
	assert.NotContains(t, out, second.Name(), "another run's generators are not this run's")
	assert.Contains(t, out, "2 object(s) would be deleted, nothing changed")
	assert.True(t, exists(t, e, ns, first.Name()), "a dry run deleted something")

	out, code = cleanup(t, "--kubeconfig", e.Kubeconfig, "--run", first.Run)
	require.Equal(t, exitcode.OK, code, out)
	assert.Contains(t, out, "✓ deleted Deployment "+ns+"/"+first.Name())
	assert.Contains(t, out, "✓ deleted ServiceAccount "+ns+"/"+first.Name())
	assert.False(t, exists(t, e, ns, first.Name()), "the run's generators are still there")
	assert.True(t, exists(t, e, ns, second.Name()), "--run %s removed another run's generators", first.Run)

	out, code = cleanup(t, "--kubeconfig", e.Kubeconfig, "-n", ns)
	require.Equal(t, exitcode.OK, code, out)
	assert.Contains(t, out, "✓ deleted Deployment "+ns+"/"+second.Name()+" (run "+second.Run+")")
	assert.Contains(t, out, "cleaned up: 2 object(s) deleted")

	managed := meshload.ManagedLabel + "=" + meshload.Manager
	deps, err := e.Client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: managed})
	require.NoError(t, err)
	assert.Empty(t, deps.Items, "Deployments labelled %s left", managed)
	sas, err := e.Client.CoreV1().ServiceAccounts(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: managed})
	require.NoError(t, err)
	assert.Empty(t, sas.Items, "ServiceAccounts labelled %s left", managed)
	assert.True(t, exists(t, e, ns, "app"), "the user's unlabelled objects were removed")
	assert.True(t, exists(t, e, ns, "chart-app"), "objects another manager labels were removed")

	for range 2 {
		out, code = cleanup(t, "--kubeconfig", e.Kubeconfig)
		require.Equal(t, exitcode.OK, code, out)
		assert.Contains(t, out, "✓ nothing to clean up: no Deployments or ServiceAccounts labelled "+managed)
	}
}

// A generator Deployment whose deletion has begun (a run was removing it when it was killed: foreground
// deletion waits for its pods) is reported, not deleted again, and not counted.
func TestCleanupLeavesWhatIsAlreadyBeingDeleted(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "deleting")
	spec := meshload.Spec{Stream: "s", Namespace: ns, Image: "generator", URL: "http://x/", Rate: vegeta.Rate{Freq: 1, Per: time.Second},
		Replicas: 1, Timeout: time.Second, Run: "run-deleting"}
	require.NoError(t, meshload.Deploy(ctx, e.Cluster(t), spec))
	// A finalizer of the test's holds the Deployment in deletion for as long as the test needs.
	// A patch, not an update: the controller writes the Deployment's status meanwhile.
	_, err := e.Client.AppsV1().Deployments(ns).Patch(ctx, spec.Name(), types.MergePatchType, []byte(`{"metadata":{"finalizers":["canarygate.dev/test-hold"]}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = e.Client.AppsV1().Deployments(ns).Patch(context.Background(), spec.Name(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	require.NoError(t, e.Client.AppsV1().Deployments(ns).Delete(ctx, spec.Name(), metav1.DeleteOptions{}))

	out, code := cleanup(t, "--kubeconfig", e.Kubeconfig, "--run", spec.Run)
	require.Equal(t, exitcode.OK, code, out)
	assert.Contains(t, out, "• Deployment "+ns+"/"+spec.Name()+" (run run-deleting, already being deleted)")
	assert.Contains(t, out, "✓ deleted ServiceAccount "+ns+"/"+spec.Name())
	assert.Contains(t, out, "cleaned up: 1 object(s) deleted")
}

// A user who may not list every namespace's generators gets the API server's refusal, exit 3, and where the
// role is and that -n needs less.
func TestCleanupWithoutPermissionSaysWhichRole(t *testing.T) {
	e := testenv.Need(t, env)
	out, code := cleanup(t, "--kubeconfig", e.RestrictedKubeconfig(t))
	assert.Equal(t, exitcode.Harness, code)
	assert.Contains(t, out, `cannot list resource "deployments"`)
	assert.Contains(t, out, "canarygate-cleanup; with -n NAMESPACE a RoleBinding there is enough")
}
