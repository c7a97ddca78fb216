package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

func restart(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.RestartAction) error {
	touched.Add(a.Namespace)
	names := a.Deployments
	if len(names) == 0 {
		list, err := c.Client.AppsV1().Deployments(a.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list deployments in %s: %w", a.Namespace, err)
		}
		for _, d := range list.Items {
			if _, gen := d.Labels[scenarios.GeneratorStreamLabel]; gen && !a.IncludeGenerators {
				env.Changed("deployment %s/%s: canarygate's generator of stream %s, left running (includeGenerators: true restarts it)", a.Namespace, d.Name, d.Labels[scenarios.GeneratorStreamLabel])
				continue
			}
			names = append(names, d.Name)
		}
		sort.Strings(names)
		if len(names) == 0 {
			env.Changed("namespace %s: no Deployments to restart", a.Namespace)
			return nil
		}
	}
	return Restart(ctx, c, a.Namespace, names, a.Pacing, env.Changed)
}

// Restart rolls Deployments out again as pacing says: one at a time (each rollout watched to completion
// before the next begins, then spacing), one at a time spaced from each restart (every rollout watched at the
// end), or all at once (then every rollout watched).
func Restart(ctx context.Context, c *cluster.Cluster, ns string, names []string, pacing scenarios.Pacing, record func(string, ...any)) error {
	pause := func(i int) error {
		if pacing.Spacing <= 0 || i == len(names)-1 {
			return nil
		}
		select {
		case <-time.After(pacing.Spacing.D()):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if pacing.AllAtOnce || pacing.SpacingAfter == scenarios.SpacingAfterRestart {
		for i, name := range names {
			if err := RestartOne(ctx, c, ns, name); err != nil {
				return err
			}
			record("deployment %s/%s: restarted", ns, name)
			if err := pause(i); err != nil {
				return err
			}
		}
		for _, name := range names {
			if err := WaitRolledOut(ctx, c, ns, name); err != nil {
				return err
			}
			record("deployment %s/%s: rolled out", ns, name)
		}
		return nil
	}
	for i, name := range names {
		start := time.Now()
		if err := RestartOne(ctx, c, ns, name); err != nil {
			return err
		}
		if err := WaitRolledOut(ctx, c, ns, name); err != nil {
			return err
		}
		record("deployment %s/%s: restarted and rolled out in %s", ns, name, time.Since(start).Round(100*time.Millisecond))
		if err := pause(i); err != nil {
			return err
		}
	}
	return nil
}

// RestartOne sets the restartedAt pod-template annotation, as kubectl rollout restart does. It uses
// nanosecond precision: kubectl's one-second RFC 3339 value makes two restarts within a second a no-op.
func RestartOne(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: time.Now().Format(time.RFC3339Nano)}}}}})
	if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
		return fmt.Errorf("restart deployment %s/%s: %w", ns, name, err)
	}
	return nil
}

func scale(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.ScaleAction) error {
	touched.Add(a.Namespace)
	sc, err := c.Client.AppsV1().Deployments(a.Namespace).GetScale(ctx, a.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("scale deployment %s/%s: %w", a.Namespace, a.Deployment, err)
	}
	before := sc.Spec.Replicas
	// A patch of the scale subresource: an update would conflict with the controller's own status writes.
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": a.Replicas}})
	if _, err := c.Client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Deployment, types.MergePatchType, body, metav1.PatchOptions{FieldManager: scenarios.DefaultFieldManager}, "scale"); err != nil {
		return fmt.Errorf("scale deployment %s/%s: %w", a.Namespace, a.Deployment, err)
	}
	if err := WaitRolledOut(ctx, c, a.Namespace, a.Deployment); err != nil {
		return err
	}
	env.Changed("deployment %s/%s: replicas %d → %d", a.Namespace, a.Deployment, before, a.Replicas)
	return nil
}
