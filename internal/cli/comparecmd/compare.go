// Package comparecmd is `canarygate compare`: did disruption get worse than a baseline run?
package comparecmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/compare"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// ThresholdFlags are the comparison limits both compare and trend take.
type ThresholdFlags struct {
	P99Ratio, DurationRatio       float64
	P99Increase, DurationIncrease time.Duration
}

// Add registers the flags.
func (f *ThresholdFlags) Add(cmd *cobra.Command) {
	d := summary.DefaultThresholds
	cmd.Flags().Float64Var(&f.P99Ratio, "p99-ratio", 0, fmt.Sprintf("a step's p99 regresses when it grows by more than this ratio (default: the scenario's compare section, else %g)…", d.P99Ratio))
	cmd.Flags().DurationVar(&f.P99Increase, "p99-increase", 0, fmt.Sprintf("…and by more than this (default %gms)", d.P99IncreaseMs))
	cmd.Flags().Float64Var(&f.DurationRatio, "duration-ratio", 0, fmt.Sprintf("a step's duration regresses when it grows by more than this ratio (default %g)…", d.DurationRatio))
	cmd.Flags().DurationVar(&f.DurationIncrease, "duration-increase", 0, fmt.Sprintf("…and by more than this (default %gs)", d.DurationIncreaseMs/1000))
}

// Thresholds returns the explicit thresholds (zero fields fall back).
func (f *ThresholdFlags) Thresholds() *summary.Thresholds {
	return &summary.Thresholds{P99Ratio: f.P99Ratio, P99IncreaseMs: float64(f.P99Increase.Microseconds()) / 1000,
		DurationRatio: f.DurationRatio, DurationIncreaseMs: float64(f.DurationIncrease.Microseconds()) / 1000}
}

// ReadRun reads a run directory or summary; problems are bad input.
func ReadRun(path string) (*summary.Run, error) {
	r, err := summary.Read(path)
	if err != nil {
		return nil, exitcode.With(exitcode.BadInput, err)
	}
	return r, nil
}

// NewCommand returns the compare command.
func NewCommand(s streams.IO) *cobra.Command {
	var (
		th  ThresholdFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "compare BASELINE CURRENT",
		Short: "Compare two runs (directories or summary.json): exit 1 when the current one regressed",
		Long: `Compare two runs of a scenario step by step and stream by stream: requests, unexpected responses,
the longest error burst, p50/p99 latency and step duration, baseline → current. Any new unexpected
response is a regression, and so is a p99 or duration beyond the thresholds (flags, else the
scenario's compare section, else the defaults). Markdown goes to stdout (and $GITHUB_STEP_SUMMARY);
compare.html and compare-junit.xml go to --out.

Exit codes: 0 no regression · 1 regression · 2 bad input (unreadable, different schemaVersion, nothing in common)`,
		Args: load.Args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := ReadRun(args[0])
			if err != nil {
				return err
			}
			cur, err := ReadRun(args[1])
			if err != nil {
				return err
			}
			res, err := compare.Compare(base, cur, compare.Thresholds(th.Thresholds(), cur))
			if err != nil {
				if errors.Is(err, compare.ErrNotComparable) {
					return exitcode.With(exitcode.BadInput, err)
				}
				return err
			}
			if err := report.WriteCompareMarkdown(s.Out, res, report.Config{}); err != nil {
				return err
			}
			md := func(w io.Writer) error { return report.WriteCompareMarkdown(w, res, report.Config{}) }
			if err := errors.Join(report.WriteFiles(out, []report.File{
				{Name: "compare.html", Render: func(w io.Writer) error { return report.WriteCompareHTML(w, res, report.Config{}) }},
				{Name: "compare-junit.xml", Render: func(w io.Writer) error { return report.WriteCompareJUnit(w, res, report.Config{}) }},
				{Name: "compare-summary.md", Render: md},
			}), report.AppendJobSummary(os.Getenv("GITHUB_STEP_SUMMARY"), md)); err != nil {
				return exitcode.With(exitcode.Harness, err)
			}
			if res.Regressions() > 0 {
				return exitcode.Silent(exitcode.GateFailed)
			}
			return nil
		},
	}
	th.Add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "canarygate-compare", "directory for compare.html, compare-junit.xml and compare-summary.md")
	return cmd
}
