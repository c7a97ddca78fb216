// Package kube holds the executors of the Kubernetes step actions: server-side apply, delete, namespace
// labels, annotations, rollout restarts watched to completion, waits, scale and patch. All go through
// client-go against the step's cluster; each records what it changed, and a failed step gathers the events
// and pod states of the namespaces it touched into the report.
package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

func init() {
	runner.Register(scenarios.ActionApply, func() *scenarios.ApplyAction { return &scenarios.ApplyAction{} }, Step(apply))
	runner.Register(scenarios.ActionDelete, func() *scenarios.DeleteAction { return &scenarios.DeleteAction{} }, Step(deleteObjects))
	runner.Register(scenarios.ActionLabelNamespace, func() *scenarios.LabelNamespaceAction { return &scenarios.LabelNamespaceAction{} }, Step(labelNamespace))
	runner.Register(scenarios.ActionAnnotate, func() *scenarios.AnnotateAction { return &scenarios.AnnotateAction{} }, Step(annotate))
	runner.Register(scenarios.ActionRestart, func() *scenarios.RestartAction { return &scenarios.RestartAction{} }, Step(restart))
	runner.Register(scenarios.ActionWaitFor, func() *scenarios.WaitForAction { return &scenarios.WaitForAction{} }, Step(waitFor))
	runner.Register(scenarios.ActionScale, func() *scenarios.ScaleAction { return &scenarios.ScaleAction{} }, Step(scale))
	runner.Register(scenarios.ActionPatch, func() *scenarios.PatchAction { return &scenarios.PatchAction{} }, Step(patch))
}

// Touched collects the namespaces a step worked in, for diagnostics.
type Touched struct {
	mu  sync.Mutex
	nss map[string]bool
}

// Add records namespaces.
func (t *Touched) Add(nss ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nss == nil {
		t.nss = map[string]bool{}
	}
	for _, ns := range nss {
		if ns != "" {
			t.nss[ns] = true
		}
	}
}

// List returns them sorted.
func (t *Touched) List() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.nss))
	for ns := range t.nss {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Func is a Kubernetes action on its spec.
type Func[T scenarios.ActionSpec] func(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, spec T) error

// Step adapts a Func into an executor: it finds the step's cluster and, when the action fails, gathers
// diagnostics from the namespaces it touched.
func Step[T scenarios.ActionSpec](fn Func[T]) func(ctx context.Context, env *runner.Env, spec T) error {
	return func(ctx context.Context, env *runner.Env, spec T) error {
		c, err := env.Cluster()
		if err != nil {
			return err
		}
		touched := &Touched{}
		err = fn(ctx, env, c, touched, spec)
		if err != nil {
			// The step's context may be what ended: diagnose on a fresh, short one.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			Diagnose(dctx, env, c, touched.List())
		}
		return err
	}
}

// Diagnose records the recent events and the unready pods (with the last log lines, when the cluster allows
// reading logs) of each namespace.
func Diagnose(ctx context.Context, env *runner.Env, c *cluster.Cluster, namespaces []string) {
	for _, ns := range namespaces {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			env.Diagnose("events in %s: %v", ns, err)
		} else {
			items := evs.Items
			sort.Slice(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
			if len(items) > 30 {
				items = items[len(items)-30:]
			}
			for _, ev := range items {
				env.Diagnose("event %s %s %s/%s: %s: %s", eventTime(ev).Format(time.RFC3339), ev.Type, strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, ev.Reason, ev.Message)
			}
		}
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			env.Diagnose("pods in %s: %v", ns, err)
			continue
		}
		for _, p := range pods.Items {
			if podutils.IsPodReady(&p) {
				continue
			}
			env.Diagnose("pod %s/%s not ready: phase %s%s", ns, p.Name, p.Status.Phase, podReasons(&p))
			if c.PodLogs && p.Spec.NodeName != "" {
				for _, ctr := range p.Spec.Containers {
					lines := int64(20)
					data, err := c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, TailLines: &lines}).DoRaw(ctx)
					if err == nil && len(data) > 0 {
						env.Diagnose("logs %s/%s[%s]:\n%s", ns, p.Name, ctr.Name, strings.TrimSpace(string(data)))
					}
				}
			}
		}
	}
}

func eventTime(ev corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	default:
		return ev.CreationTimestamp.Time
	}
}

func podReasons(p *corev1.Pod) string {
	var parts []string
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && (c.Reason != "" || c.Message != "") {
			parts = append(parts, fmt.Sprintf("%s: %s %s", c.Type, c.Reason, c.Message))
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", cs.Name, w.Reason, w.Message))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
