// Package cli is canarygate's command line: the root command, the mapping of outcomes to exit codes (done
// once, here) and signal handling. Each subcommand lives in its own package exporting NewCommand.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/base/shutdown"
	"github.com/canarygate/canarygate/internal/cli/cleanupcmd"
	"github.com/canarygate/canarygate/internal/cli/comparecmd"
	"github.com/canarygate/canarygate/internal/cli/imagecmd"
	"github.com/canarygate/canarygate/internal/cli/plan"
	"github.com/canarygate/canarygate/internal/cli/report"
	"github.com/canarygate/canarygate/internal/cli/run"
	"github.com/canarygate/canarygate/internal/cli/scenarios"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/cli/trend"
	"github.com/canarygate/canarygate/internal/cli/validate"
	"github.com/canarygate/canarygate/internal/cli/versioncmd"
	"github.com/canarygate/canarygate/internal/exitcode"
)

// NewCommand returns the root command. abort receives the last actions of an exit at once (may be nil).
func NewCommand(s streams.IO, abort *shutdown.Hooks) *cobra.Command {
	root := &cobra.Command{
		Use:   "canarygate",
		Short: "Rehearse and verify Istio control-plane canary upgrades under load",
		Long: `canarygate runs a scenario: traffic through the ingress and between workloads for the whole
rehearsal, the upgrade carried out step by step, then checks of the timeline (zero unexpected
responses, cross-revision mTLS, proxies on the right revision) and reports (HTML, JUnit, JSON,
markdown, vegeta results). Every failure is attributed to the step that was running.

` + exitcode.Help,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetIn(s.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.With(exitcode.BadInput, err) })
	root.AddCommand(run.NewCommand(s, abort), validate.NewCommand(s), plan.NewCommand(s), report.NewCommand(s),
		comparecmd.NewCommand(s), trend.NewCommand(s), scenarios.NewCommand(s), imagecmd.NewCommand(s), versioncmd.NewCommand(s),
		cleanupcmd.NewCommand(s))
	return root
}

// AbortDeadline bounds what an exit at once still does: write the reports of what was measured, kill what
// steps started.
const AbortDeadline = time.Second

// Main runs canarygate with args and returns the exit code. The first SIGINT/SIGTERM cancels the run (which
// still runs teardown and writes its reports); a second one exits at once, after at most AbortDeadline spent
// writing the reports measured so far and killing every process group a step started.
func Main(args []string, s streams.IO) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	defer close(returned)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	abort := &shutdown.Hooks{}
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(s.ErrOut, "\n%s: stopping steps and traffic, running teardown, writing reports (again to exit at once)\n", sig)
			cancel()
		case <-returned:
			return
		}
		// Not ctx.Done(): the first signal has just cancelled it, and the second must still be heard.
		select {
		case <-sigs:
			fmt.Fprintln(s.ErrOut, "second signal: killing step processes, writing what was measured, exiting")
			if !abort.Run(AbortDeadline) {
				fmt.Fprintf(s.ErrOut, "reports not complete after %s: exiting anyway\n", AbortDeadline)
			}
			os.Exit(exitcode.Interrupted)
		case <-returned:
		}
	}()
	root := NewCommand(s, abort)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitcode.Of(err)
	if err != nil && err.Error() != "" {
		printError(s.ErrOut, err, code)
	}
	return code
}

func printError(w io.Writer, err error, code int) {
	var ee *exitcode.Error
	if errors.As(err, &ee) && ee.Err == nil {
		return
	}
	prefix := "error"
	if code == exitcode.BadInput {
		prefix = "bad input"
	}
	fmt.Fprintf(w, "✗ %s: %v\n", prefix, err)
}
