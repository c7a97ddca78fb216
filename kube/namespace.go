package kube

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

func labelNamespace(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.LabelNamespaceAction) error {
	for _, ns := range a.Namespaces {
		touched.Add(ns)
		changes, err := LabelNamespace(ctx, c, ns, a.Set, a.Remove)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			env.Changed("namespace %s: labels already as asked", ns)
		}
		for _, ch := range changes {
			env.Changed("namespace %s: %s", ns, ch)
		}
	}
	return nil
}

// LabelNamespace sets and removes labels in ONE update (a merge patch guarded by the resourceVersion read), so
// that no moment exists where a namespace has both istio-injection and istio.io/rev, or neither.
func LabelNamespace(ctx context.Context, c *cluster.Cluster, ns string, set map[string]string, remove []string) ([]string, error) {
	cur, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	body, changes := keyEdits("label", cur.Labels, set, remove)
	if len(changes) == 0 {
		return nil, nil
	}
	patchBody, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": body, "resourceVersion": cur.ResourceVersion}})
	if _, err := c.Client.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patchBody, metav1.PatchOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
		return nil, fmt.Errorf("namespace %s: relabel: %w", ns, err)
	}
	return changes, nil
}
