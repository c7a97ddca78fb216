package mesh

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	return w
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

func setTag(ctx context.Context, env *runner.Env, c *cluster.Cluster, _ *kube.Touched) error {
	a := env.Step.Action.(*scenarios.SetTagAction)
	// istioctl refuses a tag that is also a revision's name: namespaces labelled with it would be ambiguous.
	if inj, err := revisionInjector(ctx, c, a.Tag); err == nil && inj != nil {
		return fmt.Errorf("refusing tag %q: a revision of that name exists (webhook %s)", a.Tag, inj.Name)
	}
	injector, err := revisionInjector(ctx, c, a.Revision)
	if err != nil {
		return fmt.Errorf("set tag %s: %w", a.Tag, err)
	}
	want := TagWebhook(injector, a.Tag, a.Revision)
	hooks := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cur, err := hooks.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := hooks.Create(ctx, want, metav1.CreateOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
			return fmt.Errorf("set tag %s: %w", a.Tag, err)
		}
		env.Changed("revision tag %s: created, points at %s", a.Tag, a.Revision)
	case err != nil:
		return fmt.Errorf("set tag %s: %w", a.Tag, err)
	default:
		from := cur.Labels[istio.RevisionLabel]
		cur.Labels, cur.Webhooks = want.Labels, want.Webhooks
		if _, err := hooks.Update(ctx, cur, metav1.UpdateOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
			return fmt.Errorf("set tag %s: %w", a.Tag, err)
		}
		env.Changed("revision tag %s: %s → %s", a.Tag, from, a.Revision)
	}
	return nil
}

func removeTag(ctx context.Context, env *runner.Env, c *cluster.Cluster, _ *kube.Touched) error {
	a := env.Step.Action.(*scenarios.RemoveTagAction)
	name := TagWebhookName(a.Tag)
	err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		env.Changed("revision tag %s: not set", a.Tag)
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove tag %s: %w", a.Tag, err)
	}
	env.Changed("revision tag %s: removed", a.Tag)
	return nil
}
