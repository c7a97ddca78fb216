// Package mesh holds the Istio step actions and gates, each registered once (runner.Register,
// checks.Register): installing a revision beside the running one, moving gateways and namespaces to it
// (relabel, then restart one workload at a time), revision tags, checking which revision every proxy runs and
// which istiod it is connected to, cross-revision mTLS and gateway windows, rolling back, and removing a
// revision only once it is drained — plus the observer of gatewayAddressStable. What pods and istiod serve is
// read through runner.Env.Readers (stand-ins in tests).
package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/helmrelease"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func init() {
	runner.Register(scenarios.ActionMoveNamespace, func() *scenarios.MoveNamespaceAction { return &scenarios.MoveNamespaceAction{} }, kube.Step(moveNamespace))
	runner.Register(scenarios.ActionUninstallRevision, func() *scenarios.UninstallRevisionAction { return &scenarios.UninstallRevisionAction{} }, kube.Step(UninstallRevision))
	runner.Register(scenarios.ActionSetTag, func() *scenarios.SetTagAction { return &scenarios.SetTagAction{} }, kube.Step(setTag))
	runner.Register(scenarios.ActionRemoveTag, func() *scenarios.RemoveTagAction { return &scenarios.RemoveTagAction{} }, kube.Step(removeTag))
	runner.Register(scenarios.ActionProxyRevision, func() *scenarios.ProxyRevisionAction { return &scenarios.ProxyRevisionAction{} }, kube.Step(proxyRevision))
	runner.Register(scenarios.ActionCrossRevisionMTLS, func() *scenarios.CrossRevisionMTLSAction { return &scenarios.CrossRevisionMTLSAction{} }, kube.Step(crossRevisionMTLS))
	runner.Register(scenarios.ActionInstallRevision, func() *scenarios.InstallRevisionAction { return &scenarios.InstallRevisionAction{} }, kube.Step(installRevision))
	runner.Register(scenarios.ActionMigrateGateway, func() *scenarios.MigrateGatewayAction { return &scenarios.MigrateGatewayAction{} }, kube.Step(migrateGateway))
	runner.Register(scenarios.ActionRollback, func() *scenarios.RollbackAction { return &scenarios.RollbackAction{} }, kube.Step(rollback))
	runner.Register(scenarios.ActionGatewaysServe, func() *scenarios.GatewaysServeAction { return &scenarios.GatewaysServeAction{} }, kube.Step(gatewaysServe))
}

func moveNamespace(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.MoveNamespaceAction) error {
	return MoveNamespaces(ctx, env, c, touched, a.Namespaces, a.Target(), a.Pacing)
}

// MoveNamespaces labels namespaces istio.io/rev=target (dropping istio-injection in the same update) and
// restarts their Deployments as pacing says.
func MoveNamespaces(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, namespaces []string, target string, pacing scenarios.Pacing) error {
	for _, ns := range namespaces {
		touched.Add(ns)
		n, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		from := n.Labels[istio.RevisionLabel]
		if from == "" && n.Labels[istio.InjectionLabel] == "enabled" {
			from = "default"
		}
		list, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("namespace %s: list deployments: %w", ns, err)
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		names := make([]string, 0, len(list.Items))
		for _, d := range list.Items {
			names = append(names, d.Name)
		}
		// One pod of each Deployment as the old revision injected it, to compare with one the new revision
		// injects (best effort: a pod list that fails only loses the comparison).
		before, seen := newestPods(ctx, c, list.Items, nil)
		changes, err := kube.LabelNamespace(ctx, c, ns, map[string]string{istio.RevisionLabel: target}, []string{istio.InjectionLabel})
		if err != nil {
			return err
		}
		for _, ch := range changes {
			env.Changed("namespace %s: %s", ns, ch)
		}
		if err := kube.Restart(ctx, c, ns, names, pacing, env.Changed); err != nil {
			return err
		}
		after, _ := newestPods(ctx, c, list.Items, seen)
		for _, d := range names {
			if b, a := before[d], after[d]; b != nil && a != nil {
				env.Judged(injectionDiff(env.Step, ns+"/"+d, b, a, from, target))
			}
		}
	}
	return nil
}

// newestPods picks, per Deployment, its newest running pod not being deleted and not among skip (pod UIDs);
// seen holds the UIDs of every pod listed.
func newestPods(ctx context.Context, c *cluster.Cluster, deps []appsv1.Deployment, skip map[types.UID]bool) (map[string]*corev1.Pod, map[types.UID]bool) {
	out, seen := map[string]*corev1.Pod{}, map[types.UID]bool{}
	for _, d := range deps {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := c.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			seen[p.UID] = true
			if skip[p.UID] || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			if cur := out[d.Name]; cur == nil || p.CreationTimestamp.After(cur.CreationTimestamp.Time) {
				out[d.Name] = p
			}
		}
	}
	return out, seen
}

// injectionDiff is the record of what injection changed for one workload across a move: every field of the
// pod injection sets that differs, the ones explained by the revision's name or the proxy image marked
// expected. It is information, judged by the injectionUnchanged gate when the scenario asks.
func injectionDiff(step *scenarios.Step, workload string, before, after *corev1.Pod, from, to string) summary.Check {
	diff := istio.DiffInjection(istio.InjectionView(before), istio.InjectionView(after), from, to)
	c := summary.Check{Name: "injection " + workload, Kind: scenarios.RecordInjectionDiff, Passed: true}
	if step != nil {
		c.Phase, c.Steps = step.Name, []string{step.Name}
	}
	for _, ch := range diff {
		c.Evidence = append(c.Evidence, ch.String())
	}
	c.Summary = fmt.Sprintf("%s (revision %s) → %s (revision %s): %d field(s) differ, %d beyond the revision's name and the proxy image",
		before.Name, from, after.Name, to, len(diff), len(istio.Unexpected(diff, nil)))
	return c
}

// ErrNotDrained is returned when proxies are still attached to the revision being removed.
var ErrNotDrained = fmt.Errorf("control plane not drained")

// APIServerIstiodMetrics reads istiod's metrics through the API server's pod proxy.
func APIServerIstiodMetrics(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
	return c.Client.CoreV1().Pods(pod.Namespace).ProxyGet("http", pod.Name, "15014", "metrics", nil).Stream(ctx)
}

type connections struct {
	total float64
	per   []string
}

// connectedProxies asks every running (or terminating) istiod pod of the revision how many proxies are
// connected to it now.
func connectedProxies(ctx context.Context, env *runner.Env, c *cluster.Cluster, ns, rev string) (connections, error) {
	var out connections
	fetch := env.Readers.IstiodMetrics.Or(APIServerIstiodMetrics)
	err := eachRunningIstiod(ctx, c, ns, "app=istiod,"+istio.RevisionLabel+"="+rev, func(p *corev1.Pod) error {
		rc, err := fetch(ctx, c, p)
		if err != nil {
			return fmt.Errorf("%w: cannot read the connected proxies of istiod %s/%s: %w", ErrNotDrained, p.Namespace, p.Name, err)
		}
		n, _, err := istio.Gauge(rc, "pilot_xds", nil)
		rc.Close()
		if err != nil {
			return fmt.Errorf("istiod %s/%s: %w", p.Namespace, p.Name, err)
		}
		out.total += n
		out.per = append(out.per, fmt.Sprintf("%s %g", p.Name, n))
		return nil
	})
	return out, err
}

// eachRunningIstiod calls fn with every running istiod pod in ns that selector matches (terminating ones
// included: they still serve their connections until they exit), stopping at the first error.
func eachRunningIstiod(ctx context.Context, c *cluster.Cluster, ns, selector string, fn func(p *corev1.Pod) error) error {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("list istiod pods in %s (%s): %w", ns, selector, err)
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning {
			if err := fn(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// otherRelease names the Helm release (namespace/name) that owns an object, when that is not the given
// release; "" when the object is the release's own or no release's.
func otherRelease(m metav1.ObjectMeta, release, namespace string) string {
	name, ns := m.Annotations["meta.helm.sh/release-name"], m.Annotations["meta.helm.sh/release-namespace"]
	if name == "" || (name == release && ns == namespace) {
		return ""
	}
	return ns + "/" + name
}

// UninstallRevision removes a revision once drained (see UninstallRevisionAction).
func UninstallRevision(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.UninstallRevisionAction) error {
	touched.Add(a.Namespace)
	// Drained means: no pod (terminating ones included) runs or points at the revision's proxy, and the
	// revision's istiod reports no connected proxy. Pods the previous step moved are usually still draining
	// when this step starts, so wait for it up to DrainTimeout, then refuse with what is still attached.
	start := time.Now()
	deadline := start.Add(a.DrainTimeout.D())
	for {
		err := drained(ctx, env, c, a)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotDrained) || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting: %w)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	if waited := time.Since(start); a.DrainTimeout > 0 && waited >= time.Second {
		env.Changed("revision %s: drained after %s", a.Revision, waited.Round(time.Second))
	}
	if err := skewAfter(ctx, env, c, a.Skew, nil, a.Revision, false); err != nil {
		return fmt.Errorf("refusing to uninstall revision %s: %w", a.Revision, err)
	}

	if err := helmrelease.Uninstall(ctx, env, c, touched, &scenarios.HelmUninstallAction{
		Release: a.Release, Namespace: a.Namespace, Wait: true, Timeout: a.Timeout, IgnoreNotFound: true}); err != nil {
		return err
	}
	return sweepWebhooks(ctx, env, c, a)
}

// sweepWebhooks deletes the revision's webhooks that outlived its release: they would send every admission
// to an istiod that is gone. A revision tag still pointing at it is the user's to move (said, not deleted);
// a webhook another Helm release owns — the base chart's istiod-default-validator carries the default
// revision's label but belongs to istio-base — is left to that release (deleting it would drift the release
// and leave the mesh unvalidated).
func sweepWebhooks(ctx context.Context, env *runner.Env, c *cluster.Cluster, a *scenarios.UninstallRevisionAction) error {
	sel := metav1.ListOptions{LabelSelector: istio.RevisionLabel + "=" + a.Revision}
	admission := c.Client.AdmissionregistrationV1()
	type webhook struct {
		kind string
		meta metav1.ObjectMeta
		del  func(context.Context, string, metav1.DeleteOptions) error
	}
	var all []webhook
	vwcs, err := admission.ValidatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return fmt.Errorf("list validating webhooks: %w", err)
	}
	for _, w := range vwcs.Items {
		all = append(all, webhook{"ValidatingWebhookConfiguration", w.ObjectMeta, admission.ValidatingWebhookConfigurations().Delete})
	}
	mwcs, err := admission.MutatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return fmt.Errorf("list mutating webhooks: %w", err)
	}
	for _, w := range mwcs.Items {
		all = append(all, webhook{"MutatingWebhookConfiguration", w.ObjectMeta, admission.MutatingWebhookConfigurations().Delete})
	}
	for _, w := range all {
		if tag, isTag := w.meta.Labels[istio.TagLabel]; isTag {
			env.Changed("%s %s: tag %s still points at removed revision %s", w.kind, w.meta.Name, tag, a.Revision)
			continue
		}
		if owner := otherRelease(w.meta, a.Release, a.Namespace); owner != "" {
			env.Changed("%s %s: labelled with revision %s but owned by Helm release %s: left to it", w.kind, w.meta.Name, a.Revision, owner)
			continue
		}
		if err := w.del(ctx, w.meta.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete leftover %s %s: %w", w.kind, w.meta.Name, err)
		}
		env.Changed("%s %s: left behind by revision %s, deleted", w.kind, w.meta.Name, a.Revision)
	}
	return nil
}

// drained checks once that no proxy is attached to the revision (ErrNotDrained otherwise), recording what
// proved it.
func drained(ctx context.Context, env *runner.Env, c *cluster.Cluster, a *scenarios.UninstallRevisionAction) error {
	pods, err := c.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	attached, err := istio.Attached(pods.Items, a.Revision)
	if err != nil {
		return err
	}
	// By name: the connections the revision's istiod lists (a proxy pilot_xds no longer counts may still be
	// listed while its stream closes). Where the pods and istiod disagree — a pod whose spec names another
	// revision but whose proxy.istio.io/config discoveryAddress points here — istiod's live view decides.
	live, err := readLiveConnections(ctx, env, c, a.Namespace, "app=istiod,"+istio.RevisionLabel+"="+a.Revision)
	if len(attached) > 0 {
		shown := attached
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(attached)-10))
		}
		// A namespace left on the revision: its pods say so, and the user acts on what istiod lists (the
		// proxies that would lose their control plane), so the refusal names both.
		listed := "its /debug/connections not read: " + fmt.Sprint(err)
		switch {
		case err == nil && len(live.per) == 0:
			listed = "no running istiod of the revision to ask"
		case err == nil && live.total == 0 && len(live.byProxy) == 0:
			listed = "its istiod lists no connection"
		case err == nil:
			listed = fmt.Sprintf("its istiod lists %d connected: %s", live.total, live.proxies())
		}
		return fmt.Errorf("%w: refusing to uninstall revision %s: %d proxies still attached (%s; %s)", ErrNotDrained, a.Revision, len(attached), strings.Join(shown, ", "), listed)
	}
	// The pods say what they were injected with; the revision's istiod says who is connected right now.
	connected, cerr := connectedProxies(ctx, env, c, a.Namespace, a.Revision)
	if cerr != nil {
		return cerr
	}
	if connected.total > 0 {
		named := "its /debug/connections not read: " + fmt.Sprint(err)
		if err == nil {
			named = "/debug/connections lists " + live.proxies()
		}
		return fmt.Errorf("%w: refusing to uninstall revision %s: its istiod reports %g connected proxies (pilot_xds: %s; %s) — the pods say none is of this revision, istiod's live view decides", ErrNotDrained, a.Revision, connected.total, strings.Join(connected.per, ", "), named)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotDrained, err)
	}
	if live.total > 0 || len(live.byProxy) > 0 {
		return fmt.Errorf("%w: refusing to uninstall revision %s: its istiod lists %d connected proxies (%s; /debug/connections: %s)", ErrNotDrained, a.Revision, live.total, live.proxies(), strings.Join(live.per, "; "))
	}
	env.Changed("revision %s: no pod's proxy is of it or points at it", a.Revision)
	if len(connected.per) > 0 {
		env.Changed("revision %s: its istiod reports no connected proxy (pilot_xds: %s; /debug/connections: %s)", a.Revision, strings.Join(connected.per, ", "), strings.Join(live.per, "; "))
	}
	return nil
}

// ErrMisplaced is returned when pods run another revision's proxy (or none).
var ErrMisplaced = fmt.Errorf("proxies not on the expected revision")

func proxyRevision(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.ProxyRevisionAction) error {
	var bad []string
	var all []corev1.Pod
	for _, ns := range a.Namespaces {
		touched.Add(ns)
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list pods in %s: %w", ns, err)
		}
		all = append(all, pods.Items...)
		m, err := istio.Misplaced(pods.Items, a.Revision)
		if err != nil {
			return err
		}
		bad = append(bad, m...)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrMisplaced, strings.Join(bad, "; "))
	}
	if len(all) == 0 {
		// "Every pod runs revision X" over no pod proves nothing: the namespaces are wrong, or their
		// workloads are gone — either way the step may not pass.
		return fmt.Errorf("%w: no pod in %s, so nothing shows revision %s runs there", ErrMisplaced, strings.Join(a.Namespaces, ", "), a.Revision)
	}
	env.Changed("%d pod(s) in %s: all on revision %s", len(all), strings.Join(a.Namespaces, ", "), a.Revision)
	if want := a.Want(); !want.IsZero() {
		// The right revision, and yet another proxy: the pod spec names the image it runs.
		wrong, err := istio.WrongProxy(all, want)
		if err != nil {
			return err
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%w: right revision %s, wrong proxy: %s", ErrMisplaced, a.Revision, strings.Join(wrong, "; "))
		}
		env.Changed("%d pod(s) in %s: all run proxy %s", len(all), strings.Join(a.Namespaces, ", "), want)
	}
	if a.PodsOnly {
		return nil
	}
	// The pods say what they were injected with and where they point; istiod says who is connected now.
	return checkConnected(ctx, env, c, a, all)
}

func installRevision(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.InstallRevisionAction) error {
	return helmrelease.Release(ctx, env, c, touched, a.Helm())
}

func migrateGateway(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.MigrateGatewayAction) error {
	// The new gateway is ready (Helm waits) before the old one goes: the Service never lacks endpoints.
	if err := helmrelease.Release(ctx, env, c, touched, a.Helm()); err != nil {
		return err
	}
	if a.KeepOld {
		return nil
	}
	return helmrelease.Uninstall(ctx, env, c, touched, &scenarios.HelmUninstallAction{
		Release: a.ReleasePrefix + a.From, Namespace: a.Namespace, Wait: true, Timeout: a.Timeout})
}

func rollback(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.RollbackAction) error {
	tags := make([]string, 0, len(a.Tags))
	for t := range a.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, t := range tags {
		if err := SetTag(ctx, env, c, &scenarios.SetTagAction{Tag: t, Revision: a.Tags[t]}); err != nil {
			return err
		}
	}
	if err := MoveNamespaces(ctx, env, c, touched, a.Namespaces, a.To, scenarios.Pacing{}); err != nil {
		return err
	}
	if a.Remove == "" {
		return nil
	}
	return UninstallRevision(ctx, env, c, touched, &scenarios.UninstallRevisionAction{
		Revision: a.Remove, Namespace: a.Namespace, Release: "istiod-" + a.Remove, Timeout: a.Timeout,
		// The workloads it just restarted are still draining from the revision being removed.
		DrainTimeout: a.Timeout})
}
