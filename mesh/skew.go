package mesh

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/helmrelease"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// ErrSkew is returned, with skew: fail, when a step would leave proxies served by an istiod outside the skew
// Istio supports.
var ErrSkew = errors.New("proxies outside the supported control plane/data plane skew")

// skewAfter judges, before a step that changes which istiod serves proxies (a revision tag moved, a revision
// uninstalled), every injected pod's proxy version against the version of the istiod it will be served by
// afterwards, by Istio's rule (istio.SupportedReleasesSkew). Where a proxy goes is read from the Service its
// discovery address names (istiod-<rev>, a tag's istiod-revision-tag-<tag>, the default istiod), whose
// selector names the revision; moved overrides that for the Services the step repoints (namespace/name →
// revision), and with onlyMoved only the proxies behind those Services are judged (a tag move changes
// nothing for the others). Pods served by the revision being removed (gone) are the drain's to judge. Outside the skew
// is a warning the step records, or with mode fail an error before the step changes anything; versions
// that cannot be read are said, never guessed.
func skewAfter(ctx context.Context, env *runner.Env, c *cluster.Cluster, mode string, moved map[string]string, gone string, onlyMoved bool) error {
	if mode == scenarios.SkewOff {
		return nil
	}
	s := skewView{c: c, moved: moved, svcRev: map[string]string{}}
	if err := s.load(ctx); err != nil {
		// The judgement is advice before the step; not being able to make it is said, not fatal, unless
		// the scenario made it a gate.
		if mode == scenarios.SkewFail {
			return fmt.Errorf("%w: cannot judge: %w", ErrSkew, err)
		}
		env.Changed("warning: skew not judged: %v", err)
		return nil
	}
	var problems, unknown []string
	judged := 0
	err := istio.EachProxy(s.pods, func(p *corev1.Pod, px istio.Proxy) {
		if !px.Injected {
			return
		}
		rev, follows, err := s.servedBy(ctx, p, px)
		switch {
		case onlyMoved && !follows:
			return
		case err != nil:
			unknown = append(unknown, fmt.Sprintf("%s/%s (%v)", p.Namespace, p.Name, err))
			return
		case rev == "" || rev == gone:
			return
		}
		tag, ok := s.istiodTag[rev]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%s/%s (no running istiod of revision %s)", p.Namespace, p.Name, rev))
			return
		}
		if tag == px.Tag {
			judged++ // the same build on both sides
			return
		}
		pv, okp := istio.VersionOfTag(px.Tag, s.chartVersions)
		iv, oki := istio.VersionOfTag(tag, s.chartVersions)
		if !okp || !oki {
			unknown = append(unknown, fmt.Sprintf("%s/%s (proxy %q, istiod-%s %q: version not known)", p.Namespace, p.Name, px.Tag, rev, tag))
			return
		}
		judged++
		if why := istio.SkewProblem(pv, iv); why != "" {
			problems = append(problems, fmt.Sprintf("%s/%s → istiod of %s: %s", p.Namespace, p.Name, rev, why))
		}
	})
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		env.Changed("warning: proxy/istiod skew not judged for %s", strings.Join(unknown, "; "))
	}
	if len(problems) > 0 {
		msg := fmt.Sprintf("after this step %d proxies are served by an istiod outside the skew Istio supports (%s): %s", len(problems), istio.SupportedReleasesSkew, strings.Join(problems, "; "))
		if mode == scenarios.SkewFail {
			return fmt.Errorf("%w: %s", ErrSkew, msg)
		}
		env.Changed("warning: %s", msg)
		return nil
	}
	if judged > 0 {
		env.Changed("%d proxies served within the skew Istio supports after this step (%s)", judged, istio.SupportedReleasesSkew)
	}
	return nil
}

// skewView is what skewAfter reads of the cluster.
type skewView struct {
	c     *cluster.Cluster
	moved map[string]string
	pods  []corev1.Pod
	// istiodTag: revision → the image tag its running istiod pods run.
	istiodTag map[string]string
	// chartVersions: image tag (a chart's appVersion) → the chart's version, from the Helm releases.
	chartVersions map[string]string
	svcRev        map[string]string
}

func (s *skewView) load(ctx context.Context) error {
	pods, err := s.c.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	s.pods = pods.Items
	istiods, err := s.c.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return fmt.Errorf("list istiod pods: %w", err)
	}
	s.istiodTag = map[string]string{}
	for _, p := range istiods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		rev := p.Labels[istio.RevisionLabel]
		if rev == "" {
			rev = "default"
		}
		for _, ct := range p.Spec.Containers {
			if ct.Name == "discovery" {
				s.istiodTag[rev] = istio.ImageTag(ct.Image)
			}
		}
	}
	// A development build's tag says no version; the chart that installed it does (a chart's appVersion is
	// its image tag). Only needed, and only listed, when a tag does not read as a release.
	for _, tag := range s.istiodTag {
		if _, ok := istio.VersionOfTag(tag, nil); !ok {
			s.chartVersions, err = chartVersions(s.c)
			if err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// chartVersions maps every Helm release's chart appVersion to its chart version, across namespaces.
func chartVersions(c *cluster.Cluster) (map[string]string, error) {
	cfg, err := helmrelease.Configuration(c, "", func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	l := action.NewList(cfg)
	l.AllNamespaces = true
	l.StateMask = action.ListDeployed
	rels, err := l.Run()
	if err != nil {
		return nil, fmt.Errorf("list Helm releases: %w", err)
	}
	out := map[string]string{}
	for _, r := range rels {
		if r.Chart != nil && r.Chart.Metadata != nil && r.Chart.Metadata.AppVersion != "" {
			out[r.Chart.Metadata.AppVersion] = r.Chart.Metadata.Version
		}
	}
	return out, nil
}

// servedBy is the revision whose istiod will serve the pod's proxy: the revision selected by the Service its
// discovery address names (after the step's moves; follows says the step moves it); a pod with no address,
// its injection revision.
func (s *skewView) servedBy(ctx context.Context, p *corev1.Pod, px istio.Proxy) (rev string, follows bool, err error) {
	if px.DiscoveryAddress == "" {
		return px.Revision, false, nil
	}
	host, _, _ := strings.Cut(px.DiscoveryAddress, ":")
	name, rest, _ := strings.Cut(host, ".")
	ns, _, _ := strings.Cut(rest, ".")
	if ns == "" {
		ns = p.Namespace
	}
	key := ns + "/" + name
	if rev, ok := s.moved[key]; ok {
		return rev, true, nil
	}
	if rev, ok := s.svcRev[key]; ok {
		return rev, false, nil
	}
	svc, err := s.c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// No Service (an address that is not one): the revision the address spells, if any.
		rev = istio.RevisionOfAddress(px.DiscoveryAddress)
		s.svcRev[key] = rev
		return rev, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get Service %s: %w", key, err)
	}
	rev = svc.Spec.Selector[istio.RevisionLabel]
	if rev == "" {
		rev = "default"
	}
	s.svcRev[key] = rev
	return rev, false, nil
}
