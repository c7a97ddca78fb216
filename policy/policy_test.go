package policy_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/canarygate/canarygate/builtin"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/scenarios"
)

// scenario is a minimal scenario with the given steps (YAML list items).
func scenario(t *testing.T, steps, extra string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Parse("p.yaml", []byte(`name: p
clusters: [{name: c, provider: existing}]
traffic:
  streams: [{name: s, url: "http://127.0.0.1:1/"}]
steps:
`+steps+extra), scenarios.Vars{})
	require.NoError(t, err)
	return s
}

const (
	install  = "  - {name: %s, installRevision: {revision: %q, version: %q}}\n"
	helmIns  = "  - {name: %s, helmInstall: {release: %s, namespace: istio-system, chart: istiod, repo: \"https://charts.example\", version: %q}}\n"
	helmUpgr = "  - {name: %s, helmUpgrade: {release: %s, namespace: istio-system, chart: istiod, repo: \"https://charts.example\", version: %q}}\n"
)

func TestEveryVersionRuleBothWays(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, steps, extra string
		// want: "" passes; else in the error.
		want string
	}{
		{"canary one minor", f(install, "old", "1-29", "1.29.6") + f(install, "new", "1-30", "1.30.3"), "", ""},
		{"canary two minors (Istio's canary guide)", f(install, "old", "1-28", "1.28.10") + f(install, "new", "1-30", "1.30.3"), "", ""},
		{"canary three minors", f(install, "old", "1-28", "1.28.10") + f(install, "new", "1-31", "1.31.0"), "",
			"step new: canary upgrade 1.28.10 → 1.31.0 crosses 3 minor versions, at most 2 allowed (" + policy.CanarySource + ")"},
		{"a major change", f(install, "old", "1-30", "1.30.3") + f(install, "new", "2-0", "2.0.0"), "", "crosses 100 minor versions"},
		{"policy tightens the canary to one minor", f(install, "old", "1-28", "1.28.10") + f(install, "new", "1-30", "1.30.3"), "policy: {maxMinorJump: 1}\n",
			"canary upgrade 1.28.10 → 1.30.3 crosses 2 minor versions, at most 1 allowed (the scenario's policy.maxMinorJump: 1)"},
		{"policy: one minor is still fine", f(install, "old", "1-29", "1.29.6") + f(install, "new", "1-30", "1.30.3"), "policy: {maxMinorJump: 1}\n", ""},
		{"in place one minor", f(helmIns, "old", "istiod", "1.29.6") + f(helmUpgr, "up", "istiod", "1.30.3"), "", ""},
		{"in place two minors", f(helmIns, "old", "istiod", "1.28.10") + f(helmUpgr, "up", "istiod", "1.30.3"), "",
			"step up: in-place upgrade 1.28.10 → 1.30.3 crosses 2 minor versions, at most 1 allowed (" + policy.InPlaceSource + ")"},
		{"a new istiod release beside is a canary", f(helmIns, "old", "istiod-1-28", "1.28.10") + f(helmIns, "new", "istiod-1-30", "1.30.3"), "", ""},
		{"a rollback reinstalling the old version is not an upgrade", f(install, "old", "1-29", "1.29.6") + f(install, "new", "1-30", "1.30.3") + f(install, "back", "1-28", "1.28.10"), "", ""},
		{"chart versions that are not releases are not judged", f(install, "old", "1-29", "0.0.0-dev") + f(install, "new", "1-31", "1.31.0"), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := scenario(t, c.steps, c.extra)
			err := policy.Check(s)
			if c.want == "" {
				assert.NoError(t, err)
				assert.NoError(t, policy.Resolve(s, policy.Options{}))
				return
			}
			require.ErrorIs(t, err, policy.ErrUnsupportedJump)
			assert.Contains(t, err.Error(), c.want)
			assert.ErrorIs(t, policy.Resolve(s, policy.Options{}), policy.ErrUnsupportedJump)
			assert.NoError(t, policy.Resolve(s, policy.Options{AllowSkip: true}), "--allow-skip")
		})
	}
}

func TestPolicyMaxMinorJumpIsValidated(t *testing.T) {
	t.Parallel()
	_, err := scenarios.Parse("p.yaml", []byte(`name: p
traffic:
  streams: [{name: s, url: "http://127.0.0.1:1/"}]
steps: [{name: s, soak: {duration: 1s}}]
policy: {maxMinorJump: 3}
`), scenarios.Vars{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "p.yaml:5:")
	assert.Contains(t, err.Error(), "policy.maxMinorJump: 3: expected 1 or 2")
}

// The node image both versions support: 1.28 is supported on Kubernetes 1.30–1.34, 1.30 on 1.32–1.36, so a
// 1.28 → 1.30 canary rehearses on kind's 1.34 image.
func TestATwoMinorCanaryRehearsesOnAKubernetesBothSupport(t *testing.T) {
	t.Parallel()
	image, minor, err := policy.NodeImageForPair([]string{"1.28.10", "1.30.3"})
	require.NoError(t, err)
	assert.Equal(t, 34, minor)
	assert.Contains(t, image, "kindest/node:v1.34.11@sha256:")
}

func f(format string, args ...any) string { return fmt.Sprintf(format, args...) }
