package run

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/summary"
)

// The exit code comes from the verdict alone: interrupted is 130 even when the harness also reported an
// error (before, an interrupted run whose drain reported anything exited 3); a harness error is 3 whatever
// the gates said; otherwise the verdict's own code.
func TestExitCodeComesFromTheVerdict(t *testing.T) {
	spoiled := errors.New("in-mesh stream a: generator x still held results")
	for _, c := range []struct {
		verdict string
		err     error
		want    int
	}{
		{summary.VerdictInterrupted, spoiled, exitcode.Interrupted},
		{summary.VerdictInterrupted, nil, exitcode.Interrupted},
		{summary.VerdictError, spoiled, exitcode.Harness},
		{summary.VerdictPass, errors.New("write report: disk full"), exitcode.Harness},
		{summary.VerdictFail, nil, exitcode.GateFailed},
		{summary.VerdictPass, nil, exitcode.OK},
	} {
		assert.Equal(t, c.want, ExitCode(&summary.Run{Verdict: c.verdict}, c.err), "%s, %v", c.verdict, c.err)
	}
}
