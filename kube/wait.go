package kube

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	kubectlwait "k8s.io/kubectl/pkg/cmd/wait"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

func waitFor(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.WaitForAction) error {
	touched.Add(a.Namespace)
	if a.IsKubectlCondition() {
		return kubectlWait(ctx, env, c, a)
	}
	var err error
	switch a.Condition {
	case scenarios.WaitReady:
		err = WaitPodsReady(ctx, c, a.Namespace, a.Selector)
	case scenarios.WaitAvailable:
		err = WaitRolledOut(ctx, c, a.Namespace, a.Name)
	case scenarios.WaitExists:
		err = WaitExists(ctx, c, schema.FromAPIVersionAndKind(a.APIVersion, a.Kind), a.Namespace, a.Name)
	case scenarios.WaitGone:
		err = WaitGone(ctx, c, schema.FromAPIVersionAndKind(a.APIVersion, a.Kind), a.Namespace, a.Name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a.Describe(), err)
	}
	env.Changed("%s: done", a.Describe())
	return nil
}

// kubectlWait waits with kubectl's own wait code (k8s.io/kubectl/pkg/cmd/wait, what `kubectl wait --for`
// runs: a watch per object, conditions and JSONPath judged as kubectl judges them) on canarygate's clients,
// for any kind the API server serves — custom resources included. The step's context bounds it.
func kubectlWait(ctx context.Context, env *runner.Env, c *cluster.Cluster, a *scenarios.WaitForAction) error {
	gvk := schema.FromAPIVersionAndKind(a.APIVersion, a.Kind)
	m, err := c.Mapping(gvk)
	if err != nil {
		return fmt.Errorf("%s: %w", a.Describe(), err)
	}
	// kubectl's resource.version.group form names the kind unambiguously (a bare resource name may match
	// several groups).
	arg := m.Resource.Resource
	if m.Resource.Group != "" {
		arg += "." + m.Resource.Version + "." + m.Resource.Group
	}
	var out bytes.Buffer
	flags := kubectlwait.NewWaitFlags(c.RESTClientGetter(a.Namespace), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	flags.ForCondition = []string{a.Condition}
	flags.Timeout = -1 // the step's context is the bound
	if a.Selector != "" {
		flags.ResourceBuilderFlags.LabelSelector = &a.Selector
	} else {
		arg += "/" + a.Name
	}
	o, err := flags.ToOptions([]string{arg})
	if err != nil {
		return fmt.Errorf("%s: %w", a.Describe(), err)
	}
	if err := o.RunWaitContext(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("%s: %w", a.Describe(), err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" {
			env.Changed("%s", l)
		}
	}
	return nil
}

// untilObject watches one object by name (list, then watch from that list, re-listing when the watch ends)
// until cond holds. cond gets nil while the object does not exist. No polling: the API server tells.
func untilObject(ctx context.Context, c *cluster.Cluster, gvk schema.GroupVersionKind, ns, name string, cond func(*unstructured.Unstructured) (bool, error)) error {
	ri, _, err := c.Resource(gvk, ns)
	if err != nil {
		return err
	}
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := ListWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return ri.List(ctx, o) },
		ri.Watch, func(o *metav1.ListOptions) { o.FieldSelector = sel })
	pre := func(store cache.Store) (bool, error) {
		items := store.List()
		if len(items) == 0 {
			return cond(nil)
		}
		return cond(items[0].(*unstructured.Unstructured))
	}
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, pre, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return cond(nil)
		case watch.Added, watch.Modified:
			return cond(ev.Object.(*unstructured.Unstructured))
		}
		return false, nil
	})
	return err
}

// WaitExists returns as soon as the object exists.
func WaitExists(ctx context.Context, c *cluster.Cluster, gvk schema.GroupVersionKind, ns, name string) error {
	return untilObject(ctx, c, gvk, ns, name, func(u *unstructured.Unstructured) (bool, error) { return u != nil, nil })
}

// WaitGone returns as soon as the object no longer exists.
func WaitGone(ctx context.Context, c *cluster.Cluster, gvk schema.GroupVersionKind, ns, name string) error {
	return untilObject(ctx, c, gvk, ns, name, func(u *unstructured.Unstructured) (bool, error) { return u == nil, nil })
}

// RolloutStatus says whether a Deployment has rolled out, as `kubectl rollout status` judges it; a
// ProgressDeadlineExceeded condition is an error.
func RolloutStatus(d *appsv1.Deployment) (done bool, msg string, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "waiting for the rollout to be observed", nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, "", fmt.Errorf("deployment %s/%s exceeded its progress deadline: %s", d.Namespace, d.Name, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d new replicas updated", s.UpdatedReplicas, want), nil
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas), nil
	}
	return true, "rolled out", nil
}

// WaitRolledOut watches a Deployment until its rollout completes.
func WaitRolledOut(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	last := "no status yet"
	err := untilObject(ctx, c, appsv1.SchemeGroupVersion.WithKind("Deployment"), ns, name, func(u *unstructured.Unstructured) (bool, error) {
		if u == nil {
			last = "deployment does not exist"
			return false, nil
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
			return false, err
		}
		done, msg, err := RolloutStatus(&d)
		if msg != "" {
			last = msg
		}
		return done, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("deployment %s/%s did not roll out (%s): %w", ns, name, last, err)
		}
		return err
	}
	return nil
}

// WaitPodsReady watches pods matching selector until at least one exists and all are Ready.
func WaitPodsReady(ctx context.Context, c *cluster.Cluster, ns, selector string) error {
	pods := c.Client.CoreV1().Pods(ns)
	lw := ListWatch(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
		pods.Watch, func(o *metav1.ListOptions) { o.LabelSelector = selector })
	state := map[string]bool{}
	allReady := func() bool {
		if len(state) == 0 {
			return false
		}
		for _, ok := range state {
			if !ok {
				return false
			}
		}
		return true
	}
	pre := func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			p := o.(*corev1.Pod)
			state[p.Name] = podutils.IsPodReady(p) && p.DeletionTimestamp == nil
		}
		return allReady(), nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, pre, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(state, p.Name)
		} else {
			state[p.Name] = podutils.IsPodReady(p) && p.DeletionTimestamp == nil
		}
		return allReady(), nil
	})
	if err != nil && ctx.Err() != nil {
		ready := 0
		for _, ok := range state {
			if ok {
				ready++
			}
		}
		return fmt.Errorf("pods %s in %s: %d of %d ready: %w", selector, ns, ready, len(state), err)
	}
	return err
}

// ListWatch builds the ListWatch of a watch loop: every list and watch gets the same options (a selector).
func ListWatch(list func(context.Context, metav1.ListOptions) (runtime.Object, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), opts func(*metav1.ListOptions)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			opts(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			opts(&o)
			return watchFn(ctx, o)
		},
	}
}
