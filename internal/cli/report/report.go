// Package report is `canarygate report`: render a run directory's reports again from its JSON summary.
package report

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// NewCommand returns the report command.
func NewCommand(s streams.IO) *cobra.Command {
	var formats []string
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Render the HTML, JUnit and markdown reports of a run directory again from its summary.json",
		Args:  load.Args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return exitcode.With(exitcode.BadInput, fmt.Errorf("%s: not a run directory", dir))
			}
			run, err := summary.Read(dir)
			if err != nil {
				return exitcode.With(exitcode.BadInput, err)
			}
			if len(formats) == 0 {
				formats = []string{scenarios.FormatHTML, scenarios.FormatJUnit, scenarios.FormatMarkdown}
			}
			for _, f := range formats {
				if f == scenarios.FormatVegeta || f == scenarios.FormatJSON {
					return exitcode.With(exitcode.BadInput, errors.New("--format: the results file and the JSON summary are inputs, not rendered again; choose html, junit or markdown"))
				}
			}
			formats, err = load.Formats(formats, []string{scenarios.FormatHTML, scenarios.FormatJUnit, scenarios.FormatMarkdown})
			if err != nil {
				return err
			}
			if err := report.WriteAll(dir, run, report.Config{Formats: formats, StepSummary: os.Getenv("GITHUB_STEP_SUMMARY")}); err != nil {
				return exitcode.With(exitcode.Harness, err)
			}
			fmt.Fprintf(s.Out, "✓ rendered %v for %s (%s) in %s\n", formats, run.Scenario, run.Verdict, dir)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&formats, "format", nil, "reports to render: html, junit, markdown (default all three)")
	return cmd
}
