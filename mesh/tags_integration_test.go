package mesh_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/summary"
)

// injector is a revision's sidecar injector webhook shaped as Istio's istiod chart renders it (the two
// revision webhooks: by namespace label and by pod label). Its client points at a closed loopback port and
// it ignores failures: whatever the test does, the API server never calls anything off this machine.
func injector(t *testing.T, e *testenv.Env, rev string) {
	t.Helper()
	ignore, none := admissionv1.Ignore, admissionv1.SideEffectClassNone
	hook := func(name string, ns, obj []metav1.LabelSelectorRequirement) admissionv1.MutatingWebhook {
		return admissionv1.MutatingWebhook{
			Name: name, FailurePolicy: &ignore, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig:      admissionv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/inject/cluster/Kubernetes/net/network1")},
			Rules:             []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create}, Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: ns},
			ObjectSelector:    &metav1.LabelSelector{MatchExpressions: obj},
		}
	}
	notFalse := metav1.LabelSelectorRequirement{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}
	noInjection := metav1.LabelSelectorRequirement{Key: "istio-injection", Operator: metav1.LabelSelectorOpDoesNotExist}
	w := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-" + rev, Labels: map[string]string{"istio.io/rev": rev, "app": "sidecar-injector"}},
		Webhooks: []admissionv1.MutatingWebhook{
			hook("rev.namespace.sidecar-injector.istio.io",
				[]metav1.LabelSelectorRequirement{{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{rev}}, noInjection},
				[]metav1.LabelSelectorRequirement{notFalse}),
			hook("rev.object.sidecar-injector.istio.io",
				[]metav1.LabelSelectorRequirement{{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpDoesNotExist}, noInjection},
				[]metav1.LabelSelectorRequirement{notFalse, {Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{rev}}}),
		},
	}
	_, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), w, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), w.Name, metav1.DeleteOptions{})
	})
}

// istioSystem creates istio-system, where tags' Services go (kept: several tests share it).
func istioSystem(t *testing.T, e *testenv.Env) {
	t.Helper()
	_, err := e.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

func TestSetTagCreatesWhatIstioctlCreatesAndMovesIt(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	injector(t, e, "9-98")
	injector(t, e, "9-99")
	istioSystem(t, e)
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mesh.TagWebhookName("prod-canary"), metav1.DeleteOptions{})
	})

	res := e.RunStep(ctx, t, "name: tag\nsetTag: {tag: prod-canary, revision: 9-98}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	got, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-prod-canary", metav1.GetOptions{})
	require.NoError(t, err)
	svc, err := e.Client.CoreV1().Services("istio-system").Get(ctx, "istiod-revision-tag-prod-canary", metav1.GetOptions{})
	require.NoError(t, err, "the tag's Service, as istioctl creates it")
	assert.Equal(t, map[string]string{"app": "istiod", "istio.io/rev": "9-98"}, svc.Spec.Selector)
	assert.Equal(t, "prod-canary", svc.Labels["istio.io/tag"])
	assert.Equal(t, "prod-canary", got.Labels["istio.io/tag"])
	assert.Equal(t, "9-98", got.Labels["istio.io/rev"])
	require.Len(t, got.Webhooks, 2)
	assert.Equal(t, []string{"prod-canary"}, got.Webhooks[0].NamespaceSelector.MatchExpressions[0].Values, "namespaces labelled istio.io/rev=prod-canary")
	assert.Equal(t, []string{"prod-canary"}, got.Webhooks[1].ObjectSelector.MatchExpressions[1].Values, "pods labelled istio.io/rev=prod-canary")
	assert.Equal(t, "https://127.0.0.1:1/inject/cluster/Kubernetes/net/network1", *got.Webhooks[0].ClientConfig.URL, "injection by the revision's istiod")

	res = e.RunStep(ctx, t, "name: retag\nsetTag: {tag: prod-canary, revision: 9-99}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, []string{"revision tag prod-canary: 9-98 → 9-99", "Service istio-system/istiod-revision-tag-prod-canary: selects istiod of revision 9-99"}, res.Changes)
	svc, err = e.Client.CoreV1().Services("istio-system").Get(ctx, "istiod-revision-tag-prod-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "9-99", svc.Spec.Selector["istio.io/rev"])
	got, err = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-prod-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "9-99", got.Labels["istio.io/rev"])
	assert.Equal(t, []string{"prod-canary"}, got.Webhooks[0].NamespaceSelector.MatchExpressions[0].Values)

	clash := e.RunStep(ctx, t, "name: clash\nsetTag: {tag: 9-99, revision: 9-98}")
	assert.Equal(t, summary.OutcomeFailed, clash.Outcome)
	assert.ErrorContains(t, clash.Err, "a revision of that name exists")

	missing := e.RunStep(ctx, t, "name: missing\nsetTag: {tag: prod-stable, revision: 0-01}")
	assert.Equal(t, summary.OutcomeFailed, missing.Outcome)
	assert.ErrorContains(t, missing.Err, "revision 0-01 has no injector webhook")

	// Rollback as AKS does it: the tag goes back to the old revision first, then the namespaces labelled
	// with it restart onto it.
	rb := e.Namespace(t, "rollback-tag")
	res = e.RunStep(ctx, t, fmt.Sprintf("name: rollback\ntimeout: 60s\nrollback: {namespaces: [%s], to: prod-canary, tags: {prod-canary: 9-98}}", rb))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, "revision tag prod-canary: 9-99 → 9-98", res.Changes[0], "the tag is re-pointed before anything restarts")
	got, err = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-prod-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "9-98", got.Labels["istio.io/rev"])
	nsObj, err := e.Client.CoreV1().Namespaces().Get(ctx, rb, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "prod-canary", nsObj.Labels["istio.io/rev"])

	res = e.RunStep(ctx, t, "name: untag\nremoveTag: {tag: prod-canary}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	_, err = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-prod-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	_, err = e.Client.CoreV1().Services("istio-system").Get(ctx, "istiod-revision-tag-prod-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the tag's Service goes with it")
}

// The "default" tag takes the legacy labels too, as Istio's chart (revision-tags-mwc.yaml) and istioctl make
// it: an istio-injection=enabled namespace, and a sidecar.istio.io/inject=true pod where the namespace has
// neither label, are injected by the revision the tag points at.
func TestTheDefaultTagTakesTheLegacyInjectionLabels(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	injector(t, e, "9-97")
	istioSystem(t, e)
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mesh.TagWebhookName("default"), metav1.DeleteOptions{})
		_ = e.Client.CoreV1().Services("istio-system").Delete(context.Background(), "istiod-revision-tag-default", metav1.DeleteOptions{})
	})
	res := e.RunStep(ctx, t, "name: tag\nsetTag: {tag: default, revision: 9-97}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	got, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-default", metav1.GetOptions{})
	require.NoError(t, err)
	byName := map[string]admissionv1.MutatingWebhook{}
	for _, w := range got.Webhooks {
		byName[w.Name] = w
	}
	require.Len(t, byName, 4, "rev.namespace, rev.object, namespace, object")
	ns := byName["namespace.sidecar-injector.istio.io"]
	assert.Equal(t, []metav1.LabelSelectorRequirement{{Key: "istio-injection", Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"}}}, ns.NamespaceSelector.MatchExpressions)
	obj := byName["object.sidecar-injector.istio.io"]
	assert.Equal(t, []metav1.LabelSelectorRequirement{{Key: "sidecar.istio.io/inject", Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}}, {Key: "istio.io/rev", Operator: metav1.LabelSelectorOpDoesNotExist}}, obj.ObjectSelector.MatchExpressions)
	assert.Equal(t, "https://127.0.0.1:1/inject/cluster/Kubernetes/net/network1", *ns.ClientConfig.URL, "injected by the revision's istiod")
	assert.Equal(t, []string{"default"}, byName["rev.namespace.sidecar-injector.istio.io"].NamespaceSelector.MatchExpressions[0].Values)

	// Any other tag has the two revision webhooks only.
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mesh.TagWebhookName("other"), metav1.DeleteOptions{})
	})
	res = e.RunStep(ctx, t, "name: tag\nsetTag: {tag: other, revision: 9-97}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	other, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-revision-tag-other", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, other.Webhooks, 2)
}
