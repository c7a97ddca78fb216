// Package trend is `canarygate trend`: many runs of a scenario on one page.
package trend

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/compare"
	"github.com/canarygate/canarygate/internal/cli/comparecmd"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/summary"
)

// NewCommand returns the trend command.
func NewCommand(s streams.IO) *cobra.Command {
	var (
		th  comparecmd.ThresholdFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "trend DIR...",
		Short: "Follow unexpected responses, p99 and duration of every step over many runs (run directories, or folders of them)",
		Args:  load.Args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := findSummaries(args)
			if err != nil {
				return exitcode.With(exitcode.BadInput, err)
			}
			var runs []*summary.Run
			var labels []string
			for _, p := range paths {
				r, err := comparecmd.ReadRun(p)
				if err != nil {
					return err
				}
				if len(runs) > 0 && r.SchemaVersion != runs[0].SchemaVersion {
					return exitcode.With(exitcode.BadInput, fmt.Errorf("%s: schemaVersion %d differs from %d", p, r.SchemaVersion, runs[0].SchemaVersion))
				}
				runs = append(runs, r)
				labels = append(labels, r.Started.Format("2006-01-02 15:04"))
			}
			t := compare.BuildTrend(runs, labels, compare.Thresholds(th.Thresholds(), runs[len(runs)-1]))
			if err := report.WriteTrendMarkdown(s.Out, t, report.Config{}); err != nil {
				return err
			}
			md := func(w io.Writer) error { return report.WriteTrendMarkdown(w, t, report.Config{}) }
			if err := errors.Join(report.WriteFiles(out, []report.File{
				{Name: "trend.html", Render: func(w io.Writer) error { return report.WriteTrendHTML(w, t, report.Config{}) }},
				{Name: "trend.md", Render: md},
			}), report.AppendJobSummary(os.Getenv("GITHUB_STEP_SUMMARY"), md)); err != nil {
				return exitcode.With(exitcode.Harness, err)
			}
			return nil
		},
	}
	th.Add(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "canarygate-trend", "directory for trend.html and trend.md")
	return cmd
}

// findSummaries takes run directories, summary files, or folders whose subfolders are run directories.
func findSummaries(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		if _, err := os.Stat(filepath.Join(a, summary.FileName)); err == nil {
			out = append(out, a)
			continue
		}
		found, _ := filepath.Glob(filepath.Join(a, "*", summary.FileName))
		sort.Strings(found)
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no %s in it or in its subfolders", a, summary.FileName)
		}
		out = append(out, found...)
	}
	return out, nil
}
