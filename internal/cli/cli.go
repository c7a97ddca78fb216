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

	"github.com/spf13/cobra"

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

// NewCommand returns the root command.
func NewCommand(s streams.IO) *cobra.Command {
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
	root.AddCommand(run.NewCommand(s), validate.NewCommand(s), plan.NewCommand(s), report.NewCommand(s),
		comparecmd.NewCommand(s), trend.NewCommand(s), scenarios.NewCommand(s), imagecmd.NewCommand(s), versioncmd.NewCommand(s))
	return root
}

// Main runs canarygate with args and returns the exit code. The first SIGINT/SIGTERM cancels the run (which
// still writes its reports); a second one exits at once.
func Main(args []string, s streams.IO) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(s.ErrOut, "\n%s: stopping steps and traffic, writing reports (again to exit at once)\n", sig)
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(s.ErrOut, "second signal: exiting without waiting")
			os.Exit(exitcode.Interrupted)
		case <-ctx.Done():
		}
	}()
	root := NewCommand(s)
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
