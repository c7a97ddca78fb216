package mesh

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// TagWebhookName is the webhook configuration istioctl creates for a tag.
func TagWebhookName(tag string) string { return "istio-revision-tag-" + tag }

// revisionInjector finds a revision's own injector webhook (labelled with the revision, not a tag).
func revisionInjector(ctx context.Context, c *cluster.Cluster, rev string) (*admissionv1.MutatingWebhookConfiguration, error) {
	list, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,!%s", istio.RevisionLabel, rev, istio.TagLabel)})
	if err != nil {
		return nil, fmt.Errorf("list injector webhooks: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("revision %s has no injector webhook (is it installed?)", rev)
	}
	return &list.Items[0], nil
}

// TagWebhook derives the tag's webhook configuration from the revision's injector: same webhooks and client
// configuration (the revision's istiod), selectors that match istio.io/rev=TAG instead of the revision.
func TagWebhook(injector *admissionv1.MutatingWebhookConfiguration, tag, rev string) *admissionv1.MutatingWebhookConfiguration {
	w := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{
		Name:   TagWebhookName(tag),
		Labels: map[string]string{istio.TagLabel: tag, istio.RevisionLabel: rev, "app": "sidecar-injector"},
	}}
	for _, hook := range injector.Webhooks {
		h := *hook.DeepCopy()
		retarget(h.NamespaceSelector, rev, tag)
		retarget(h.ObjectSelector, rev, tag)
		w.Webhooks = append(w.Webhooks, h)
	}
	if tag == DefaultTag && len(injector.Webhooks) > 0 {
		w.Webhooks = append(w.Webhooks, defaultTagWebhooks(injector.Webhooks[0])...)
	}
	return w
}

// DefaultTag is the revision tag that also takes the legacy labels: istio-injection=enabled namespaces and
// sidecar.istio.io/inject=true pods with no revision label.
const DefaultTag = "default"

// defaultTagWebhooks are the two webhooks the "default" tag adds, as Istio renders them
// (manifests/charts/istio-control/istio-discovery/templates/revision-tags-mwc.yaml, "When the tag is
// default", cases 1 and 2 — what `istioctl tag set default` creates): a namespace labelled
// istio-injection=enabled, and a pod labelled sidecar.istio.io/inject=true in a namespace with neither label,
// are injected by the revision the tag points at. Without them a namespace "istio-injection=enabled" — the
// documents' starting point — is injected by nobody.
func defaultTagWebhooks(from admissionv1.MutatingWebhook) []admissionv1.MutatingWebhook {
	sel := func(reqs ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: reqs}
	}
	req := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	ns := *from.DeepCopy()
	ns.Name = "namespace.sidecar-injector.istio.io"
	ns.NamespaceSelector = sel(req(istio.InjectionLabel, metav1.LabelSelectorOpIn, "enabled"))
	ns.ObjectSelector = sel(req("sidecar.istio.io/inject", metav1.LabelSelectorOpNotIn, "false"))
	obj := *from.DeepCopy()
	obj.Name = "object.sidecar-injector.istio.io"
	obj.NamespaceSelector = sel(req(istio.InjectionLabel, metav1.LabelSelectorOpDoesNotExist), req(istio.RevisionLabel, metav1.LabelSelectorOpDoesNotExist))
	obj.ObjectSelector = sel(req("sidecar.istio.io/inject", metav1.LabelSelectorOpIn, "true"), req(istio.RevisionLabel, metav1.LabelSelectorOpDoesNotExist))
	return []admissionv1.MutatingWebhook{ns, obj}
}

// retarget replaces the revision by the tag in istio.io/rev selector terms.
func retarget(sel *metav1.LabelSelector, rev, tag string) {
	if sel == nil {
		return
	}
	if v, ok := sel.MatchLabels[istio.RevisionLabel]; ok && v == rev {
		sel.MatchLabels[istio.RevisionLabel] = tag
	}
	for i := range sel.MatchExpressions {
		e := &sel.MatchExpressions[i]
		if e.Key != istio.RevisionLabel {
			continue
		}
		for j, v := range e.Values {
			if v == rev {
				e.Values[j] = tag
			}
		}
	}
}

// tagNamespace is where the revision's istiod runs (its injector's service), where the tag's Service goes.
func tagNamespace(injector *admissionv1.MutatingWebhookConfiguration) string {
	for _, w := range injector.Webhooks {
		if w.ClientConfig.Service != nil && w.ClientConfig.Service.Namespace != "" {
			return w.ClientConfig.Service.Namespace
		}
	}
	return "istio-system"
}

// TagService is the Service istioctl creates beside a tag's webhook: istiod's ports, selecting the
// revision's istiod, so that proxies configured with the tag's address reach it.
func TagService(tag, rev, ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-revision-tag-" + tag, Namespace: ns, Labels: map[string]string{
			istio.RevisionLabel: rev, istio.TagLabel: tag, "app": "istiod", "istio": "pilot", "app.kubernetes.io/name": "istiod"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "istiod", istio.RevisionLabel: rev},
			Ports: []corev1.ServicePort{
				{Name: "grpc-xds", Port: 15010, Protocol: corev1.ProtocolTCP},
				{Name: "https-dns", Port: 15012, Protocol: corev1.ProtocolTCP},
				{Name: "https-webhook", Port: 443, TargetPort: intstr.FromInt32(15017), Protocol: corev1.ProtocolTCP},
				{Name: "http-monitoring", Port: 15014, Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func applyTagService(ctx context.Context, c *cluster.Cluster, svc *corev1.Service) error {
	svcs := c.Client.CoreV1().Services(svc.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := svcs.Get(ctx, svc.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = svcs.Create(ctx, svc, metav1.CreateOptions{FieldManager: scenarios.DefaultFieldManager})
			return err
		}
		if err != nil {
			return err
		}
		cur.Labels, cur.Spec.Selector = svc.Labels, svc.Spec.Selector
		_, err = svcs.Update(ctx, cur, metav1.UpdateOptions{FieldManager: scenarios.DefaultFieldManager})
		return err
	})
}

func setTag(ctx context.Context, env *runner.Env, c *cluster.Cluster, _ *kube.Touched, a *scenarios.SetTagAction) error {
	return SetTag(ctx, env, c, a)
}

// SetTag points a revision tag at a revision as `istioctl tag set --overwrite` does (rollback re-points tags
// with it too).
func SetTag(ctx context.Context, env *runner.Env, c *cluster.Cluster, a *scenarios.SetTagAction) error {
	// istioctl refuses a tag that is also a revision's name: namespaces labelled with it would be ambiguous.
	if inj, err := revisionInjector(ctx, c, a.Tag); err == nil && inj != nil {
		return fmt.Errorf("refusing tag %q: a revision of that name exists (webhook %s)", a.Tag, inj.Name)
	}
	injector, err := revisionInjector(ctx, c, a.Revision)
	if err != nil {
		return fmt.Errorf("set tag %s: %w", a.Tag, err)
	}
	// Proxies whose discovery address is the tag's Service follow it without a restart: judged first.
	ns := tagNamespace(injector)
	if err := skewAfter(ctx, env, c, a.Skew, map[string]string{ns + "/" + TagService(a.Tag, a.Revision, ns).Name: a.Revision}, "", true); err != nil {
		return fmt.Errorf("set tag %s: %w", a.Tag, err)
	}
	want := TagWebhook(injector, a.Tag, a.Revision)
	hooks := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	// istiod patches the caBundle of every webhook labelled with its revision: between our Get and Update it
	// may have written the object. Retry on conflict, as kubectl and istioctl do, rather than fail the step.
	var change string
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := hooks.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := hooks.Create(ctx, want, metav1.CreateOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
				return err
			}
			change = fmt.Sprintf("revision tag %s: created, points at %s", a.Tag, a.Revision)
			return nil
		case err != nil:
			return err
		}
		from := cur.Labels[istio.RevisionLabel]
		cur.Labels, cur.Webhooks = want.Labels, want.Webhooks
		if _, err := hooks.Update(ctx, cur, metav1.UpdateOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
			return err
		}
		change = fmt.Sprintf("revision tag %s: %s → %s", a.Tag, from, a.Revision)
		return nil
	})
	if err != nil {
		return fmt.Errorf("set tag %s: %w", a.Tag, err)
	}
	env.Changed("%s", change)
	svc := TagService(a.Tag, a.Revision, ns)
	if err := applyTagService(ctx, c, svc); err != nil {
		return fmt.Errorf("set tag %s: service %s/%s: %w", a.Tag, svc.Namespace, svc.Name, err)
	}
	env.Changed("Service %s/%s: selects istiod of revision %s", svc.Namespace, svc.Name, a.Revision)
	return nil
}

func removeTag(ctx context.Context, env *runner.Env, c *cluster.Cluster, _ *kube.Touched, a *scenarios.RemoveTagAction) error {
	name := TagWebhookName(a.Tag)
	svcs, err := c.Client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: istio.TagLabel + "=" + a.Tag})
	if err != nil {
		return fmt.Errorf("remove tag %s: %w", a.Tag, err)
	}
	for _, s := range svcs.Items {
		if err := c.Client.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove tag %s: service %s/%s: %w", a.Tag, s.Namespace, s.Name, err)
		}
		env.Changed("Service %s/%s: removed", s.Namespace, s.Name)
	}
	err = c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		if !a.IgnoreNotFound {
			return fmt.Errorf("remove tag %s: it is not set (no MutatingWebhookConfiguration %s); ignoreNotFound: true accepts that", a.Tag, name)
		}
		env.Changed("revision tag %s: not set", a.Tag)
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove tag %s: %w", a.Tag, err)
	}
	env.Changed("revision tag %s: removed", a.Tag)
	return nil
}
