package cleanup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/canarygate/canarygate/meshload"
)

// Every object the harness creates is of a kind cleanup looks at, and the selectors — every run's and its
// own run's — pick it: a new kind of harness object cannot be forgotten here, nor a label left off it.
func TestCleanupFindsEveryKindTheHarnessCreates(t *testing.T) {
	spec := meshload.Spec{Stream: "a-calls-b", Namespace: "demo-a", Image: "gen", URL: "http://b/", Rate: vegeta.Rate{Freq: 10, Per: time.Second},
		Replicas: 2, Timeout: time.Second, Run: "20261206-114821-3fa9"}
	sa, d := spec.Objects()
	kinds := map[string]bool{}
	for _, k := range Kinds {
		kinds[k.Name] = true
	}
	all, err := Selector("")
	require.NoError(t, err)
	one, err := Selector(spec.Run)
	require.NoError(t, err)
	other, err := Selector("20261206-114821-0000")
	require.NoError(t, err)
	for _, o := range []struct {
		kind   string
		labels map[string]string
	}{{"ServiceAccount", sa.Labels}, {"Deployment", d.Labels}, {"Pod", d.Spec.Template.Labels}} {
		if o.kind != "Pod" {
			assert.True(t, kinds[o.kind], "cleanup does not look at %ss", o.kind)
		}
		for _, sel := range []string{all, one} {
			s, err := labels.Parse(sel)
			require.NoError(t, err)
			assert.True(t, s.Matches(labels.Set(o.labels)), "%s %v not picked by %s", o.kind, o.labels, sel)
		}
		s, _ := labels.Parse(other)
		assert.False(t, s.Matches(labels.Set(o.labels)), "%s of run %s picked by another run's selector", o.kind, spec.Run)
	}
}

// A run ID that no label could carry is refused, naming where a real one is found.
func TestSelectorRefusesWhatCannotBeARunID(t *testing.T) {
	for _, bad := range []string{"a b", "-x", "x/y", string(make([]byte, 64))} {
		_, err := Selector(bad)
		require.ErrorIs(t, err, ErrBadRun, "%q", bad)
		assert.Contains(t, err.Error(), "summary.json")
	}
	sel, err := Selector("r1")
	require.NoError(t, err)
	assert.Equal(t, "app.kubernetes.io/managed-by=canarygate,canarygate.dev/run=r1", sel)
}
