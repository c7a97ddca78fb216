package cli_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/summary"
)

// "Repeat for each cluster": the group runs for one item, then the next, in order; when the second item's
// probe fails, the failure is attributed to probe[two] — the first item's steps passed, the second's
// settle never ran — and the run fails (exit 1) naming it.
func TestForEachAttributesAFailureToItsItem(t *testing.T) {
	first, second := testserver.New(time.Second), testserver.New(time.Second)
	t.Cleanup(first.Close)
	t.Cleanup(second.Close)
	second.SetMode(testserver.Mode503)
	out := t.TempDir()
	res := runCLI(t, "run", "testdata/foreach.yaml", "--no-env", "--var", "FIRST="+first.URL, "--var", "SECOND="+second.URL, "--var", "OUT="+out)
	require.Equal(t, 1, res.code, res.stderr)
	run, err := summary.Read(out)
	require.NoError(t, err)
	want := map[string]string{"probe[one]": summary.OutcomePassed, "settle[one]": summary.OutcomePassed,
		"probe[two]": summary.OutcomeFailed, "settle[two]": summary.OutcomeNotRun}
	for name, outcome := range want {
		i := run.PhaseIndex(name)
		require.GreaterOrEqual(t, i, 0, name)
		assert.Equal(t, outcome, run.Phases[i].Outcome, name)
	}
	assert.Less(t, run.PhaseIndex("settle[one]"), run.PhaseIndex("probe[two]"), "in order: one item after the other")
	assert.Contains(t, run.Phases[run.PhaseIndex("probe[two]")].Error, "503")
	assert.Contains(t, res.stdout, "during probe[two]")
}
