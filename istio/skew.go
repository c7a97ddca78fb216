package istio

import "fmt"

// SupportedReleasesSkew is where Istio states the control plane/data plane skew it supports
// (istio.io/latest/docs/releases/supported-releases, "Control Plane/Data Plane Skew"): "The Istio control
// plane can be one version ahead of the data plane. The data plane cannot be ahead of the control plane."
const SupportedReleasesSkew = "istio.io/latest/docs/releases/supported-releases#control-planedata-plane-skew"

// MaxControlPlaneLead is how many minors an istiod may be ahead of the proxies it serves (see
// SupportedReleasesSkew); a proxy ahead of its istiod is never supported.
const MaxControlPlaneLead = 1

// SkewProblem says why a proxy of version proxy served by an istiod of version istiod is outside the skew
// Istio supports ("" when it is inside): e.g. sidecars before 1.29.2 rejected a newer istiod's config
// (istio/istio PR #60486), and a rollback that points new proxies back at an old istiod puts the data plane
// ahead.
func SkewProblem(proxy, istiod Version) string {
	switch {
	case proxy.Major != istiod.Major:
		return fmt.Sprintf("proxy %d.%d and istiod %d.%d are of different major versions", proxy.Major, proxy.Minor, istiod.Major, istiod.Minor)
	case proxy.Minor > istiod.Minor:
		return fmt.Sprintf("proxy %d.%d is ahead of istiod %d.%d (the data plane cannot be ahead of the control plane)", proxy.Major, proxy.Minor, istiod.Major, istiod.Minor)
	case istiod.Minor-proxy.Minor > MaxControlPlaneLead:
		return fmt.Sprintf("istiod %d.%d is %d minors ahead of proxy %d.%d (at most %d supported)", istiod.Major, istiod.Minor, istiod.Minor-proxy.Minor, proxy.Major, proxy.Minor, MaxControlPlaneLead)
	}
	return ""
}

// VersionOfTag reads an image tag as an Istio version: a release tag (1.30.3, 1.30.3-distroless) directly;
// any other tag (a development build's, like the lab's 20260827-eed52ebb66ad) through versions, which maps
// a tag to the version of the chart that installed it (a chart's appVersion is its image tag).
func VersionOfTag(tag string, versions map[string]string) (Version, bool) {
	if v, err := ParseVersion(tag); err == nil {
		return v, true
	}
	if s, ok := versions[tag]; ok {
		if v, err := ParseVersion(s); err == nil {
			return v, true
		}
	}
	return Version{}, false
}
