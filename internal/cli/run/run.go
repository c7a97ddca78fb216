// Package run is `canarygate run`: carry out a scenario under load and judge it.
package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/base/shutdown"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/harness"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/internal/ghactions"
	"github.com/canarygate/canarygate/internal/progress"
	"github.com/canarygate/canarygate/internal/version"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/runner"
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
'canarygate scenarios'). The markdown summary is also appended to $GITHUB_STEP_SUMMARY when set. In a
GitHub Actions step (GITHUB_ACTIONS=true) each step's log lines are folded into a group, each failed check
and step is an annotation (problems of the scenario file at their file:line), and the step output
'unexpected' counts the responses no gate expected.

` + exitcode.Help,
		Args: load.Args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			formats, err := load.Formats(formats, scenarios.AllFormats)
			if err != nil {
				return err
			}
			gh := ghactions.Enabled(os.Getenv)
			sc, err := f.Scenario(args[0], s.ErrOut)
			if err != nil {
				if gh {
					_ = ghactions.Write(s.Out, ghactions.Problems(err, "bad input", ghactions.Error)...)
				}
				return err
			}
			if err := Confirm(cmd.Context(), s, sc, yes, IsTerminal(s.In)); err != nil {
				return err
			}
			logf := func(format string, args ...any) { fmt.Fprintf(s.ErrOut, "• "+format+"\n", args...) }
			p := progress.New(s.ErrOut)
			var obs runner.Observer = p
			if gh {
				// The job's log folds each step's lines; a terminal keeps its live status line instead.
				groups := ghactions.NewGroups(s.ErrOut, p)
				defer groups.Close()
				obs = groups
			}
			res, err := harness.Run(cmd.Context(), sc, harness.Options{
				OutDir: out, Formats: formats, Version: version.String(), Policy: policy.Options{AllowSkip: f.AllowSkip},
				Observer: obs, Tick: p.Tick, StepSummary: os.Getenv("GITHUB_STEP_SUMMARY"),
				ProviderOptions: cluster.ProviderOptions{Keep: keep, KeepOnFailure: keepFail, Reuse: reuse, ImageArchives: archives, Log: logf},
				Log:             logf,
				Abort:           abort,
				AllowDisruption: allowDisruption,
			})
			p.Done()
			code, err := outcome(cmd, s, res, err)
			if gh {
				annotate(s, res, code, err)
			}
			return err
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

// outcome maps what harness.Run returned to the command's error (its exit code), after printing the verdict
// of a run that finished.
func outcome(cmd *cobra.Command, s streams.IO, res *harness.Result, err error) (int, error) {
	if res == nil {
		code := exitcode.Harness
		switch {
		case errors.Is(err, harness.ErrMissingExecutor) || errors.Is(err, harness.ErrPolicy) || errors.Is(err, harness.ErrNotRunnable) ||
			errors.Is(err, harness.ErrDisruptionNotAllowed) || errors.Is(err, scenarios.ErrBadQuery):
			code = exitcode.BadInput
		case cmd.Context().Err() != nil:
			code = exitcode.Interrupted
		}
		return code, exitcode.With(code, err)
	}
	printVerdict(s, res)
	if err != nil {
		code := ExitCode(res.Run, err)
		return code, exitcode.With(code, err)
	}
	code := ExitCode(res.Run, nil)
	return code, exitcode.Silent(code)
}

// annotate writes, in a GitHub Actions step, an annotation per failed check and step (or for what kept the
// run from starting, at the scenario's lines where it can) and the step output `unexpected`: the responses
// the gates did not expect, over every stream.
func annotate(s streams.IO, res *harness.Result, code int, err error) {
	if res == nil {
		title := "canarygate error"
		if code == exitcode.BadInput {
			title = "bad input"
		}
		_ = ghactions.Write(s.Out, ghactions.Problems(err, title, ghactions.Error)...)
		return
	}
	_ = ghactions.Write(s.Out, ghactions.Run(res.Run, report.Headline(res.Run))...)
	if code == exitcode.Harness && err != nil && err.Error() != "" {
		// The harness's own failure after the run (reports that could not be written): not the target's.
		_ = ghactions.Write(s.Out, ghactions.Annotation{Level: ghactions.Error, Title: "canarygate error", Message: err.Error()})
	}
	if oerr := ghactions.SetOutput(os.Getenv, "unexpected", strconv.FormatInt(res.Run.TotalFailures(), 10)); oerr != nil {
		fmt.Fprintf(s.ErrOut, "! %v\n", oerr)
	}
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

// checkMarks is how the terminal shows each of a check's marks (summary.Check.Mark).
var checkMarks = map[string]string{"pass": "✓", "fail": "✗", "n/a": "–", "error": "!"}

func printVerdict(s streams.IO, res *harness.Result) {
	r := res.Run
	for _, c := range r.Checks {
		mark := checkMarks[c.Mark()]
		if c.Decision {
			mark = "↩"
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
