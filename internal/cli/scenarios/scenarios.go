// Package scenarios is `canarygate scenarios`: list the shipped scenarios.
package scenarios

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/scenarios"
)

// NewCommand returns the scenarios command.
func NewCommand(s streams.IO) *cobra.Command {
	var show string
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the scenarios canarygate ships (run one with 'canarygate run NAME')",
		Args:  load.Args(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if show != "" {
				src, err := scenarios.Source(show)
				if err != nil {
					return exitcode.With(exitcode.BadInput, fmt.Errorf("--show %q: no shipped scenario of that name (shipped: %s)", show, strings.Join(scenarios.Names(), ", ")))
				}
				_, err = s.Out.Write(src)
				return err
			}
			for _, i := range scenarios.List() {
				fmt.Fprintf(s.Out, "%-24s %s\n", i.Name, strings.Join(strings.Fields(i.Description), " "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&show, "show", "", "print a shipped scenario's YAML (to copy and adapt)")
	return cmd
}
