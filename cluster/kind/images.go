package kind

import "fmt"

// ReleaseNodeImages are the node images kind v0.33.0 (the kind this module builds against) was released
// with, by Kubernetes minor, pinned by digest as kind's release notes ask ("please use these exact images …
// including the digest"): a node image built for another kind release is not guaranteed to work with this
// one. Source: https://github.com/kubernetes-sigs/kind/releases/tag/v0.33.0; the release page is not in
// this workplace's stored sources, so the four references were read, identical, from several projects that
// pin kind v0.33.0 and quote its release notes (read 2026-12-01). The default (1.37) is kind's own
// DefaultNodeImage.
var ReleaseNodeImages = map[int]string{
	37: DefaultNodeImage,
	36: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
	35: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
	34: "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
}

// NodeImageFor returns the newest of ReleaseNodeImages whose Kubernetes minor is within 1.lo–1.hi (the range
// a version pair of Istio supports together), or an error saying there is none: the caller then keeps kind's
// default and warns, rather than rehearse on a Kubernetes the pair is not supported on in silence.
func NodeImageFor(lo, hi int) (image string, minor int, err error) {
	for m := hi; m >= lo; m-- {
		if img, ok := ReleaseNodeImages[m]; ok {
			return img, m, nil
		}
	}
	return "", 0, fmt.Errorf("kind v0.33.0 was released with no node image for Kubernetes 1.%d–1.%d (it has 1.34–1.37): set clusters[].nodeImage", lo, hi)
}
