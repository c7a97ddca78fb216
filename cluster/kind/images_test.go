package kind

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/istio"
)

var pinned = regexp.MustCompile(`^kindest/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}$`)

// TestEveryReleaseImageIsPinnedAndItsTagSaysItsMinor: an image filed under the wrong minor would rehearse on
// a Kubernetes the pair is not supported on while plan says otherwise.
func TestEveryReleaseImageIsPinnedAndItsTagSaysItsMinor(t *testing.T) {
	for minor, image := range ReleaseNodeImages {
		m := pinned.FindStringSubmatch(image)
		require.NotNil(t, m, "1.%d: %s is not kindest/node:v1.X.Y@sha256:<digest>", minor, image)
		got, ok := NodeImageMinor(image)
		require.True(t, ok, image)
		assert.Equal(t, minor, got, image)
	}
}

// TestNodeImageForEveryIstioPairIsInsideBothSupportRanges walks every upgrade Istio supports (same minor or
// one up) in Istio's support table: the chosen image runs a Kubernetes both versions support, and no newer
// released image would also do.
func TestNodeImageForEveryIstioPairIsInsideBothSupportRanges(t *testing.T) {
	pairs := 0
	for old, ro := range istio.KubernetesSupport {
		for nw, rn := range istio.KubernetesSupport {
			if nw < old || nw-old > 1 {
				continue
			}
			pair := []string{fmt.Sprintf("1.%d.0", old), fmt.Sprintf("1.%d.0", nw)}
			lo, hi, err := istio.KubernetesFor(pair)
			require.NoError(t, err, pair)
			image, minor, err := NodeImageFor(lo, hi)
			require.NoError(t, err, pair)
			pairs++
			for _, r := range [][2]int{ro, rn} {
				assert.True(t, minor >= r[0] && minor <= r[1], "%v on 1.%d: outside 1.%d–1.%d", pair, minor, r[0], r[1])
			}
			got, _ := NodeImageMinor(image)
			assert.Equal(t, minor, got, image)
			for m := range ReleaseNodeImages {
				if m > minor {
					assert.False(t, m >= ro[0] && m <= ro[1] && m >= rn[0] && m <= rn[1], "%v: 1.%d is newer and supported by both", pair, m)
				}
			}
		}
	}
	assert.Equal(t, 5, pairs, "1.28, 1.29, 1.30 alone and 1.28→1.29, 1.29→1.30")

	// The pairs users run today, spelled out.
	for pair, want := range map[[2]string]string{
		{"1.28.10", "1.29.6"}: ReleaseNodeImages[34],
		{"1.29.6", "1.30.3"}:  ReleaseNodeImages[35],
		{"1.30.1", "1.30.3"}:  ReleaseNodeImages[36],
	} {
		lo, hi, err := istio.KubernetesFor(pair[:])
		require.NoError(t, err)
		image, _, err := NodeImageFor(lo, hi)
		require.NoError(t, err)
		assert.Equal(t, want, image, pair)
	}
}

func TestNodeImageForARangeKindHasNoImageForIsAnError(t *testing.T) {
	_, _, err := NodeImageFor(30, 33)
	require.ErrorContains(t, err, "no node image for Kubernetes 1.30–1.33")
	assert.ErrorContains(t, err, "clusters[].nodeImage")
}
