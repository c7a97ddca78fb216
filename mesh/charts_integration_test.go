package mesh_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/canarygate/canarygate/helmrelease"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

// TestRealIstioChartsTwoRevisionsSideBySide installs the real base and istiod charts as revisions 7-01 and
// 7-02, as the scenarios do, then tags and removes a revision. No pod is ever created in a namespace the
// injectors select, and the charts render no Istio resources the validators would check: the API server
// never calls a webhook.
func TestRealIstioChartsTwoRevisionsSideBySide(t *testing.T) {
	e := testenv.Need(t, env)
	charts := testenv.IstioCharts(t)
	ctx := context.Background()
	testenv.HelmHome(t)
	step := func(yaml string) summary.Phase {
		res := e.RunStep(ctx, t, yaml)
		require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
		return summary.Phase{Changes: res.Changes}
	}
	t.Cleanup(func() { removeIstio(t, e) })
	step(fmt.Sprintf("name: base\ntimeout: 3m\nhelmInstall: {release: istio-base, namespace: istio-system, createNamespace: true, chart: %s, values: {defaultRevision: \"7-01\"}}", filepath.Join(charts, "base")))
	for _, rev := range []string{"7-01", "7-02"} {
		step(fmt.Sprintf("name: istiod-%s\ntimeout: 3m\ninstallRevision: {revision: \"%s\", chart: %s}", rev, rev, filepath.Join(charts, "istio-control", "istio-discovery")))
		neutralizeWebhooks(t, e)
	}
	for _, rev := range []string{"7-01", "7-02"} {
		d, err := e.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-"+rev, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, rev, d.Labels["istio.io/rev"])
		require.NotNil(t, d.Spec.Replicas)
		assert.Positive(t, *d.Spec.Replicas, "istiod-%s asks for replicas", rev)
		assert.Equal(t, *d.Spec.Replicas, d.Status.AvailableReplicas, "istiod-%s rolled out: every replica available", rev)
		mwc, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-"+rev, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, rev, mwc.Labels["istio.io/rev"])
		_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istio-validator-"+rev+"-istio-system", metav1.GetOptions{})
		require.NoError(t, err)
	}

	// The lab's mesh policies, applied as the lab applies them, against Istio's real CRD schemas (a field
	// or enum value the CRDs refuse fails here, not on the kind cluster). The validators were pointed at a
	// closed loopback port with failurePolicy Ignore above: no call leaves the machine.
	for _, ns := range []string{"demo-a", "demo-b"} {
		_, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	for _, fixture := range []string{"lab-mesh-mtls", "lab-mesh-plaintext"} {
		applied := step(fmt.Sprintf("name: %s\napply: {fixture: %s}", fixture, fixture))
		assert.Contains(t, strings.Join(applied.Changes, "\n"), "PeerAuthentication istio-system/default: ", fixture)
	}
	pa, err := e.Cluster(t).Dynamic.Resource(schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}).
		Namespace("istio-system").Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err)
	mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
	assert.Equal(t, "PERMISSIVE", mode, "the plaintext variant replaces STRICT")
	dr, err := e.Cluster(t).Dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}).
		Namespace("demo-b").Get(ctx, "app-b-mtls", metav1.GetOptions{})
	require.NoError(t, err)
	tlsMode, _, _ := unstructured.NestedString(dr.Object, "spec", "trafficPolicy", "tls", "mode")
	assert.Equal(t, "ISTIO_MUTUAL", tlsMode)

	// The gateway: a release per revision with no Service of its own (service.type None, as Istio's gateway
	// canary guide) behind one stable Service, moved from 7-01 to 7-02.
	gatewayChart := filepath.Join(charts, "gateway")
	step(fmt.Sprintf("name: gateway-old\ntimeout: 3m\nhelmInstall: {release: istio-ingress-7-01, namespace: istio-ingress, createNamespace: true, chart: %s, values: {revision: \"7-01\", labels: {istio: ingressgateway}, service: {type: None}}}", gatewayChart))
	stable, err := e.Client.CoreV1().Services("istio-ingress").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"istio": "ingressgateway"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30180}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	migrated := step(fmt.Sprintf("name: migrate-gateway\ntimeout: 3m\nmigrateGateway: {from: \"7-01\", to: \"7-02\", chart: %s, values: {labels: {istio: ingressgateway}, service: {type: None}}}", gatewayChart))
	assert.Contains(t, strings.Join(migrated.Changes, "\n"), "helm release istio-ingress/istio-ingress-7-02: installed")
	assert.Contains(t, strings.Join(migrated.Changes, "\n"), "helm release istio-ingress/istio-ingress-7-01: uninstalled")
	gw, err := e.Client.AppsV1().Deployments("istio-ingress").Get(ctx, "istio-ingress-7-02", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "7-02", gw.Spec.Template.Labels["istio.io/rev"], "the new gateway is injected by the new revision")
	assert.Equal(t, "ingressgateway", gw.Spec.Template.Labels["istio"], "and joins the stable Service")
	_, err = e.Client.AppsV1().Deployments("istio-ingress").Get(ctx, "istio-ingress-7-01", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the old gateway is gone")
	for _, name := range []string{"istio-ingress-7-01", "istio-ingress-7-02"} {
		_, err = e.Client.CoreV1().Services("istio-ingress").Get(ctx, name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "service.type None: release %s has no Service of its own (%v)", name, err)
	}
	after, err := e.Client.CoreV1().Services("istio-ingress").Get(ctx, "istio-ingressgateway", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, stable.Spec.ClusterIP, after.Spec.ClusterIP, "the stable Service kept its address")

	// keepOld: the new release is installed and the old one stays; both serve behind the stable Service until
	// a later step removes one.
	kept := step(fmt.Sprintf("name: migrate-keep-old\ntimeout: 3m\nmigrateGateway: {from: \"7-02\", to: \"7-03\", keepOld: true, chart: %s, values: {labels: {istio: ingressgateway}, service: {type: None}}}", gatewayChart))
	assert.Contains(t, strings.Join(kept.Changes, "\n"), "helm release istio-ingress/istio-ingress-7-03: installed")
	assert.NotContains(t, strings.Join(kept.Changes, "\n"), "uninstalled")
	for _, name := range []string{"istio-ingress-7-02", "istio-ingress-7-03"} {
		d, err := e.Client.AppsV1().Deployments("istio-ingress").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err, "%s still there", name)
		assert.Equal(t, "ingressgateway", d.Spec.Template.Labels["istio"], "%s behind the stable Service", name)
	}
	step("name: drop-7-03\ntimeout: 3m\nhelmUninstall: {release: istio-ingress-7-03, namespace: istio-ingress, wait: true}")

	tagged := step("name: tag\nsetTag: {tag: prod-stable, revision: \"7-01\"}")
	assert.Equal(t, []string{"revision tag prod-stable: created, points at 7-01", "Service istio-system/istiod-revision-tag-prod-stable: selects istiod of revision 7-01"}, tagged.Changes)
	injector, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-7-01", metav1.GetOptions{})
	require.NoError(t, err)
	tag, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-prod-stable", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"istio.io/tag": "prod-stable", "istio.io/rev": "7-01", "app": "sidecar-injector"}, tag.Labels)
	require.Len(t, tag.Webhooks, len(injector.Webhooks))
	for i, w := range tag.Webhooks {
		assert.Equal(t, injector.Webhooks[i].Name, w.Name)
		assert.Equal(t, injector.Webhooks[i].ClientConfig, w.ClientConfig, "injection by istiod-7-01")
		sel := fmt.Sprint(w.NamespaceSelector, w.ObjectSelector)
		assert.NotContains(t, sel, "[7-01]", "selectors name the tag, not the revision")
	}
	assert.Contains(t, fmt.Sprint(tag.Webhooks[0].NamespaceSelector), "prod-stable")
	clash := e.RunStep(ctx, t, "name: clash\nsetTag: {tag: \"7-02\", revision: \"7-01\"}")
	assert.Equal(t, summary.OutcomeFailed, clash.Outcome, "a tag named like a revision is refused")
	step("name: untag\nremoveTag: {tag: prod-stable}")

	// istiod's own count of connected proxies comes from a loopback stand-in (kwok's pod IPs lead off this
	// machine): none connected.
	var none atomic.Int64
	removed := e.RunStepWith(ctx, t, runner.Readers{IstiodMetrics: istiodStandIn(t, &none), IstiodConnections: noConnections(t)}, "name: uninstall\ntimeout: 3m\nuninstallRevision: {revision: \"7-01\"}")
	require.Equal(t, summary.OutcomePassed, removed.Outcome, "%v", removed.Err)
	assert.Contains(t, strings.Join(removed.Changes, "\n"), "helm release istio-system/istiod-7-01: uninstalled")
	// The base chart's default validator still names 7-01 (defaultRevision was not moved first). It belongs to
	// the istio-base release: deleting it would drift that release, so it stays and the report says so
	// (Istio's order moves the default revision before removing the old istiod; the shipped scenarios do).
	assert.Contains(t, strings.Join(removed.Changes, "\n"), "ValidatingWebhookConfiguration istiod-default-validator: labelled with revision 7-01 but owned by Helm release istio-system/istio-base: left to it")
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", metav1.GetOptions{})
	assert.NoError(t, err, "the base release's validator survives the uninstall of the old revision")
	_, err = e.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-7-01", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the old istiod is gone")
	_, err = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector-7-01", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istio-validator-7-01-istio-system", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	for _, name := range []string{"istio-sidecar-injector-7-02"} {
		_, err = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, "the new revision's objects stay")
	}
	_, err = e.Client.AppsV1().Deployments("istio-system").Get(ctx, "istiod-7-02", metav1.GetOptions{})
	assert.NoError(t, err)
}

// neutralizeWebhooks points every webhook the charts created at a closed loopback port: should anything in
// this package's control plane create a pod or an Istio resource the webhooks select, the API server fails
// locally instead of dialing istiod's Service address.
func neutralizeWebhooks(t *testing.T, e *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	loopback := func(path string) admissionv1.WebhookClientConfig {
		return admissionv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1" + path)}
	}
	mwcs, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/rev"})
	require.NoError(t, err)
	ignore := admissionv1.Ignore
	for _, w := range mwcs.Items {
		for i := range w.Webhooks {
			// Ignore: a gateway pod the injector selects is created uninjected (kwok runs it all the same).
			w.Webhooks[i].ClientConfig, w.Webhooks[i].FailurePolicy = loopback("/inject"), &ignore
		}
		_, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, &w, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	vwcs, err := e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "istio.io/rev"})
	require.NoError(t, err)
	for _, w := range vwcs.Items {
		for i := range w.Webhooks {
			w.Webhooks[i].ClientConfig, w.Webhooks[i].FailurePolicy = loopback("/validate"), &ignore
		}
		_, err := e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, &w, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
}

// removeIstio uninstalls what the test installed and deletes every Istio webhook left, so the package's
// other tests (which label namespaces istio.io/rev) meet no injector.
func removeIstio(t *testing.T, e *testenv.Env) {
	cfg, err := helmrelease.Configuration(e.Cluster(t), "istio-system", t.Logf)
	require.NoError(t, err)
	_ = e.Client.CoreV1().Namespaces().Delete(context.Background(), "istio-ingress", metav1.DeleteOptions{})
	for _, rel := range []string{"istiod-7-02", "istiod-7-01", "istio-base"} {
		un := action.NewUninstall(cfg)
		un.IgnoreNotFound = true
		_, _ = un.Run(rel)
	}
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "istio.io/rev"}
	_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	_ = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
}
