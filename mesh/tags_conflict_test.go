package mesh

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// Pure logic, on client-go's fake: istiod patches the caBundle of the tag's webhook between setTag's read and
// its write (a Conflict on Update); setTag reads again and succeeds instead of failing the step.
func TestSetTagRetriesWhenIstiodWritesTheWebhookMeanwhile(t *testing.T) {
	injector := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-1-30", Labels: map[string]string{"istio.io/rev": "1-30"}},
		Webhooks: []admissionv1.MutatingWebhook{{Name: "rev.namespace.sidecar-injector.istio.io",
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "istio-system", Name: "istiod-1-30"}}}},
	}
	existing := TagWebhook(injector, "prod-stable", "1-29")
	existing.Labels["istio.io/rev"] = "1-29"
	cs := fake.NewSimpleClientset(injector, existing)
	conflicts := 0
	cs.PrependReactor("update", "mutatingwebhookconfigurations", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts == 0 {
			conflicts++
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
				existing.Name, assert.AnError)
		}
		return false, nil, nil
	})
	var out bytes.Buffer
	a := &scenarios.SetTagAction{Tag: "prod-stable", Revision: "1-30"}
	env := &runner.Env{Step: &scenarios.Step{Name: "tag", Action: a}, Output: &out}
	err := setTag(context.Background(), env, &cluster.Cluster{Name: "fake", Client: cs}, &kube.Touched{}, a)
	require.NoError(t, err)
	assert.Equal(t, 1, conflicts, "the first write conflicted")
	got, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), existing.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1-30", got.Labels["istio.io/rev"], "the tag moved on the retry")
}
