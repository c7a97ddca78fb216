package kube_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

// widgetCRD is a custom resource with a free-form status (no status subresource), as an operator's
// IstioControlPlane or MeshGateway would be for waitFor.
const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.canarygate.test}
spec:
  group: canarygate.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

var (
	crdGVR    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	widgetGVR = schema.GroupVersionResource{Group: "canarygate.test", Version: "v1", Resource: "widgets"}
)

func widget(ns, name string, labels map[string]any, status map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "canarygate.test/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"status":   status,
	}}
}

// waitFor on any kind, with kubectl wait's own conditions, on the real API server: the CRD's Established
// condition, a custom resource's field (jsonpath, with and without a value), its status condition by
// selector, its deletion. A condition never met times the step out, naming what it waited
// for; a wait that starts before the change returns on the change (the watch is open first: an event, not a
// sleep). Bad conditions are bad input at validate (scenarios' tests).
func TestWaitForAnyKindWithKubectlConditions(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	dyn := e.Cluster(t).Dynamic
	var crd unstructured.Unstructured
	require.NoError(t, yaml.Unmarshal([]byte(widgetCRD), &crd.Object))
	_, err := dyn.Resource(crdGVR).Create(ctx, &crd, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dyn.Resource(crdGVR).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{}) })
	step := func(yamlStep string) runner.Result { t.Helper(); return e.RunStep(ctx, t, yamlStep) }

	res := step("name: crd\ntimeout: 60s\nwaitFor: {apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, name: widgets.canarygate.test, condition: condition=Established}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, []string{"customresourcedefinition.apiextensions.k8s.io/widgets.canarygate.test condition met"}, res.Changes, "kubectl's own line")

	ns := e.Namespace(t, "widgets")
	widgets := dyn.Resource(widgetGVR).Namespace(ns)
	_, err = widgets.Create(ctx, widget(ns, "w1", nil, map[string]any{"phase": "Pending"}), metav1.CreateOptions{})
	require.NoError(t, err)

	res = step(fmt.Sprintf("name: never\ntimeout: 2s\nwaitFor: {apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: %s, condition: \"jsonpath={.status.phase}=Ready\"}", ns))
	require.Equal(t, summary.OutcomeTimedOut, res.Outcome)
	assert.ErrorContains(t, res.Err, "wait until Widget "+ns+"/w1 meets jsonpath={.status.phase}=Ready (kubectl wait --for): ")
	assert.ErrorContains(t, res.Err, "timed out waiting for the condition on widgets/w1", "kubectl's own words")

	// Started first; the phase changes once its watch is open.
	counter := &requestCounter{resource: "widgets", watching: make(chan struct{})}
	c := e.ClusterWith(t, counter.wrap)
	done := make(chan runner.Result, 1)
	go func() {
		done <- e.RunStepOn(ctx, t, c, runner.Readers{}, fmt.Sprintf("name: ready\ntimeout: 60s\nwaitFor: {apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: %s, condition: \"jsonpath={.status.phase}=Ready\"}", ns))
	}()
	<-counter.watching
	w, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(w.Object, "Ready", "status", "phase"))
	_, err = widgets.Update(ctx, w, metav1.UpdateOptions{})
	require.NoError(t, err)
	res = <-done
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, []string{"widget.canarygate.test/w1 condition met"}, res.Changes)

	// A field that only has to have a value (a LoadBalancer's address): missing fails, present passes.
	addr := fmt.Sprintf("name: address\ntimeout: 2s\nwaitFor: {apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: %s, condition: \"jsonpath={.status.address}\"}", ns)
	require.Equal(t, summary.OutcomeTimedOut, step(addr).Outcome)
	w, err = widgets.Get(ctx, "w1", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(w.Object, "10.0.0.7", "status", "address"))
	_, err = widgets.Update(ctx, w, metav1.UpdateOptions{})
	require.NoError(t, err)
	res = step(addr)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)

	// Status conditions, on every object a selector picks: one False keeps the step waiting, so it fails.
	cond := func(status string) map[string]any {
		return map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status}}}
	}
	_, err = widgets.Create(ctx, widget(ns, "w2", map[string]any{"tier": "mesh"}, cond("True")), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = widgets.Create(ctx, widget(ns, "w3", map[string]any{"tier": "mesh"}, cond("False")), metav1.CreateOptions{})
	require.NoError(t, err)
	bySelector := fmt.Sprintf("name: mesh-ready\ntimeout: 2s\nwaitFor: {apiVersion: canarygate.test/v1, kind: Widget, selector: tier=mesh, namespace: %s, condition: condition=Ready}", ns)
	res = step(bySelector)
	require.Equal(t, summary.OutcomeTimedOut, res.Outcome)
	assert.ErrorContains(t, res.Err, "wait until every canarygate.test/v1 Widget matching tier=mesh in "+ns+" meets condition=Ready")
	w, err = widgets.Get(ctx, "w3", metav1.GetOptions{})
	require.NoError(t, err)
	w.Object["status"] = cond("True")
	_, err = widgets.Update(ctx, w, metav1.UpdateOptions{})
	require.NoError(t, err)
	res = step(bySelector)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Len(t, res.Changes, 2, "both objects: %v", res.Changes)

	require.NoError(t, widgets.Delete(ctx, "w1", metav1.DeleteOptions{}))
	res = step(fmt.Sprintf("name: deleted\ntimeout: 60s\nwaitFor: {apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: %s, condition: delete}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.False(t, strings.Contains(fmt.Sprint(res.Changes), "w2"), "only w1 was waited for")
}
