package load

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/exitcode"
)

// Args checks the number of positional arguments; a wrong count is bad input (exit 2).
func Args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return exitcode.With(exitcode.BadInput, fmt.Errorf("%s: expected %s, got %d argument(s); see %s --help", cmd.CommandPath(), cmd.Use, len(args), cmd.CommandPath()))
		}
		return nil
	}
}
