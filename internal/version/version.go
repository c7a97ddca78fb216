// Package version holds canarygate's version, set at build time with
// -ldflags "-X github.com/canarygate/canarygate/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is set at build time; otherwise the module version or "dev".
var Version = ""

// String returns the version.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
