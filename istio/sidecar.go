package istio

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod annotations and labels injection leaves.
const (
	SidecarStatusAnnotation = "sidecar.istio.io/status"
	RevisionLabel           = "istio.io/rev"
	InjectionLabel          = "istio-injection"
	TagLabel                = "istio.io/tag"
	ProxyContainer          = "istio-proxy"
)

// SidecarStatus is the sidecar.istio.io/status annotation.
type SidecarStatus struct {
	InitContainers   []string `json:"initContainers"`
	Containers       []string `json:"containers"`
	Volumes          []string `json:"volumes"`
	ImagePullSecrets []string `json:"imagePullSecrets"`
	Revision         string   `json:"revision"`
}

// ParseSidecarStatus parses the annotation's JSON.
func ParseSidecarStatus(s string) (SidecarStatus, error) {
	var st SidecarStatus
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, fmt.Errorf("%s is not valid JSON: %w", SidecarStatusAnnotation, err)
	}
	return st, nil
}

// RevisionOfStatus is the revision in a sidecar status annotation, "" when there is none or it does not parse
// (a pod without a proxy): for a pod that reads its own annotation through the downward API.
func RevisionOfStatus(status string) string {
	if status == "" {
		return ""
	}
	st, err := ParseSidecarStatus(status)
	if err != nil {
		return ""
	}
	return st.Revision
}

// Proxy is what a pod says of its sidecar.
type Proxy struct {
	Pod       string
	Namespace string
	Injected  bool
	// Revision is the injecting control plane's revision ("default" when none was named).
	Revision string
	// Image is the istio-proxy container's image; Tag its tag.
	Image, Tag string
	// DiscoveryAddress is where the proxy gets its configuration (CA_ADDR / discoveryAddress env).
	DiscoveryAddress string
}

// ProxyOf reads a pod's sidecar: the status annotation, the istio-proxy container's image (init container
// under native sidecars) and its control plane address.
func ProxyOf(p *corev1.Pod) (Proxy, error) {
	px := Proxy{Pod: p.Name, Namespace: p.Namespace}
	raw, ok := p.Annotations[SidecarStatusAnnotation]
	if !ok {
		return px, nil
	}
	st, err := ParseSidecarStatus(raw)
	if err != nil {
		return px, fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	px.Injected = true
	px.Revision = st.Revision
	if px.Revision == "" {
		px.Revision = "default"
	}
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name != ProxyContainer {
			continue
		}
		px.Image, px.Tag = c.Image, ImageTag(c.Image)
		for _, e := range c.Env {
			if e.Name == "CA_ADDR" || e.Name == "PILOT_ADDRESS" {
				px.DiscoveryAddress = e.Value
			}
		}
	}
	return px, nil
}

// ImageTag is an image reference's tag ("" when it has none: a registry port is not a tag).
func ImageTag(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}

// RevisionOfAddress extracts the revision from an istiod address such as istiod-1-30.istio-system.svc:15012
// ("default" for plain istiod).
func RevisionOfAddress(addr string) string {
	host, _, _ := strings.Cut(addr, ".")
	if rev, ok := strings.CutPrefix(host, "istiod-"); ok {
		return rev
	}
	if host == "istiod" {
		return "default"
	}
	return ""
}

// AddressServes reports whether an istiod address belongs to revision. Helm installs name the istiod
// Service istiod-<revision>; operator installs (Banzai's, Solo's) name revisions <control plane>.<namespace>
// while the Service is istiod-<control plane> in that namespace — both are the same revision.
func AddressServes(addr, revision string) bool {
	rev := RevisionOfAddress(addr)
	if rev == "" {
		return false
	}
	if rev == revision {
		return true
	}
	host, _, _ := strings.Cut(addr, ":")
	parts := strings.Split(host, ".")
	return len(parts) >= 2 && revision == rev+"."+parts[1]
}

// EachProxy calls fn with every live pod's proxy (terminating and finished pods are passed over: they are
// leaving whatever control plane they had).
func EachProxy(pods []corev1.Pod, fn func(p *corev1.Pod, px Proxy)) error {
	return eachProxy(pods, false, fn)
}

// eachProxy is EachProxy, with terminating pods included when asked: a pod being deleted still runs its
// proxy (and holds its xDS connection) until its grace period ends.
func eachProxy(pods []corev1.Pod, terminating bool, fn func(p *corev1.Pod, px Proxy)) error {
	for i := range pods {
		p := &pods[i]
		if (p.DeletionTimestamp != nil && !terminating) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		px, err := ProxyOf(p)
		if err != nil {
			return err
		}
		fn(p, px)
	}
	return nil
}

// Misplaced lists the pods of a namespace whose proxy is not of the wanted revision (or missing).
func Misplaced(pods []corev1.Pod, revision string) ([]string, error) {
	var out []string
	err := EachProxy(pods, func(p *corev1.Pod, px Proxy) {
		switch {
		case !px.Injected:
			out = append(out, fmt.Sprintf("%s/%s has no sidecar", p.Namespace, p.Name))
		case px.Revision != revision:
			out = append(out, fmt.Sprintf("%s/%s runs the proxy of revision %s (image %s), not %s", p.Namespace, p.Name, px.Revision, px.Image, revision))
		case px.DiscoveryAddress != "" && !AddressServes(px.DiscoveryAddress, revision):
			out = append(out, fmt.Sprintf("%s/%s points at %s, not istiod-%s", p.Namespace, p.Name, px.DiscoveryAddress, revision))
		}
	})
	return out, err
}

// ProxyWant is the proxy a pod should run beyond its revision: the image (exactly as the pod spec names it)
// and/or the version (the image tag: equal, a release of it or with a variant suffix — 1.30 matches 1.30.2,
// 1.30.2 matches 1.30.2 and 1.30.2-distroless, not 1.30.20). A revision label says which istiod injected a pod, not which proxy it runs:
// sidecar.istio.io/proxyImage, a values override or a stale image cache can put another proxy under the right
// revision — the seeds' own verification is the image (Banzai: "grep proxyv2:1.7").
type ProxyWant struct{ Image, Version string }

// IsZero reports whether nothing beyond the revision is wanted.
func (w ProxyWant) IsZero() bool { return w.Image == "" && w.Version == "" }

// String says what is wanted.
func (w ProxyWant) String() string {
	switch {
	case w.Image != "" && w.Version != "":
		return fmt.Sprintf("image %s, version %s", w.Image, w.Version)
	case w.Image != "":
		return "image " + w.Image
	default:
		return "version " + w.Version
	}
}

// versionMatches: a tag is the version, a release of it (1.30 matches 1.30.3) or it with a variant suffix.
func versionMatches(tag, version string) bool {
	rest, ok := strings.CutPrefix(tag, version)
	return ok && (rest == "" || rest[0] == '-' || rest[0] == '.')
}

// WrongProxy lists the injected pods whose proxy is not the wanted image or version (pods without a proxy
// are Misplaced's to report).
func WrongProxy(pods []corev1.Pod, want ProxyWant) ([]string, error) {
	var out []string
	err := EachProxy(pods, func(p *corev1.Pod, px Proxy) {
		switch {
		case !px.Injected:
		case want.Image != "" && px.Image != want.Image:
			out = append(out, fmt.Sprintf("%s/%s runs proxy image %s, not %s", p.Namespace, p.Name, px.Image, want.Image))
		case want.Version != "" && !versionMatches(px.Tag, want.Version):
			out = append(out, fmt.Sprintf("%s/%s runs proxy version %q (image %s), not %s", p.Namespace, p.Name, px.Tag, px.Image, want.Version))
		}
	})
	return out, err
}

// Attached lists the pods (in any namespace) whose proxy belongs to revision: a control plane with any left
// must not be removed.
func Attached(pods []corev1.Pod, revision string) ([]string, error) {
	var out []string
	err := eachProxy(pods, true, func(p *corev1.Pod, px Proxy) {
		if px.Injected && (px.Revision == revision || AddressServes(px.DiscoveryAddress, revision)) {
			name := p.Namespace + "/" + p.Name
			if p.DeletionTimestamp != nil {
				name += " (terminating)"
			}
			out = append(out, name)
		}
	})
	return out, err
}
