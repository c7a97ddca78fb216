// Package release tests how canarygate reaches its users outside this repository: `go install
// github.com/canarygate/canarygate/cmd/canarygate@VERSION` through a module proxy (a local, file-based one
// holding this tree as that version) and the archives of `make release` (hack/release.sh). The package has
// no code of its own.
package release
