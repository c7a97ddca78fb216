package mesh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/scenarios"
)

// The webhooksServe observer, on the real API server: an Istio-labelled validating webhook (failurePolicy
// Fail) naming a Service is recorded with the Service's ready endpoints as they change — none, one — then the
// Service gone, then the configuration gone; each state once, in order. The webhook matches a resource that
// does not exist and names a Service with no selector: the API server never calls it.
func TestWebhooksObserverRecordsWhoServesEachIstioWebhook(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "hooks")
	_, err := e.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-" + ns, Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https-webhook", Port: 443}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	spec := &scenarios.WebhooksServe{Namespaces: []string{ns}}
	spec.Default()
	observe, ok := checks.ObserverFor(scenarios.GateWebhooksServe)
	require.True(t, ok, "webhooksServe has an observer")
	got := make(chan string, 64)
	octx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() {
		done <- observe(octx, scenarios.Gate{Name: "webhooksServe", Kind: scenarios.GateWebhooksServe, Spec: spec}, cluster.NewSet(e.Cluster(t)),
			func(key, value string) {
				if strings.Contains(key, "/validator-"+ns+"/") {
					got <- key + " = " + value
				}
			})
	}()
	key := checks.WebhookObservationPrefix(spec) + "ValidatingWebhookConfiguration/validator-" + ns + "/rev.validation.istio.io"
	// next waits for the observer's next record of the webhook (the bound only ends a broken test).
	next := func(want string) {
		t.Helper()
		select {
		case v := <-got:
			require.Equal(t, key+" = "+want, v)
		case err := <-done:
			t.Fatalf("the observer ended waiting for %q: %v", want, err)
		case <-time.After(time.Minute):
			t.Fatalf("no record %q within a minute", want)
		}
	}

	none := admissionv1.SideEffectClassNone
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "validator-" + ns, Labels: map[string]string{"istio.io/rev": ns}},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name: "rev.validation.istio.io", SideEffects: &none, FailurePolicy: ptr.To(admissionv1.Fail), AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: ns, Name: "istiod-" + ns, Path: ptr.To("/validate")}},
			Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule: admissionv1.Rule{APIGroups: []string{"canarygate.test.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothing"}}}},
		}},
	}
	_, err = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), vwc.Name, metav1.DeleteOptions{})
	})
	next("Fail " + ns + "/istiod-" + ns + " ready 0")

	_, err = e.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "istiod-" + ns + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "istiod-" + ns}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.96.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	next("Fail " + ns + "/istiod-" + ns + " ready 1")

	require.NoError(t, e.Client.CoreV1().Services(ns).Delete(ctx, "istiod-"+ns, metav1.DeleteOptions{}))
	next("Fail " + ns + "/istiod-" + ns + " absent")

	require.NoError(t, e.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, vwc.Name, metav1.DeleteOptions{}))
	next("gone")

	stop()
	require.NoError(t, <-done, "the observer ends quietly with the run")
}
