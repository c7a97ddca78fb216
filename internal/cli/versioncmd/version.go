// Package versioncmd is `canarygate version`.
package versioncmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/version"
)

// NewCommand returns the version command.
func NewCommand(s streams.IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print canarygate's version",
		Args:  load.Args(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(s.Out, "canarygate %s %s/%s %s\n", version.String(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}
