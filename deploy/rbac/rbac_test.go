// Package rbac_test proves deploy/rbac/clusterroles.yaml: each action runs on a real kube-apiserver
// (authorization RBAC) as a user bound to that action's role alone, and a role with one permission removed
// fails, the API server's Forbidden error naming the verb and resource.
package rbac_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/cleanup"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// shipped reads the ClusterRoles from the shipped file, by name.
func shipped(t *testing.T) map[string]*rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile("clusterroles.yaml")
	require.NoError(t, err)
	out := map[string]*rbacv1.ClusterRole{}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var r rbacv1.ClusterRole
		require.NoError(t, yaml.UnmarshalStrict(doc, &r))
		if r.Name == "" {
			continue // the header: comments only
		}
		require.Equal(t, "ClusterRole", r.Kind, r.Name)
		out[r.Name] = &r
	}
	require.NotEmpty(t, out)
	return out
}

// No wildcard anywhere: every role says exactly which verbs on which resources.
func TestTheShippedRolesNameEveryPermission(t *testing.T) {
	for name, r := range shipped(t) {
		require.NotEmpty(t, r.Rules, name)
		for _, rule := range r.Rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
				assert.NotContains(t, list, "*", "%s: %+v", name, rule)
			}
			assert.NotEmpty(t, rule.Verbs, name)
			assert.NotEmpty(t, rule.Resources, name)
		}
	}
}

// checks are the access reviews of a role's every rule (verb × resource, subresources split off).
func checks(r *rbacv1.ClusterRole) []authzv1.ResourceAttributes {
	var out []authzv1.ResourceAttributes
	for _, rule := range r.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, v := range rule.Verbs {
					out = append(out, authzv1.ResourceAttributes{Group: g, Resource: resource, Subresource: sub, Verb: v})
				}
			}
		}
	}
	return out
}

// allowed asks the API server whether the restricted user may do it.
func allowed(ctx context.Context, e *testenv.Env, a authzv1.ResourceAttributes) (bool, error) {
	rev, err := e.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: testenv.RestrictedUser, Groups: []string{"system:authenticated"}, ResourceAttributes: &a}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return rev.Status.Allowed, nil
}

// until waits until the restricted user may do every one of want (or, with may false, none of them): the
// RBAC authorizer learns of bindings from its informers, a moment after they are written.
func until(t *testing.T, e *testenv.Env, may bool, want []authzv1.ResourceAttributes) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, a := range want {
			ok, err := allowed(ctx, e, a)
			if err != nil || ok != may {
				return false, err
			}
		}
		return true, nil
	})
	require.NoError(t, err, "the authorizer never saw the restricted user's permissions as %v", may)
}

// grant binds a role — as shipped, or changed by the test — to the restricted user alone for the test, and
// returns once the API server authorizes by it; the binding goes (and is seen gone) when the test ends.
func grant(t *testing.T, e *testenv.Env, r *rbacv1.ClusterRole) {
	t.Helper()
	ctx := context.Background()
	r = r.DeepCopy()
	r.ResourceVersion = ""
	r.Name = fmt.Sprintf("%s-%d", r.Name, time.Now().UnixNano())
	_, err := e.Client.RbacV1().ClusterRoles().Create(ctx, r, metav1.CreateOptions{})
	require.NoError(t, err)
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: testenv.RestrictedUser}}}
	_, err = e.Client.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, e.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), b.Name, metav1.DeleteOptions{}))
		require.NoError(t, e.Client.RbacV1().ClusterRoles().Delete(context.Background(), r.Name, metav1.DeleteOptions{}))
		until(t, e, false, checks(r))
	})
	until(t, e, true, checks(r))
}

// without is the role minus one verb on one resource.
func without(r *rbacv1.ClusterRole, resource, verb string) *rbacv1.ClusterRole {
	r = r.DeepCopy()
	for i, rule := range r.Rules {
		if slices.Contains(rule.Resources, resource) {
			r.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == verb })
		}
	}
	return r
}

// lab is what the lab's API steps act on, made by the admin: a namespace with a Deployment rolled out,
// istio-system, and two revisions' injector webhooks (their client a closed loopback port, failures
// ignored: nothing is ever called).
func lab(t *testing.T, e *testenv.Env) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns := e.Namespace(t, "rbac")
	sel := map[string]string{"app": "app-a"}
	_, err := e.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "app-a"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), ns, "app-a"))
	_, err = e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	for _, rev := range []string{"old", "new"} {
		injector(t, e, rev)
	}
	return ns
}

func injector(t *testing.T, e *testenv.Env, rev string) {
	t.Helper()
	ignore, none := admissionv1.Ignore, admissionv1.SideEffectClassNone
	w := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-" + rev, Labels: map[string]string{"istio.io/rev": rev, "app": "sidecar-injector"}},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name: "rev.namespace.sidecar-injector.istio.io", FailurePolicy: &ignore, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "istio-system", Name: "istiod-" + rev,
				Path: ptr.To("/inject"), Port: ptr.To[int32](443)}},
			Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"istio.io/rev": rev}},
		}},
	}
	_, err := e.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), w, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// step runs one step of the scenario as the restricted user.
func step(t *testing.T, e *testenv.Env, yaml string) runner.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return e.RunStepOn(ctx, t, e.RestrictedCluster(t), runner.Readers{}, yaml)
}

// The lab scenario's API steps, each as a user bound to its action's shipped role and nothing else: the
// namespace relabelled, its Deployments restarted, moved to the new revision, a revision tag set and
// removed, an in-mesh stream's generators deployed, pulled and removed, and what a killed run left cleaned
// up. The user is really restricted: without a binding the same step is forbidden.
func TestEachActionRunsUnderItsShippedRoleAlone(t *testing.T) {
	e := testenv.Need(t, env)
	roles := shipped(t)
	ns := lab(t, e)

	res := step(t, e, "name: unbound\nlabelNamespace: {namespaces: ["+ns+"], set: {istio-injection: enabled}}")
	require.Equal(t, summary.OutcomeFailed, res.Outcome, "the restricted user may do this with no role: the test proves nothing")
	require.True(t, apierrors.IsForbidden(res.Err), "%v", res.Err)

	for _, c := range []struct{ role, step string }{
		{"canarygate-label-namespace", "name: inject\nlabelNamespace: {namespaces: [" + ns + "], set: {istio-injection: enabled}}"},
		{"canarygate-restart", "name: restart\ntimeout: 60s\nrestart: {namespace: " + ns + "}"},
		{"canarygate-move-namespace", "name: move\ntimeout: 60s\nmoveNamespace: {namespaces: [" + ns + "], revision: new}"},
		{"canarygate-set-tag", "name: tag\nsetTag: {tag: prod-stable, revision: new}"},
		{"canarygate-remove-tag", "name: untag\nremoveTag: {tag: prod-stable}"},
		{"canarygate-disrupt", "name: down\ntimeout: 60s\ndisrupt: {duration: 1s, scaleDown: {namespace: " + ns + ", deployment: app-a}}"},
		{"canarygate-disrupt", "name: kill\ntimeout: 60s\ndisrupt: {duration: 1s, deletePods: {namespace: " + ns + ", selector: app=app-a}}"},
	} {
		t.Run(c.role, func(t *testing.T) {
			require.Contains(t, roles, c.role)
			grant(t, e, roles[c.role])
			res := step(t, e, c.step)
			require.Equal(t, summary.OutcomePassed, res.Outcome, "%v\n%v", res.Err, res.Changes)
		})
	}
	t.Run("canarygate-generators", func(t *testing.T) {
		grant(t, e, roles["canarygate-generators"])
		generators(t, e, ns)
	})
	t.Run("canarygate-cleanup", func(t *testing.T) {
		grant(t, e, roles["canarygate-cleanup"])
		ctx := context.Background()
		spec := generatorSpec(ns, "killed")
		require.NoError(t, meshload.Deploy(ctx, e.Cluster(t), spec), "as the admin: what a killed run left")
		c := e.RestrictedCluster(t)
		objs, err := cleanup.Find(ctx, c, cleanup.Options{Run: spec.Run})
		require.NoError(t, err)
		require.Len(t, objs, 2)
		for _, o := range objs {
			_, err := cleanup.Delete(ctx, c, o)
			require.NoError(t, err)
		}
		objs, err = cleanup.Find(ctx, c, cleanup.Options{Run: spec.Run})
		require.NoError(t, err)
		assert.Empty(t, objs, "a second cleanup finds nothing")
		// Every run's, in every namespace: what the role must allow without -n.
		objs, err = cleanup.Find(ctx, c, cleanup.Options{})
		require.NoError(t, err)
		for _, o := range objs {
			assert.True(t, o.Deleting, "%s left", o)
		}
	})
}

func generatorSpec(ns, run string) meshload.Spec {
	return meshload.Spec{Stream: "a-calls-b-" + run, Namespace: ns, Image: "example.invalid/generator:1", URL: "http://app-b:8080/",
		Rate: vegeta.Rate{Freq: 10, Per: time.Second}, Replicas: 1, Timeout: time.Second, Run: run}
}

// generators does, as the restricted user, what an in-mesh stream does with the API: deploy (twice: a
// crashed run's generators are taken over), list the pods, pull through the API server's pod proxy, remove,
// see whether they are gone.
func generators(t *testing.T, e *testenv.Env, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := e.RestrictedCluster(t)
	spec := generatorSpec(ns, "run-1")
	require.NoError(t, meshload.Deploy(ctx, c, spec))
	spec.Run = "run-2"
	require.NoError(t, meshload.Deploy(ctx, c, spec), "a crashed run's generators, taken over")
	_, err := meshload.Pods(ctx, c, spec)
	require.NoError(t, err)
	// A pull through the pod proxy of a pod that does not exist: the API server authorizes pods/proxy before
	// it looks for the pod, so NotFound (not Forbidden) proves the permission — and nothing is dialled.
	absent := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "absent", Namespace: ns}}
	_, err = meshload.PodProxySource(c, absent)(ctx, "", 0, 1)
	require.Error(t, err)
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	require.NoError(t, meshload.Remove(ctx, c, spec))
	gone, err := meshload.Gone(ctx, c, spec)
	require.NoError(t, err)
	_ = gone // foreground deletion: gone once the pods are; reading it is what the role must allow
}

// A role with one permission removed fails its action, and the error names what was missing — the verb, the
// resource and the user — so that whoever binds the role sees what to add.
func TestARoleMissingOnePermissionFailsNamingIt(t *testing.T) {
	e := testenv.Need(t, env)
	roles := shipped(t)
	ns := lab(t, e)
	for _, c := range []struct{ role, resource, verb, step, want string }{
		{"canarygate-label-namespace", "namespaces", "patch", "name: inject\nlabelNamespace: {namespaces: [" + ns + "], set: {istio-injection: enabled}}",
			`cannot patch resource "namespaces"`},
		{"canarygate-label-namespace", "namespaces", "get", "name: inject\nlabelNamespace: {namespaces: [" + ns + "], set: {istio-injection: enabled}}",
			`cannot get resource "namespaces"`},
		{"canarygate-set-tag", "mutatingwebhookconfigurations", "create", "name: tag\nsetTag: {tag: prod-canary, revision: new}",
			`cannot create resource "mutatingwebhookconfigurations"`},
		{"canarygate-restart", "deployments", "patch", "name: restart\ntimeout: 20s\nrestart: {namespace: " + ns + "}",
			`cannot patch resource "deployments"`},
		{"canarygate-generators", "deployments", "create", "", `cannot create resource "deployments"`},
		{"canarygate-disrupt", "deployments/scale", "update", "name: down\ntimeout: 20s\ndisrupt: {duration: 1s, scaleDown: {namespace: " + ns + ", deployment: app-a}}",
			`cannot update resource "deployments/scale"`},
	} {
		t.Run(c.role+"-without-"+c.verb+"-"+c.resource, func(t *testing.T) {
			grant(t, e, without(roles[c.role], c.resource, c.verb))
			var err error
			if c.step == "" {
				err = meshload.Deploy(context.Background(), e.RestrictedCluster(t), generatorSpec(ns, "minus"))
			} else {
				res := step(t, e, c.step)
				// An upgrade step the role does not allow failed; a disruption it does not allow was never
				// rehearsed — canarygate's error, not the upgrade's failure (disrupt.ErrNotDisrupted).
				want := summary.OutcomeFailed
				if c.role == "canarygate-disrupt" {
					want = summary.OutcomeError
				}
				require.Equal(t, want, res.Outcome)
				err = res.Err
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), `User "`+testenv.RestrictedUser+`"`)
		})
	}
}
