// Package validate is `canarygate validate`: check scenarios without running anything.
package validate

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
)

// NewCommand returns the validate command.
func NewCommand(s streams.IO) *cobra.Command {
	var f load.Flags
	cmd := &cobra.Command{
		Use:   "validate SCENARIO...",
		Short: "Check scenarios: every problem with file:line, field and what was expected",
		Args:  load.Args(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}
