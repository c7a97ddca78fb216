// Package imagecmd is `canarygate image-archive`: package a static Linux binary as an image archive that kind
// can load (used by make rehearse for the demo app).
package imagecmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/canarygate/canarygate/imagearchive"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
)

// NewCommand returns the image-archive command.
func NewCommand(s streams.IO) *cobra.Command {
	var spec imagearchive.Spec
	var out string
	cmd := &cobra.Command{
		Use:   "image-archive --binary FILE --ref NAME:TAG --out FILE",
		Short: "Package a static Linux binary as an image archive (FROM scratch) for kind to load",
		Args:  load.Args(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if spec.Binary == "" || spec.Ref == "" || out == "" {
				return exitcode.With(exitcode.BadInput, fmt.Errorf("--binary, --ref and --out are required"))
			}
			if err := imagearchive.WriteFile(out, spec); err != nil {
				return exitcode.With(exitcode.Harness, err)
			}
			fmt.Fprintf(s.Out, "✓ %s: %s (%s) → %s\n", spec.Ref, spec.Binary, spec.Arch, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&spec.Binary, "binary", "", "static linux binary")
	cmd.Flags().StringVar(&spec.Ref, "ref", "", "image reference, e.g. canarygate/demo-app:dev")
	cmd.Flags().StringVar(&spec.Arch, "arch", runtime.GOARCH, "node architecture")
	cmd.Flags().IntVar(&spec.Port, "port", 8080, "port the image exposes (0: none)")
	cmd.Flags().StringVar(&spec.Dir, "dir", "/", "directory the binary goes to")
	cmd.Flags().StringVar(&spec.User, "user", "65532:65532", "user the entrypoint runs as")
	cmd.Flags().StringVar(&spec.Base, "base", "", "uncompressed rootfs tarball to put below the binary (for programs that run others)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "archive file to write")
	return cmd
}
