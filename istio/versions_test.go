package istio

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	v, err := ParseVersion("v1.30.3-beta.1")
	require.NoError(t, err)
	assert.Equal(t, Version{1, 30, 3}, v)
	_, err = ParseVersion("latest")
	require.Error(t, err)
	_, err = ParseVersion("one.two")
	require.Error(t, err)
}

// TestKubernetesForAPairIsInsideBothSupportRanges walks every pair of the table: the chosen minor is inside
// both versions' ranges and is the newest such.
func TestKubernetesForAPairIsInsideBothSupportRanges(t *testing.T) {
	t.Parallel()
	cases := map[[2]string]int{
		{"1.28.10", "1.29.6"}: 34,
		{"1.29.6", "1.30.3"}:  35,
		{"1.30.1", "1.30.3"}:  36,
		// A canary jump of two minors (Istio supports it): Kubernetes both support, 1.32–1.34.
		{"1.28.10", "1.30.3"}: 34,
	}
	for pair, want := range cases {
		_, got, err := KubernetesFor(pair[:])
		require.NoError(t, err, pair)
		assert.Equal(t, want, got, pair)
	}
	for old := range KubernetesSupport {
		for nw := range KubernetesSupport {
			if nw < old || nw-old > 1 {
				continue
			}
			lo, got, err := KubernetesFor([]string{Version{1, old, 0}.String(), Version{1, nw, 0}.String()})
			require.NoError(t, err)
			assert.Equal(t, max(KubernetesSupport[old][0], KubernetesSupport[nw][0]), lo)
			for _, m := range []int{old, nw} {
				r := KubernetesSupport[m]
				assert.True(t, got >= r[0] && got <= r[1], "1.%d on Kubernetes 1.%d: outside 1.%d–1.%d", m, got, r[0], r[1])
			}
			assert.Equal(t, min(KubernetesSupport[old][1], KubernetesSupport[nw][1]), got)
		}
	}
	_, _, err := KubernetesFor([]string{"1.20.0"})
	require.ErrorContains(t, err, "not in canarygate's support table")
	// Ranges that do not meet: 1.28 ends at 1.34, a made-up 1.40 would start later (a table of the test's own:
	// the package's is never changed, so tests run in parallel).
	table := maps.Clone(KubernetesSupport)
	table[40] = [2]int{40, 44}
	_, _, err = kubernetesFor(table, []string{"1.28.0", "1.40.0"})
	require.ErrorContains(t, err, "no Kubernetes version supports all of them")
}

// A release newer than the table (published after this build) gets the newest known range and a warning,
// never an error: 1.31 → the range of 1.30 (1.32–1.36); a version older than the table is still an error.
func TestAVersionNewerThanTheTableGetsTheNewestRange(t *testing.T) {
	t.Parallel()
	newest := 0
	for m := range KubernetesSupport {
		newest = max(newest, m)
	}
	next := Version{1, newest + 1, 0}.String()
	lo, hi, err := KubernetesFor([]string{Version{1, newest, 3}.String(), next})
	require.NoError(t, err)
	assert.Equal(t, KubernetesSupport[newest], [2]int{lo, hi})
	assert.Equal(t, []string{next}, NewerThanTable([]string{"1.29.6", next}))
	assert.Empty(t, NewerThanTable([]string{"1.29.6", "1.20.0"}))
}

// An operator names a revision <control plane>.<namespace> (Banzai: cp-v115x.istio-system) while its istiod
// Service is istiod-<control plane>: the proxy's address still belongs to that revision, and to no other.
func TestAddressServesOperatorRevisionNames(t *testing.T) {
	t.Parallel()
	assert.True(t, AddressServes("istiod-1-30.istio-system.svc:15012", "1-30"))
	assert.False(t, AddressServes("istiod-1-30.istio-system.svc:15012", "1-29"))
	assert.True(t, AddressServes("istiod.istio-system.svc:15012", "default"))
	assert.True(t, AddressServes("istiod-cp-v115x.istio-system.svc:15012", "cp-v115x.istio-system"))
	assert.False(t, AddressServes("istiod-cp-v115x.other-ns.svc:15012", "cp-v115x.istio-system"))
	assert.False(t, AddressServes("istiod-cp-v115x.istio-system.svc:15012", "cp-v116x.istio-system"))
	assert.False(t, AddressServes("", "1-30"))
}

func TestRevisionOfStatus(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1-30", RevisionOfStatus(`{"initContainers":null,"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"1-30"}`))
	assert.Empty(t, RevisionOfStatus(""), "no proxy")
	assert.Empty(t, RevisionOfStatus("{not json"))
}
