package mesh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// deployment is testenv's with one replica, its pods annotated (a proxy's status, for instance).
func deployment(ns, name string, annotations map[string]string) *appsv1.Deployment {
	return testenv.Deployment(ns, name, 1, func(d *appsv1.Deployment) { d.Spec.Template.Annotations = annotations })
}

func TestMoveNamespaceRelabelsAndRestartsEveryWorkload(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "move")
	n, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	n.Labels["istio-injection"] = "enabled"
	_, err = e.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	for _, d := range []string{"app-a", "app-z"} {
		_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, d, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, d))
	}
	res := e.RunStep(ctx, t, fmt.Sprintf("name: move\ntimeout: 60s\nmoveNamespace: {namespaces: [%s], revision: 1-30}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	got, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1-30", got.Labels["istio.io/rev"])
	assert.NotContains(t, got.Labels, "istio-injection", "injection would win over the revision label")
	for _, d := range []string{"app-a", "app-z"} {
		dep, err := e.Client.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotEmpty(t, dep.Spec.Template.Annotations[kube.RestartedAtAnnotation], "%s restarted", d)
	}
	assert.Len(t, res.Changes, 4, "two label changes and two rollouts")
	// What injection changed, per workload: a pod from before the move against one from after it (these
	// pods have no injector: nothing beyond the restart differs, and the restart is not injection).
	var records []string
	for _, c := range res.Checks {
		if c.Kind == scenarios.RecordInjectionDiff {
			records = append(records, c.Name)
			assert.True(t, c.Passed, "information, not a verdict")
			assert.Empty(t, c.Evidence, "%s: %v", c.Name, c.Evidence)
			assert.Contains(t, c.Summary, "(revision 1-30): 0 field(s) differ")
		}
	}
	assert.Equal(t, []string{"injection " + ns + "/app-a", "injection " + ns + "/app-z"}, records)
}

func TestUninstallRevisionRefusesWhileAProxyIsAttachedAndCleansLeftoverWebhooks(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "drain")
	// A workload whose pods carry the old revision's sidecar (as injection leaves it).
	status := `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"1-29"}`
	_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "old-proxy", map[string]string{"sidecar.istio.io/status": status}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, "old-proxy"))

	step := "name: uninstall-old\ntimeout: 60s\nuninstallRevision: {revision: 1-29}"
	res := e.RunStep(ctx, t, step)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNotDrained)
	assert.Contains(t, res.Err.Error(), ns+"/old-proxy-", "names the attached pod")
	assert.Contains(t, res.Err.Error(), "; no running istiod of the revision to ask)", "and says what istiod lists: here no istiod runs")

	// A validating webhook of the revision that outlived its istiod. It matches nothing and points at a
	// closed loopback port: nothing is ever called.
	none := admissionv1.SideEffectClassNone
	fail := admissionv1.Ignore
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-validator-1-29-istio-system", Labels: map[string]string{"istio.io/rev": "1-29"}},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name: "rev.validation.istio.io", SideEffects: &none, FailurePolicy: &fail, AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/validate")},
			Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule: admissionv1.Rule{APIGroups: []string{"canarygate.test.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothing"}}}},
		}},
	}
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	require.NoError(t, err)
	// The base chart's default validator carries the default revision's label but is the istio-base
	// release's (its Helm ownership annotations): it must survive the revision's removal.
	base := vwc.DeepCopy()
	base.Name = "istiod-default-validator"
	base.Labels = map[string]string{"istio.io/rev": "1-29", "app.kubernetes.io/managed-by": "Helm"}
	base.Annotations = map[string]string{"meta.helm.sh/release-name": "istio-base", "meta.helm.sh/release-namespace": "istio-system"}
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, base, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, name := range []string{vwc.Name, base.Name} {
			_ = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})

	// Move the workload off the old revision: then the revision may go.
	require.NoError(t, e.Client.AppsV1().Deployments(ns).Delete(ctx, "old-proxy", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		if len(pods.Items) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res = e.RunStep(ctx, t, step)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Contains(t, strings.Join(res.Changes, "\n"), "ValidatingWebhookConfiguration istio-validator-1-29-istio-system: left behind by revision 1-29, deleted")
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwc.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, base.Name, metav1.GetOptions{})
	assert.NoError(t, err, "the istio-base release's validator survives")
	assert.Contains(t, strings.Join(res.Changes, "\n"), "ValidatingWebhookConfiguration istiod-default-validator: labelled with revision 1-29 but owned by Helm release istio-system/istio-base: left to it")
}

func TestProxyRevisionNamesPodsLeftOnTheOldRevision(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "proxies")
	status := func(rev string) map[string]string {
		return map[string]string{"sidecar.istio.io/status": fmt.Sprintf(`{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":%q}`, rev)}
	}
	for name, rev := range map[string]string{"moved": "1-30", "left-behind": "1-29"} {
		_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, name, status(rev)), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, name))
	}
	res := e.RunStep(ctx, t, fmt.Sprintf("name: check\nproxyRevision: {namespaces: [%s], revision: 1-30}", ns))
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrMisplaced)
	assert.Contains(t, res.Err.Error(), ns+"/left-behind-")
	assert.Contains(t, res.Err.Error(), "runs the proxy of revision 1-29")
	assert.NotContains(t, res.Err.Error(), ns+"/moved-")

	require.NoError(t, e.Client.AppsV1().Deployments(ns).Delete(ctx, "left-behind", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
	require.NoError(t, kube.WaitGone(ctx, e.Cluster(t), appsv1.SchemeGroupVersion.WithKind("Deployment"), ns, "left-behind"))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pods, _ := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=left-behind"})
		if len(pods.Items) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	res = e.RunStep(ctx, t, fmt.Sprintf("name: check\nproxyRevision: {namespaces: [%s], revision: 1-30, podsOnly: true}", ns))
	assert.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
}

// The right revision under the wrong proxy: both pods were injected by 1-30, one runs another image (as
// sidecar.istio.io/proxyImage leaves it). With image or version asked, the step fails naming that pod only;
// the image both run passes and says so.
func TestProxyRevisionWithImageNamesTheWrongProxy(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "image")
	status := map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"1-30"}`}
	for name, image := range map[string]string{"right": "docker.io/istio/proxyv2:1.30.3", "pinned": "docker.io/istio/proxyv2:1.29.6"} {
		d := deployment(ns, name, status)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: image})
		_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, name))
	}
	for _, want := range []string{"image: docker.io/istio/proxyv2:1.30.3", "version: '1.30'"} {
		res := e.RunStep(ctx, t, fmt.Sprintf("name: check\nproxyRevision: {namespaces: [%s], revision: 1-30, podsOnly: true, %s}", ns, want))
		require.Equal(t, summary.OutcomeFailed, res.Outcome, want)
		require.ErrorIs(t, res.Err, mesh.ErrMisplaced)
		assert.Contains(t, res.Err.Error(), "right revision 1-30, wrong proxy: "+ns+"/pinned-", want)
		assert.Contains(t, res.Err.Error(), "docker.io/istio/proxyv2:1.29.6", want)
		assert.NotContains(t, res.Err.Error(), ns+"/right-", want)
	}
	require.NoError(t, e.Client.AppsV1().Deployments(ns).Delete(ctx, "pinned", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
	// Gone with its pods (foreground), or they are terminating: either way no longer judged.
	require.NoError(t, kube.WaitGone(ctx, e.Cluster(t), appsv1.SchemeGroupVersion.WithKind("Deployment"), ns, "pinned"))
	res := e.RunStep(ctx, t, fmt.Sprintf("name: check\nproxyRevision: {namespaces: [%s], revision: 1-30, podsOnly: true, image: docker.io/istio/proxyv2:1.30.3}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Contains(t, strings.Join(res.Changes, "\n"), "1 pod(s) in "+ns+": all run proxy image docker.io/istio/proxyv2:1.30.3")
}

// "Every pod runs revision X" over a namespace with no pod proves nothing: the step fails saying so, rather
// than passing on nothing (it did, before: "0 pod(s) in …: all on revision").
func TestProxyRevisionOverNoPodFails(t *testing.T) {
	e := testenv.Need(t, env)
	ns := e.Namespace(t, "empty")
	res := e.RunStep(context.Background(), t, fmt.Sprintf("name: check\nproxyRevision: {namespaces: [%s], revision: 1-30, podsOnly: true}", ns))
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	assert.ErrorIs(t, res.Err, mesh.ErrMisplaced)
	assert.Contains(t, res.Err.Error(), "no pod in "+ns+", so nothing shows revision 1-30 runs there")
}

// The pods say they run the 1-30 proxy; whether each is connected to istiod-1-30 now is istiod's to say: its
// /debug/connections must list the proxy, and no other revision's istiod may. Each way of being wrong fails
// for its own reason; a proxy that shows up a moment late is waited for.
func TestProxyRevisionAsksIstiodWhichProxiesAreConnected(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "live")
	ins := e.Namespace(t, "live-istiod")
	istiodPods(t, e, ins, "1-29")
	istiodPods(t, e, ins, "1-30")
	status := map[string]string{"sidecar.istio.io/status": `{"initContainers":null,"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"1-30"}`}
	_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "app", status), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, "app"))
	pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=app"})
	require.NoError(t, err)
	var proxy string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			proxy = p.Name + "." + ns
		}
	}
	require.NotEmpty(t, proxy)

	var mu sync.Mutex
	on := map[string][]string{} // istiod revision → proxies it lists
	var asked atomic.Int64
	standIn := connectionsStandIn(t, func(pod string) []string {
		asked.Add(1)
		mu.Lock()
		defer mu.Unlock()
		for rev, ids := range on {
			if strings.HasPrefix(pod, "istiod-"+rev+"-") {
				return ids
			}
		}
		return nil
	})
	set := func(m map[string][]string) {
		mu.Lock()
		defer mu.Unlock()
		on = m
	}
	readers := runner.Readers{IstiodConnections: standIn}
	step := func(extra string) summary.Phase {
		res := e.RunStepWith(ctx, t, readers, fmt.Sprintf("name: check\ntimeout: 30s\nproxyRevision: {namespaces: [%s], revision: 1-30, istiodNamespace: %s%s}", ns, ins, extra))
		ph := summary.Phase{Outcome: res.Outcome, Changes: res.Changes}
		if res.Err != nil {
			require.ErrorIs(t, res.Err, mesh.ErrMisplaced)
			ph.Error = res.Err.Error()
		}
		return ph
	}

	set(map[string][]string{"1-30": {proxy}})
	ok := step("")
	require.Equal(t, summary.OutcomePassed, ok.Outcome, ok.Error)
	assert.Contains(t, strings.Join(ok.Changes, "\n"), "1 proxy(ies) in "+ns+": each connected to an istiod of revision 1-30 and no other (istiod's /debug/connections: istiod-1-29-")
	assert.Contains(t, strings.Join(ok.Changes, "\n"), ": 1 connected")

	set(map[string][]string{"1-29": {proxy}})
	old := step(", connectWithin: 1s")
	require.Equal(t, summary.OutcomeFailed, old.Outcome, "the pod says 1-30, the old istiod has it")
	assert.Contains(t, old.Error, ns+"/"+strings.TrimSuffix(proxy, "."+ns)+" is connected to istiod istiod-1-29-")
	assert.Contains(t, old.Error, "(revision 1-29)")

	set(map[string][]string{"1-29": {proxy}, "1-30": {proxy}})
	both := step(", connectWithin: 1s")
	require.Equal(t, summary.OutcomeFailed, both.Outcome, "listed by both revisions")
	assert.Contains(t, both.Error, "(revision 1-29)")

	set(map[string][]string{})
	none := step(", connectWithin: 1s")
	require.Equal(t, summary.OutcomeFailed, none.Outcome)
	assert.Contains(t, none.Error, " is connected to no istiod")

	// Listed only after istiod has been asked a few times: waited for, within connectWithin.
	asked.Store(0)
	standInLate := connectionsStandIn(t, func(pod string) []string {
		if asked.Add(1) <= 4 {
			return nil
		}
		if strings.HasPrefix(pod, "istiod-1-30-") {
			return []string{proxy}
		}
		return nil
	})
	readers.IstiodConnections = standInLate
	late := step(", connectWithin: 20s")
	require.Equal(t, summary.OutcomePassed, late.Outcome, late.Error)
	assert.Greater(t, asked.Load(), int64(4), "asked again until it was listed")

	// podsOnly never asks istiod.
	asked.Store(0)
	readers.IstiodConnections = standIn
	set(map[string][]string{})
	podsOnly := step(", podsOnly: true")
	require.Equal(t, summary.OutcomePassed, podsOnly.Outcome, podsOnly.Error)
	assert.Zero(t, asked.Load())
	assert.NotContains(t, strings.Join(podsOnly.Changes, "\n"), "/debug/connections")
}

func TestRollbackMovesNamespacesBackAndRemovesTheNewRevision(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "rollback")
	_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "app", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, "app"))
	moved := e.RunStep(ctx, t, fmt.Sprintf("name: canary\ntimeout: 60s\nmoveNamespace: {namespaces: [%s], revision: 9-88}", ns))
	require.Equal(t, summary.OutcomePassed, moved.Outcome, "%v", moved.Err)

	res := e.RunStep(ctx, t, fmt.Sprintf("name: rollback\ntimeout: 60s\nrollback: {namespaces: [%s], to: 9-87, remove: 9-88}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	got, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "9-87", got.Labels["istio.io/rev"])
	changes := strings.Join(res.Changes, "\n")
	assert.Contains(t, changes, "label istio.io/rev: 9-88 → 9-87")
	assert.Contains(t, changes, "deployment "+ns+"/app: restarted and rolled out")
	assert.Contains(t, changes, "revision 9-88: no pod's proxy is of it or points at it")
	assert.Contains(t, changes, "helm release istio-system/istiod-9-88: not installed")
}

// Each Istio action fails, naming what it could not do, when what it acts on is missing — next to the tests
// where each passes. No chart is installed here: a missing chart path fails before anything reaches the API.
func TestIstioActionsFailForTheRightReason(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	missingChart := filepath.Join(t.TempDir(), "no-such-chart")
	for _, c := range []struct {
		step string
		want string
	}{
		{"name: move-missing\ntimeout: 20s\nmoveNamespace: {namespaces: [no-such-namespace], revision: 1-30}", "no-such-namespace"},
		{"name: rollback-missing\ntimeout: 20s\nrollback: {namespaces: [no-such-namespace], to: 1-29}", "no-such-namespace"},
		{"name: remove-missing-tag\ntimeout: 20s\nremoveTag: {tag: no-such-tag}", "no-such-tag"},
		{"name: install-no-chart\ntimeout: 20s\ninstallRevision: {revision: 9-99, chart: " + missingChart + "}", "no-such-chart"},
		{"name: gateway-no-chart\ntimeout: 20s\nmigrateGateway: {from: 9-98, to: 9-99, chart: " + missingChart + "}", "no-such-chart"},
	} {
		res := e.RunStep(ctx, t, c.step)
		name := strings.SplitN(c.step, "\n", 2)[0]
		assert.Equal(t, summary.OutcomeFailed, res.Outcome, "%s: %v", name, res.Err)
		if assert.Error(t, res.Err, name) {
			assert.Contains(t, res.Err.Error(), c.want, name)
		}
	}
}

// istiodStandIn serves an istiod monitoring exposition (pilot_xds = connected) from loopback, in the layout
// of istio/testdata/istiod-monitoring.txt; the test control plane's pod IPs lead off this machine.
// istiodPods runs an istiod Deployment of a revision (kwok runs its pod: nothing listens; the metrics come from
// istiodStandIn).
func istiodPods(t *testing.T, e *testenv.Env, ns, rev string) {
	t.Helper()
	istiodRunning(t, e, ns, rev, "example.invalid/pilot:1")
}

// istiodRunning is a revision's istiod Deployment, its pods labelled as Istio's chart labels them and
// running the given pilot image (kwok runs nothing).
func istiodRunning(t *testing.T, e *testenv.Env, ns, rev, image string) {
	t.Helper()
	labels := map[string]string{"app": "istiod", "istio.io/rev": rev}
	_, err := e.Client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-" + rev, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: image}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitPodsReady(context.Background(), e.Cluster(t), ns, "app=istiod,istio.io/rev="+rev))
}

func istiodStandIn(t *testing.T, connected *atomic.Int64) cluster.PodReader {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP pilot_xds Number of endpoints connected to this pilot using XDS.\n# TYPE pilot_xds gauge\npilot_xds{version=\"1.29.6\"} %d\n", connected.Load())
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
}

// connectionsStandIn serves istiod's /debug/connections from loopback in Istio's layout (AdsClients, see
// istio/testdata/README.md): each istiod pod lists the proxy IDs listed returns for it. The real reader
// port-forwards to the pod, which the test control plane cannot (kwok runs no kubelet server).
func connectionsStandIn(t *testing.T, listed func(istiodPod string) []string) cluster.PodReader {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := listed(r.URL.Query().Get("pod"))
		type client struct {
			ConnectionID string    `json:"connectionId"`
			ConnectedAt  time.Time `json:"connectedAt"`
			Address      string    `json:"address"`
		}
		out := struct {
			Total   int      `json:"totalClients"`
			Clients []client `json:"clients,omitempty"`
		}{Total: len(ids)}
		for i, id := range ids {
			out.Clients = append(out.Clients, client{
				ConnectionID: fmt.Sprintf("%s-%d", id, i+1), // as istiod names it: the proxy ID and a counter
				ConnectedAt:  time.Now().UTC(), Address: fmt.Sprintf("10.244.0.%d:40000", i+10)})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/debug/connections?pod="+pod.Name, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
}

// noConnections is an istiod stand-in nobody is connected to.
func noConnections(t *testing.T) cluster.PodReader {
	return connectionsStandIn(t, func(string) []string { return nil })
}

// Drain is read from the revision's istiod: while it reports a connected proxy (a pod the annotations do
// not show: another cluster's, a VM, a pod mid-restart), the revision stays; at zero it goes.
func TestUninstallRevisionWaitsForIstiodToReportNoConnectedProxy(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "istiod")
	istiodPods(t, e, ns, "5-01")

	var connected atomic.Int64
	connected.Store(1)
	var listed atomic.Value
	// A pod whose spec names another revision, connected here (its discoveryAddress points at this istiod).
	listed.Store([]string{"stray-5d9c7b8f4-q8w2e.demo-a"})
	readers := runner.Readers{IstiodMetrics: istiodStandIn(t, &connected),
		IstiodConnections: connectionsStandIn(t, func(string) []string { return listed.Load().([]string) })}
	step := fmt.Sprintf("name: uninstall\ntimeout: 60s\nuninstallRevision: {revision: 5-01, namespace: %s}", ns)
	res := e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNotDrained)
	assert.Contains(t, res.Err.Error(), "its istiod reports 1 connected proxies (pilot_xds: istiod-5-01-")
	assert.Contains(t, res.Err.Error(), "/debug/connections lists stray-5d9c7b8f4-q8w2e.demo-a) — the pods say none is of this revision, istiod's live view decides")

	// pilot_xds says 0, but istiod still lists a connection (its stream closing): refused, naming the proxy.
	connected.Store(0)
	listed.Store([]string{"app-a-7c9d8f6b5-x2k4q.demo-a"})
	res = e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNotDrained)
	assert.Contains(t, res.Err.Error(), "its istiod lists 1 connected proxies (app-a-7c9d8f6b5-x2k4q.demo-a; /debug/connections: istiod-5-01-")

	listed.Store([]string(nil))
	res = e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Contains(t, strings.Join(res.Changes, "\n"), "revision 5-01: its istiod reports no connected proxy (pilot_xds: istiod-5-01-")
	assert.Contains(t, strings.Join(res.Changes, "\n"), ": 0 connected)", "and lists none")

	// A namespace left on the revision: its pod's spec says 5-01 and istiod lists it — the refusal names the
	// pod from both sources, the one the user has to move and the connection that would lose its istiod.
	status := `{"initContainers":null,"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"5-01"}`
	left := e.Namespace(t, "left")
	_, err := e.Client.AppsV1().Deployments(left).Create(ctx, deployment(left, "left", map[string]string{"sidecar.istio.io/status": status}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), left, "left"))
	listed.Store([]string{"left-6b7c8d9f5-k2m4p." + left})
	res = e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNotDrained)
	assert.Contains(t, res.Err.Error(), "refusing to uninstall revision 5-01: 1 proxies still attached ("+left+"/left-")
	assert.Contains(t, res.Err.Error(), "; its istiod lists 1 connected: left-6b7c8d9f5-k2m4p."+left+")")
}

// With drainTimeout the step waits for the revision to drain instead of refusing at once: the stand-in
// istiod reports a connected proxy until it has been asked once, then none, and the step passes saying it
// waited; with the proxy never leaving it refuses when the wait is over.
func TestUninstallRevisionWaitsUpToDrainTimeout(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "drainwait")
	istiodPods(t, e, ns, "6-01")

	var connected atomic.Int64
	connected.Store(1)
	var asked atomic.Int64
	standIn := istiodStandIn(t, &connected)
	fetch := cluster.PodReader(func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
		body, err := standIn(ctx, c, pod)
		// The proxy leaves after istiod was asked once: the step must ask again rather than give up.
		if asked.Add(1) == 1 {
			connected.Store(0)
		}
		return body, err
	})
	readers := runner.Readers{IstiodMetrics: fetch, IstiodConnections: noConnections(t)}
	step := fmt.Sprintf("name: uninstall\ntimeout: 60s\nuninstallRevision: {revision: 6-01, namespace: %s, drainTimeout: 30s}", ns)
	res := e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.GreaterOrEqual(t, asked.Load(), int64(2))
	assert.Contains(t, strings.Join(res.Changes, "\n"), "revision 6-01: drained after")

	// Never drained: refused once the wait is over.
	connected.Store(1)
	asked.Store(100)
	step = fmt.Sprintf("name: uninstall\ntimeout: 60s\nuninstallRevision: {revision: 6-01, namespace: %s, drainTimeout: 2s}", ns)
	res = e.RunStepWith(ctx, t, readers, step)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNotDrained)
	assert.GreaterOrEqual(t, asked.Load(), int64(102), "asked again during the wait")
}
