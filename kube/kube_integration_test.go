package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// deployment is testenv's: pods labelled app=name that kwok runs.
var deployment = testenv.Deployment

func createAvailable(t *testing.T, e *testenv.Env, ds ...*appsv1.Deployment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := e.Cluster(t)
	for _, d := range ds {
		_, err := e.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for _, d := range ds {
		require.NoError(t, kube.WaitRolledOut(ctx, c, d.Namespace, d.Name))
	}
}

func TestLabelNamespaceSwapsInjectionForRevision(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "relabel")
	n, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	n.Labels["istio-injection"] = "enabled"
	n.Labels["team"] = "payments"
	_, err = e.Client.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)

	res := e.RunStep(ctx, t, fmt.Sprintf(`name: move
labelNamespace:
  namespaces: [%s]
  set: {istio.io/rev: 1-30}
  remove: [istio-injection]`, ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	got, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"istio.io/rev": "1-30", "team": "payments", "kubernetes.io/metadata.name": ns}, got.Labels)
	assert.Contains(t, res.Changes, fmt.Sprintf("namespace %s: label istio.io/rev: (none) → 1-30", ns))
	assert.Contains(t, res.Changes, fmt.Sprintf("namespace %s: label istio-injection: enabled → (removed)", ns))

	again := e.RunStep(ctx, t, fmt.Sprintf("name: again\nlabelNamespace: {namespaces: [%s], set: {istio.io/rev: 1-30}, remove: [istio-injection]}", ns))
	require.Equal(t, summary.OutcomePassed, again.Outcome)
	assert.Equal(t, []string{fmt.Sprintf("namespace %s: labels already as asked", ns)}, again.Changes)
}

// rsEvent is what the test saw of a ReplicaSet, independently of the action.
type rsEvent struct {
	at         time.Time
	deployment string
	rs         string
	kind       string // "created" or "available"
}

func watchReplicaSets(t *testing.T, e *testenv.Env, ns string, since time.Time) (stop func() []rsEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := e.Client.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var (
		mu     sync.Mutex
		events []rsEvent
		seen   = map[string]bool{}
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok || ev.Type == watch.Deleted || rs.CreationTimestamp.Time.Before(since.Truncate(time.Second)) || len(rs.OwnerReferences) == 0 {
				continue
			}
			now := time.Now()
			mu.Lock()
			owner := rs.OwnerReferences[0].Name
			if !seen[rs.Name+"/created"] {
				seen[rs.Name+"/created"] = true
				events = append(events, rsEvent{now, owner, rs.Name, "created"})
			}
			if rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 && rs.Status.AvailableReplicas == *rs.Spec.Replicas && !seen[rs.Name+"/available"] {
				seen[rs.Name+"/available"] = true
				events = append(events, rsEvent{now, owner, rs.Name, "available"})
			}
			mu.Unlock()
		}
	}()
	return func() []rsEvent {
		cancel()
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return events
	}
}

func TestRestartRollsDeploymentsOutOneAtATime(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "restart")
	createAvailable(t, e, deployment(ns, "app-a", 2), deployment(ns, "app-b", 1), deployment(ns, "app-c", 2))
	time.Sleep(1100 * time.Millisecond) // ReplicaSets of the first rollout are older than the watch's cut-off

	start := time.Now()
	stop := watchReplicaSets(t, e, ns, start)
	res := e.RunStep(ctx, t, fmt.Sprintf("name: restart\ntimeout: 2m\nrestart: {namespace: %s}", ns))
	end := time.Now()
	time.Sleep(200 * time.Millisecond)
	events := stop()
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	for _, ev := range events {
		t.Logf("%s +%s %s %s", ev.deployment, ev.at.Sub(start).Round(time.Millisecond), ev.rs, ev.kind)
	}

	created := map[string]time.Time{}
	available := map[string]time.Time{}
	for _, ev := range events {
		if ev.kind == "created" {
			created[ev.deployment] = ev.at
		} else {
			available[ev.deployment] = ev.at
		}
	}
	order := []string{"app-a", "app-b", "app-c"}
	for _, d := range order {
		require.Contains(t, created, d, "a new ReplicaSet for %s", d)
		require.Contains(t, available, d, "the new ReplicaSet of %s became available", d)
		assert.False(t, available[d].After(end), "the step ended only after %s rolled out", d)
	}
	for i := 1; i < len(order); i++ {
		assert.True(t, created[order[i]].After(available[order[i-1]]),
			"%s was restarted (new ReplicaSet at +%s) only after %s's new ReplicaSet was available (+%s)",
			order[i], created[order[i]].Sub(start), order[i-1], available[order[i-1]].Sub(start))
	}
	for _, d := range order {
		got, err := e.Client.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
		require.NoError(t, err)
		done, msg, err := kube.RolloutStatus(got)
		require.NoError(t, err)
		assert.True(t, done, "%s: %s", d, msg)
		assert.NotEmpty(t, got.Spec.Template.Annotations[kube.RestartedAtAnnotation])
	}
	assert.Len(t, res.Changes, 3)
}

// "Restart every Deployment in the namespace" leaves canarygate's own generators running (the load being
// measured), saying so; includeGenerators restarts them too.
func TestRestartByNamespaceLeavesTheGeneratorsUnlessAsked(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	for _, include := range []bool{false, true} {
		ns := e.Namespace(t, fmt.Sprintf("gens-%v", include))
		gen := deployment(ns, "canarygate-gen-calls", 1, func(d *appsv1.Deployment) {
			d.Labels = map[string]string{scenarios.GeneratorStreamLabel: "calls"}
		})
		createAvailable(t, e, deployment(ns, "app", 1), gen)
		res := e.RunStep(ctx, t, fmt.Sprintf("name: restart\ntimeout: 1m\nrestart: {namespace: %s, includeGenerators: %v}", ns, include))
		require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
		for name, want := range map[string]bool{"app": true, "canarygate-gen-calls": include} {
			d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, want, d.Spec.Template.Annotations[kube.RestartedAtAnnotation] != "", "%s restarted (includeGenerators: %v)", name, include)
		}
		left := "deployment " + ns + "/canarygate-gen-calls: canarygate's generator of stream calls, left running (includeGenerators: true restarts it)"
		assert.Equal(t, !include, slices.Contains(res.Changes, left), "%v", res.Changes)
	}
}

func TestRestartOfADeploymentThatNeverBecomesReadyFailsNamingIt(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "stuck")
	createAvailable(t, e, deployment(ns, "healthy", 1))
	stuck := deployment(ns, "stuck", 1, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"canarygate.test/no-such-node": "true"}
	})
	_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, stuck, metav1.CreateOptions{})
	require.NoError(t, err)

	started := time.Now()
	res := e.RunStep(ctx, t, fmt.Sprintf("name: restart\ntimeout: 6s\nrestart: {namespace: %s, deployments: [healthy, stuck]}", ns))
	took := time.Since(started)
	assert.Equal(t, summary.OutcomeTimedOut, res.Outcome)
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "deployment "+ns+"/stuck did not roll out")
	assert.Less(t, took, 15*time.Second, "the step ends at its timeout")
	diag := strings.Join(res.Diagnostics, "\n")
	assert.Contains(t, diag, "FailedScheduling", "the events of the namespace are in the diagnostics")
	assert.Contains(t, diag, "not ready: phase Pending")
	require.NotEmpty(t, res.Changes)
	assert.Regexp(t, `^deployment `+ns+`/healthy: restarted and rolled out in \d`, res.Changes[0], "the healthy one rolled out first")
}

// allAtOnce restarts every Deployment without waiting for the one before, and so does spacing after each
// restart (Solo's "restart, then sleep"): with Deployments that can never become available, all of them are
// restarted by the time the step times out — one at a time (spacing after each rollout or none), only the
// first is.
func TestRestartAllAtOnceDoesNotWaitForEachRollout(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	for i, c := range []struct {
		pacing string
		want   int
	}{
		{"allAtOnce: true", 3},
		{"spacing: 100ms, spacingAfter: restart", 3},
		{"spacing: 100ms", 1},
		{"allAtOnce: false", 1},
	} {
		ns := e.Namespace(t, fmt.Sprintf("pacing-%d", i))
		for _, name := range []string{"a", "b", "c"} {
			d := deployment(ns, name, 1, func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.NodeSelector = map[string]string{"canarygate.test/no-such-node": "true"}
			})
			_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		res := e.RunStep(ctx, t, fmt.Sprintf("name: restart\ntimeout: 3s\nrestart: {namespace: %s, deployments: [a, b, c], %s}", ns, c.pacing))
		assert.Equal(t, summary.OutcomeTimedOut, res.Outcome, "nothing can roll out")
		restarted := 0
		for _, name := range []string{"a", "b", "c"} {
			d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			if d.Spec.Template.Annotations[kube.RestartedAtAnnotation] != "" {
				restarted++
			}
		}
		assert.Equal(t, c.want, restarted, "%s: the second waits for the first to roll out only when the pause follows rollouts", c.pacing)
	}
}

// requestCounter counts the API requests to one resource: lists (GET without watch) and watches.
type requestCounter struct {
	resource       string
	lists, watches atomic.Int64
	// watching is closed at the first watch request: the waiter is listening.
	watching chan struct{}
	once     sync.Once
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/"+c.resource) {
			if r.URL.Query().Get("watch") == "true" {
				c.watches.Add(1)
				c.once.Do(func() { close(c.watching) })
			} else {
				c.lists.Add(1)
			}
		}
		return rt.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// waitFor waits on the API server's watch, not by polling: while it waits for a ConfigMap that is created
// only once its watch is open (an event, not a sleep), it lists once and watches — a poll would list again
// and again. Then it returns because of the create: it passed.
func TestWaitForReturnsOnTheWatchEventNotAPoll(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "wait")
	counter := &requestCounter{resource: "configmaps", watching: make(chan struct{})}
	c := e.ClusterWith(t, counter.wrap)
	go func() {
		<-counter.watching
		_, err := e.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		assert.NoError(t, err)
	}()
	res := e.RunStepOn(ctx, t, c, runner.Readers{}, fmt.Sprintf("name: wait\ntimeout: 20s\nwaitFor: {apiVersion: v1, kind: ConfigMap, name: late, namespace: %s, condition: exists}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, int64(1), counter.lists.Load(), "one list, then the watch: no poll")
	assert.GreaterOrEqual(t, counter.watches.Load(), int64(1))

	go func() {
		time.Sleep(time.Second)
		_ = e.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "late", metav1.DeleteOptions{})
	}()
	gone := e.RunStep(ctx, t, fmt.Sprintf("name: gone\ntimeout: 20s\nwaitFor: {apiVersion: v1, kind: ConfigMap, name: late, namespace: %s, condition: gone}", ns))
	require.Equal(t, summary.OutcomePassed, gone.Outcome, "%v", gone.Err)

	createAvailable(t, e, deployment(ns, "web", 2))
	ready := e.RunStep(ctx, t, fmt.Sprintf("name: ready\ntimeout: 20s\nwaitFor: {namespace: %s, selector: app=web, condition: ready}", ns))
	require.Equal(t, summary.OutcomePassed, ready.Outcome, "%v", ready.Err)
	avail := e.RunStep(ctx, t, fmt.Sprintf("name: available\ntimeout: 20s\nwaitFor: {namespace: %s, name: web, condition: available}", ns))
	require.Equal(t, summary.OutcomePassed, avail.Outcome, "%v", avail.Err)
}

func TestApplyTwiceIsANoOpAndDeleteCanIgnoreMissing(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "apply")
	manifest := fmt.Sprintf(`|
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
      data: {mode: canary}
      ---
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: 1
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec:
            terminationGracePeriodSeconds: 1
            containers: [{name: web, image: example.invalid/web:1}]
      ---
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata: {name: %s-reader}
      rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]`, ns)
	step := fmt.Sprintf("name: apply\napply:\n  namespace: %s\n  manifest: %s", ns, manifest)
	first := e.RunStep(ctx, t, step)
	require.Equal(t, summary.OutcomePassed, first.Outcome, "%v", first.Err)
	assert.Equal(t, []string{
		"ConfigMap " + ns + "/settings: created", "Deployment " + ns + "/web: created", "ClusterRole " + ns + "-reader: created",
	}, first.Changes, "a namespace given to the step is not given to cluster-scoped objects")
	cm1, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	d1, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	second := e.RunStep(ctx, t, step)
	require.Equal(t, summary.OutcomePassed, second.Outcome, "%v", second.Err)
	for _, ch := range second.Changes {
		assert.True(t, strings.HasSuffix(ch, ": unchanged"), ch)
	}
	cm2, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, cm1.ResourceVersion, cm2.ResourceVersion, "the second apply wrote nothing")
	d2, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, d1.Generation, d2.Generation)

	patched := e.RunStep(ctx, t, fmt.Sprintf("name: patch\npatch: {apiVersion: apps/v1, kind: Deployment, name: web, namespace: %s, type: merge, patch: {spec: {replicas: 2}}}", ns))
	require.Equal(t, summary.OutcomePassed, patched.Outcome, "%v", patched.Err)
	scaled := e.RunStep(ctx, t, fmt.Sprintf("name: scale\ntimeout: 60s\nscale: {namespace: %s, deployment: web, replicas: 3}", ns))
	require.Equal(t, summary.OutcomePassed, scaled.Outcome, "%v", scaled.Err)
	assert.Equal(t, []string{"deployment " + ns + "/web: replicas 2 → 3"}, scaled.Changes)
	annotated := e.RunStep(ctx, t, fmt.Sprintf("name: annotate\nannotate: {apiVersion: v1, kind: ConfigMap, name: settings, namespace: %s, set: {owner: canarygate}}", ns))
	require.Equal(t, summary.OutcomePassed, annotated.Outcome, "%v", annotated.Err)

	missing := fmt.Sprintf("objects: [{apiVersion: v1, kind: ConfigMap, name: never-existed, namespace: %s}]", ns)
	ignored := e.RunStep(ctx, t, "name: delete-missing\ndelete: {ignoreNotFound: true, "+missing+"}")
	assert.Equal(t, summary.OutcomePassed, ignored.Outcome, "%v", ignored.Err)
	strict := e.RunStep(ctx, t, "name: delete-missing-strict\ndelete: {"+missing+"}")
	assert.Equal(t, summary.OutcomeFailed, strict.Outcome)
	require.Error(t, strict.Err)
	assert.Contains(t, strict.Err.Error(), "never-existed")

	deleted := e.RunStep(ctx, t, fmt.Sprintf("name: delete\ntimeout: 60s\ndelete:\n  namespace: %s\n  manifest: %s", ns, manifest))
	require.Equal(t, summary.OutcomePassed, deleted.Outcome, "%v", deleted.Err)
	_, err = e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "deleted and waited for: gone (got %v)", err)
	names := append([]string(nil), deleted.Changes...)
	sort.Strings(names)
	assert.Len(t, names, 3)
}

// Each Kubernetes action fails, naming what it could not do, when its object is missing or the server
// refuses the change — next to the tests above where each passes.
func TestKubernetesActionsFailForTheRightReason(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "failing")
	for _, c := range []struct {
		step    string
		outcome string
		want    string
	}{
		{fmt.Sprintf("name: apply-invalid\napply:\n  namespace: %s\n  manifest: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: Not_A_Valid_Name}", ns),
			summary.OutcomeFailed, "Not_A_Valid_Name"},
		{fmt.Sprintf("name: apply-unknown-kind\napply:\n  namespace: %s\n  manifest: |\n    apiVersion: example.invalid/v1\n    kind: Widget\n    metadata: {name: w}", ns),
			summary.OutcomeFailed, "Widget"},
		{"name: label-missing\nlabelNamespace: {namespaces: [no-such-namespace], set: {istio.io/rev: 1-30}}",
			summary.OutcomeFailed, "no-such-namespace"},
		{fmt.Sprintf("name: annotate-missing\nannotate: {apiVersion: v1, kind: ConfigMap, name: absent, namespace: %s, set: {a: b}}", ns),
			summary.OutcomeFailed, "absent"},
		{fmt.Sprintf("name: scale-missing\nscale: {namespace: %s, deployment: absent, replicas: 2}", ns),
			summary.OutcomeFailed, "absent"},
		{fmt.Sprintf("name: patch-missing\npatch: {apiVersion: v1, kind: ConfigMap, name: absent, namespace: %s, type: merge, patch: {data: {a: b}}}", ns),
			summary.OutcomeFailed, "absent"},
		{fmt.Sprintf("name: wait-never\ntimeout: 2s\nwaitFor: {apiVersion: v1, kind: ConfigMap, name: never, namespace: %s, condition: exists}", ns),
			summary.OutcomeTimedOut, "never"},
		{fmt.Sprintf("name: restart-missing\nrestart: {namespace: %s, deployments: [absent]}", ns),
			summary.OutcomeFailed, "absent"},
	} {
		res := e.RunStep(ctx, t, c.step)
		name := strings.SplitN(c.step, "\n", 2)[0]
		assert.Equal(t, c.outcome, res.Outcome, "%s: %v", name, res.Err)
		if assert.Error(t, res.Err, name) {
			assert.Contains(t, res.Err.Error(), c.want, name)
		}
	}
}
