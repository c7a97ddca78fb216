package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/summary"
)

func branchRun(t *testing.T, upgrade, rollback string) (runOut, *summary.Run, string) {
	t.Helper()
	srv := testserver.New(time.Second)
	t.Cleanup(srv.Close)
	out := t.TempDir()
	res := runCLI(t, "run", "testdata/branch.yaml", "--no-env", "--var", "TARGET="+srv.URL, "--var", "OUT="+out,
		"--var", "UPGRADE_MODE="+upgrade, "--var", "ROLLBACK_MODE="+rollback)
	run, err := summary.Read(out)
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	return res, run, string(md)
}

func phase(t *testing.T, run *summary.Run, name string) summary.Phase {
	t.Helper()
	i := run.PhaseIndex(name)
	require.GreaterOrEqual(t, i, 0, "no phase %s", name)
	return run.Phases[i]
}

// One scenario, complete if healthy, else roll back (AKS): a mid-run health check decides. Healthy: the
// complete branch runs, the rollback steps are skipped with the reason (never failed), exit 0. Unhealthy:
// the rollback branch runs, the complete step is skipped, and the verdict is "rolled back" (exit 1), naming
// the step that decided — also though the final noUnexpectedStatus saw the upgrade's 503s: they came before
// the decision. A rollback whose own traffic fails is "fail". A mid-run check is named by its step.
func TestCompleteIfHealthyElseRollBack(t *testing.T) {
	res, run, md := branchRun(t, "ok", "ok")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, summary.VerdictPass, run.Verdict)
	assert.Equal(t, summary.OutcomePassed, phase(t, run, "complete").Outcome)
	for _, name := range []string{"roll-back", "after-rollback"} {
		p := phase(t, run, name)
		assert.Equal(t, summary.OutcomeSkipped, p.Outcome, name)
		assert.Equal(t, "not taken: runs only if health failed, and it passed", p.Error, name)
	}
	assert.Contains(t, res.stderr, "– step roll-back skipped: not taken: runs only if health failed, and it passed")
	assert.Contains(t, md, "| noUnexpectedStatus (at step health) | ✅ pass |", "the mid-run check is named by its step")
	assert.Contains(t, md, "| noUnexpectedStatus | ✅ pass |", "beside the final one")

	res, run, md = branchRun(t, "503", "ok")
	require.Equal(t, 1, res.code, res.stderr)
	assert.Equal(t, summary.VerdictRolledBack, run.Verdict)
	assert.True(t, strings.HasPrefix(run.DecidedBy, "health failed: check noUnexpectedStatus failed: "), run.DecidedBy)
	assert.Equal(t, summary.OutcomeSkipped, phase(t, run, "complete").Outcome)
	assert.Equal(t, "not taken: runs only if health passed, and it failed", phase(t, run, "complete").Error)
	for _, name := range []string{"roll-back", "after-rollback"} {
		assert.Equal(t, summary.OutcomePassed, phase(t, run, name).Outcome, name)
	}
	assert.Zero(t, run.Streams[0].PerPhase[run.PhaseIndex("after-rollback")].Failures, "the rollback's own traffic is clean")
	assert.Positive(t, run.Streams[0].PerPhase[run.PhaseIndex("under-load")].Failures, "the upgrade's was not")
	assert.Contains(t, md, "## ↩️ canarygate: branch — ROLLED BACK")
	assert.Contains(t, md, "Rolled back: health failed: check noUnexpectedStatus failed:")
	assert.Contains(t, md, "| noUnexpectedStatus (at step health) | ↩️ decided: rolled back |")
	for _, c := range run.Checks {
		if c.Kind == "stepsSucceeded" {
			assert.True(t, c.Passed, "skipped and deciding steps are not failures: %s %v", c.Summary, c.Evidence)
		}
	}

	res, run, _ = branchRun(t, "503", "503")
	require.Equal(t, 1, res.code, res.stderr)
	assert.Equal(t, summary.VerdictFail, run.Verdict, "the rollback itself failed")
	assert.Positive(t, run.Streams[0].PerPhase[run.PhaseIndex("after-rollback")].Failures)
}
