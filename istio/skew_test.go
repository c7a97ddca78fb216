package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSkewProblemFollowsIstiosSupportedReleases(t *testing.T) {
	v := func(s string) Version { t.Helper(); x, err := ParseVersion(s); assert.NoError(t, err); return x }
	for _, tc := range []struct{ proxy, istiod, want string }{
		{"1.30.3", "1.30.1", ""},
		{"1.29.6", "1.30.3", ""},
		{"1.28.10", "1.30.3", "istiod 1.30 is 2 minors ahead of proxy 1.28 (at most 1 supported)"},
		{"1.30.3", "1.29.6", "proxy 1.30 is ahead of istiod 1.29 (the data plane cannot be ahead of the control plane)"},
		{"2.0.0", "1.30.0", "proxy 2.0 and istiod 1.30 are of different major versions"},
	} {
		assert.Equal(t, tc.want, SkewProblem(v(tc.proxy), v(tc.istiod)), "%s under %s", tc.proxy, tc.istiod)
	}
}

func TestVersionOfTagReadsReleasesAndMapsBuildsThroughTheirCharts(t *testing.T) {
	got, ok := VersionOfTag("1.30.3-distroless", nil)
	assert.True(t, ok)
	assert.Equal(t, Version{1, 30, 3}, got)
	charts := map[string]string{"20260827-eed52ebb66ad": "1.31.0-dev.20260827-eed52ebb66ad"}
	got, ok = VersionOfTag("20260827-eed52ebb66ad", charts)
	assert.True(t, ok)
	assert.Equal(t, Version{1, 31, 0}, got)
	_, ok = VersionOfTag("20260423-b01690e6db7d", charts)
	assert.False(t, ok, "a build no chart names has no known version")
}
