package run

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/canarygate/canarygate/internal/cli/plan"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/scenarios"
)

// ProviderExisting is the provider of clusters the run did not create: someone else's, maybe staging.
const ProviderExisting = "existing"

// Confirm guards clusters the run did not create. A scenario with an `existing` cluster has its plan shown
// (every step, the objects it touches) before anything starts, and then:
//   - with yes (--yes), the run goes on;
//   - on a terminal, it asks, and only "yes" or "y" goes on; another answer cancels (exit 130, as Ctrl-C at
//     the prompt would), nothing changed;
//   - with no terminal to ask on (CI, a pipe), it refuses with exit 2, naming --yes: as terraform apply
//     refuses without -auto-approve, a job cannot say yes by accident, and the workflow that passes --yes
//     is the approval, written down.
//
// Scenarios whose clusters are all created by the run (kind) are not asked about: nothing of anyone else's is
// at stake.
func Confirm(ctx context.Context, s streams.IO, sc *scenarios.Scenario, yes, tty bool) error {
	names := existingClusters(sc)
	if len(names) == 0 || len(sc.NotRunnable) > 0 {
		// A scenario run refuses anyway (a chart path missing here) is refused first, with its reasons:
		// asking about a run that cannot start would only be in the way.
		return nil
	}
	plan.Write(s.ErrOut, sc)
	what := fmt.Sprintf("scenario %s changes cluster(s) it did not create: %s", sc.Name, strings.Join(names, ", "))
	switch {
	case yes:
		fmt.Fprintf(s.ErrOut, "• %s (--yes: not asking)\n", what)
		return nil
	case !tty:
		return exitcode.With(exitcode.BadInput, fmt.Errorf("%s, and there is no terminal to confirm on: pass --yes to run it without asking (the plan is above)", what))
	}
	fmt.Fprintf(s.ErrOut, "%s, as planned above.\nCarry it out? Only 'yes' goes on: ", what)
	answer, err := readLine(ctx, s.In)
	if err != nil {
		return err
	}
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "yes" && a != "y" {
		return exitcode.With(exitcode.Interrupted, fmt.Errorf("not confirmed (answer %q): nothing was changed", strings.TrimSpace(answer)))
	}
	return nil
}

// existingClusters names the scenario's clusters of provider existing, with where they are.
func existingClusters(sc *scenarios.Scenario) []string {
	var out []string
	for _, c := range sc.Clusters {
		if c.Provider != ProviderExisting {
			continue
		}
		var where []string
		if c.Kubeconfig != "" {
			where = append(where, "kubeconfig "+c.Kubeconfig)
		}
		if c.Context != "" {
			where = append(where, "context "+c.Context)
		}
		if len(where) == 0 {
			where = append(where, "the current context of $KUBECONFIG or ~/.kube/config")
		}
		out = append(out, c.Name+" ("+strings.Join(where, ", ")+")")
	}
	return out
}

// readLine reads one line of the answer; the run's context ending (Ctrl-C) stops waiting for it.
func readLine(ctx context.Context, in io.Reader) (string, error) {
	got := make(chan string, 1)
	failed := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			failed <- err
			return
		}
		got <- line
	}()
	select {
	case line := <-got:
		return line, nil
	case err := <-failed:
		return "", exitcode.With(exitcode.Interrupted, fmt.Errorf("no answer (%w): nothing was changed", err))
	case <-ctx.Done():
		return "", exitcode.With(exitcode.Interrupted, fmt.Errorf("not confirmed: %w", ctx.Err()))
	}
}

// IsTerminal reports whether r is a terminal a person can answer on.
func IsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
