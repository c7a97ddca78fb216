// Package run is `canarygate run`: carry out a scenario under load and judge it.
package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/base/shutdown"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/harness"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/internal/progress"
	"github.com/canarygate/canarygate/internal/version"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// NewCommand returns the run command.
// abort receives the run's last actions for an exit at once (a second signal); it may be nil.
func NewCommand(s streams.IO, abort *shutdown.Hooks) *cobra.Command {
	var (
		f               load.Flags
		out             string
		formats         []string
		keep            bool
		keepFail        bool
		reuse           bool
		allowDisruption bool
		archives        []string
		yes             bool
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario (a shipped name or a file) and write its reports",
		Long: `Run a scenario: start its traffic, carry out its steps, stop the traffic, run teardown, judge the
checks and write the reports. SCENARIO is a file or the name of a shipped scenario (see
'canarygate scenarios'). The markdown summary is also appended to $GITHUB_STEP_SUMMARY when set.

` + exitcode.Help,
		Args: load.Args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			formats, err := load.Formats(formats, scenarios.AllFormats)
			if err != nil {
				return err
			}
			sc, err := f.Scenario(args[0], s.ErrOut)
			if err != nil {
				return err
			}
			if err := Confirm(cmd.Context(), s, sc, yes, IsTerminal(s.In)); err != nil {
				return err
			}
			p := progress.New(s.ErrOut)
			res, err := harness.Run(cmd.Context(), sc, harness.Options{
				OutDir: out, Formats: formats, Version: version.String(), Policy: policy.Options{AllowSkip: f.AllowSkip},
				Observer: p, Tick: p.Tick, StepSummary: os.Getenv("GITHUB_STEP_SUMMARY"),
				ProviderOptions: cluster.ProviderOptions{Keep: keep, KeepOnFailure: keepFail, Reuse: reuse, ImageArchives: archives,
					Log: func(format string, args ...any) { fmt.Fprintf(s.ErrOut, "• "+format+"\n", args...) }},
				Log:             func(format string, args ...any) { fmt.Fprintf(s.ErrOut, "• "+format+"\n", args...) },
				Abort:           abort,
				AllowDisruption: allowDisruption,
			})
			p.Done()
			if res == nil {
				if errors.Is(err, harness.ErrMissingExecutor) || errors.Is(err, harness.ErrPolicy) || errors.Is(err, harness.ErrNotRunnable) ||
					errors.Is(err, harness.ErrDisruptionNotAllowed) {
					return exitcode.With(exitcode.BadInput, err)
				}
				if cmd.Context().Err() != nil {
					return exitcode.With(exitcode.Interrupted, err)
				}
				return exitcode.With(exitcode.Harness, err)
			}
			printVerdict(s, res)
			if err != nil {
				return exitcode.With(ExitCode(res.Run, err), err)
			}
			return exitcode.Silent(ExitCode(res.Run, nil))
		},
	}
	f.Add(cmd.Flags())
	cmd.Flags().StringVarP(&out, "out", "o", "", "report directory (default: the scenario's report.dir)")
	cmd.Flags().StringSliceVar(&formats, "format", nil, "reports to write: html, junit, json, markdown, vegeta (default: the scenario's report.formats)")
	cmd.Flags().BoolVar(&keep, "keep-cluster", false, "keep kind clusters the run created")
	cmd.Flags().BoolVar(&keepFail, "keep-cluster-on-failure", false, "keep kind clusters when the run did not pass")
	cmd.Flags().BoolVar(&reuse, "reuse-cluster", false, "use a kind cluster of the scenario's name that already exists (and leave it), instead of refusing to run")
	cmd.Flags().BoolVar(&allowDisruption, "allow-disruption", false, "let disrupt steps act on clusters of provider existing (the scenario must allow it too: the cluster's allowDisruption)")
	cmd.Flags().StringArrayVar(&archives, "image-archive", nil, "image archive to load into kind clusters' nodes (repeatable)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "change existing clusters without asking (required when there is no terminal to ask on)")
	return cmd
}

// ExitCode is a finished run's exit code, decided here alone: an interrupted run is 130 whatever else went
// wrong (its drain, its reports); otherwise an error of the harness's own — the verdict "error", or reports
// that could not be written — is 3; otherwise the verdict's code.
func ExitCode(r *summary.Run, harnessErr error) int {
	if r.Verdict == summary.VerdictInterrupted {
		return exitcode.Interrupted
	}
	if harnessErr != nil {
		return exitcode.Harness
	}
	return CodeFor(r)
}

// CodeFor maps a run's verdict to its exit code.
func CodeFor(r *summary.Run) int {
	switch r.Verdict {
	case summary.VerdictPass:
		return exitcode.OK
	case summary.VerdictFail, summary.VerdictRolledBack:
		// Rolled back: the upgrade would not have completed — a gate's answer, not a pass.
		return exitcode.GateFailed
	case summary.VerdictInterrupted:
		return exitcode.Interrupted
	default:
		return exitcode.Harness
	}
}

func printVerdict(s streams.IO, res *harness.Result) {
	r := res.Run
	for _, c := range r.Checks {
		mark := "✓"
		switch {
		case c.Decision:
			mark = "↩"
		case !c.Passed:
			mark = "✗"
		}
		where := ""
		if !c.Passed && len(c.Steps) > 0 {
			where = " — during " + strings.Join(c.Steps, ", ")
		}
		name := c.Name
		if c.Phase != "" {
			name += " (at step " + c.Phase + ")"
		}
		fmt.Fprintf(s.Out, "%s check %s: %s%s\n", mark, name, c.Summary, where)
	}
	mark := "✓"
	if r.Verdict != summary.VerdictPass {
		mark = "✗"
		if r.Verdict == summary.VerdictRolledBack {
			mark = "↩"
		}
		fmt.Fprintf(s.Out, "%s %s\n", mark, report.Headline(r))
	}
	var written []string
	for _, f := range []string{report.HTMLFile, report.JUnitFile, report.JSONFile, report.MarkdownFile, summary.ResultsFileName} {
		if _, err := os.Stat(filepath.Join(res.Dir, f)); err == nil {
			written = append(written, f)
		}
	}
	fmt.Fprintf(s.Out, "%s %s: %s — %d requests, %d unexpected; reports in %s (%s)\n",
		mark, r.Scenario, r.Verdict, r.TotalRequests(), r.TotalFailures(), res.Dir, strings.Join(written, ", "))
}
