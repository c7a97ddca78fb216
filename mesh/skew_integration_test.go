package mesh_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

// Istio supports a control plane at most one minor ahead of its proxies, never behind
// (istio.io/latest/docs/releases/supported-releases). A proxy whose discovery address is a tag's Service
// follows the tag without a restart: before the tag moves, it is judged against the istiod the tag will
// point at — and before a revision is uninstalled, every proxy left against the istiod serving it. Each
// passes inside the skew and fails (skew: fail) or warns (the default) outside it, naming the pod, the
// revision and the versions; a refused tag move has changed nothing.
func TestSetTagAndUninstallJudgeTheSkewOfTheProxiesLeft(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	istioSystem(t, e)
	injector(t, e, "skew-old")
	injector(t, e, "skew-new")
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mesh.TagWebhookName("prod-skew"), metav1.DeleteOptions{})
		_ = e.Client.CoreV1().Services("istio-system").Delete(context.Background(), "istiod-revision-tag-prod-skew", metav1.DeleteOptions{})
	})
	cp := e.Namespace(t, "skew-cp")
	istiodRunning(t, e, cp, "skew-old", "docker.io/istio/pilot:1.28.10")
	istiodRunning(t, e, cp, "skew-new", "docker.io/istio/pilot:1.30.3")

	// A workload injected through the tag, its proxy pointed at the tag's Service, on the old proxy.
	app := e.Namespace(t, "skew-app")
	status := `{"initContainers":null,"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"prod-skew"}`
	d := deployment(app, "follower", map[string]string{"sidecar.istio.io/status": status})
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.28.10",
		Env: []corev1.EnvVar{{Name: "CA_ADDR", Value: "istiod-revision-tag-prod-skew.istio-system.svc:15012"}}})
	_, err := e.Client.AppsV1().Deployments(app).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), app, "follower"))

	res := e.RunStep(ctx, t, "name: tag\nsetTag: {tag: prod-skew, revision: skew-old, skew: fail}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, "1 proxies served within the skew Istio supports after this step (istio.io/latest/docs/releases/supported-releases#control-planedata-plane-skew)", res.Changes[0], "only the proxy that follows the tag is judged")

	res = e.RunStep(ctx, t, "name: retag\nsetTag: {tag: prod-skew, revision: skew-new, skew: fail}")
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrSkew)
	assert.Contains(t, res.Err.Error(), "after this step 1 proxies are served by an istiod outside the skew Istio supports")
	assert.Contains(t, res.Err.Error(), app+"/follower-")
	assert.Contains(t, res.Err.Error(), "→ istiod of skew-new: istiod 1.30 is 2 minors ahead of proxy 1.28 (at most 1 supported)")
	hook, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mesh.TagWebhookName("prod-skew"), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "skew-old", hook.Labels["istio.io/rev"], "refused before anything changed")

	res = e.RunStep(ctx, t, "name: retag\nsetTag: {tag: prod-skew, revision: skew-new}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Contains(t, res.Changes[0], "warning: after this step 1 proxies are served by an istiod outside the skew Istio supports", "warn is the default")
	assert.Contains(t, res.Changes[0], "istiod 1.30 is 2 minors ahead of proxy 1.28")

	// The old revision drained (its istiod reports nothing connected), but the proxy left behind the tag is
	// two minors behind the istiod it is now served by.
	var connected atomic.Int64
	readers := runner.Readers{IstiodMetrics: istiodStandIn(t, &connected), IstiodConnections: connectionsStandIn(t, func(string) []string { return nil })}
	uninstall := fmt.Sprintf("name: uninstall\ntimeout: 60s\nuninstallRevision: {revision: skew-old, namespace: %s, skew: fail}", cp)
	res = e.RunStepWith(ctx, t, readers, uninstall)
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrSkew)
	assert.Contains(t, res.Err.Error(), "refusing to uninstall revision skew-old")
	assert.Contains(t, res.Err.Error(), app+"/follower-")
	assert.Contains(t, res.Err.Error(), "→ istiod of skew-new: istiod 1.30 is 2 minors ahead of proxy 1.28")

	// Restarted onto the new proxy: inside the skew, the revision goes.
	cur, err := e.Client.AppsV1().Deployments(app).Get(ctx, "follower", metav1.GetOptions{})
	require.NoError(t, err)
	cur.Spec.Template.Spec.Containers[1].Image = "docker.io/istio/proxyv2:1.30.3"
	_, err = e.Client.AppsV1().Deployments(app).Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), app, "follower")) // the old pod is gone or terminating: not judged
	res = e.RunStepWith(ctx, t, readers, uninstall)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Contains(t, strings.Join(res.Changes, "\n"), "proxies served within the skew Istio supports after this step")
}
