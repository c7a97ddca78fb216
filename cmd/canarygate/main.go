// Command canarygate rehearses and verifies Istio control-plane canary upgrades under load.
package main

import (
	"os"

	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
)

func main() { os.Exit(cli.Main(os.Args[1:], streams.Std())) }
