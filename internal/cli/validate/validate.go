// Package validate is `canarygate validate`: check scenarios without running anything.
package validate

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/internal/ghactions"
)

// NewCommand returns the validate command.
func NewCommand(s streams.IO) *cobra.Command {
	f := load.Flags{Lenient: true}
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate SCENARIO...",
		Short: "Check scenarios: every problem with file:line, field and what was expected",
		Args:  load.Args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// In a GitHub Actions step each problem is also an annotation at its file:line.
			gh := ghactions.Enabled(os.Getenv)
			bad := 0
			for _, a := range args {
				sc, err := f.Scenario(a, s.ErrOut)
				if err != nil {
					bad++
					var ee *exitcode.Error
					if errors.As(err, &ee) {
						err = ee.Err
					}
					fmt.Fprintf(s.ErrOut, "✗ %v\n", err)
					if gh {
						_ = ghactions.Write(s.Out, ghactions.Problems(err, "bad input", ghactions.Error)...)
					}
					continue
				}
				// What only this machine lacks (a step's command not on PATH) is a warning: the file is valid and a
				// lint job elsewhere must be able to say so; run refuses it before anything starts.
				load.UnsetVars(s.ErrOut, sc)
				for _, w := range sc.NotRunnable {
					fmt.Fprintf(s.ErrOut, "⚠ %v (run refuses this before anything starts)\n", w)
				}
				if gh {
					level := ghactions.Warning
					if strict {
						level = ghactions.Error
					}
					_ = ghactions.Write(s.Out, ghactions.FieldErrors(sc.NotRunnable, level)...)
				}
				if strict && len(sc.NotRunnable) > 0 {
					bad++
					fmt.Fprintf(s.ErrOut, "✗ %s (%s): valid, but not runnable on this machine (--strict)\n", sc.Name, sc.File)
					continue
				}
				fmt.Fprintf(s.Out, "✓ %s (%s): valid, %d step(s), %d stream(s), %d check(s)\n", sc.Name, sc.File, len(sc.Steps)+len(sc.Teardown), len(sc.Traffic.Streams), len(sc.Checks))
			}
			if bad > 0 {
				return exitcode.Silent(exitcode.BadInput)
			}
			return nil
		},
	}
	f.Add(cmd.Flags())
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 2) when a scenario cannot run on this machine (a step's command not on PATH), not only warn")
	return cmd
}
