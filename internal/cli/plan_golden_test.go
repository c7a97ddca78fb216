package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
)

var updateGolden = flag.Bool("update", false, "rewrite the plan golden files (testdata/plan/*.golden) from the current output")

// numbered is a step line of a plan: "  12. name   [kind] …".
var numbered = regexp.MustCompile(`^\s+\d+\. \S+\s+(\[(\w+)\] )?`)

// The plan of every shipped scenario, as shipped (no --var, no environment), against its golden file
// (go test ./internal/cli -run TestPlanGolden -update rewrites them: review the diff) — and the defects a new
// user met in plans (issue 22) stay gone: every plan line of a step is one numbered line (a multi-line
// script used to break the list), actions that touch no cluster do not say "cluster X", proxyRevision names
// the istiod that exists, uninstallRevision says a missing Helm release is skipped, restarts say how they
// are paced and whether canarygate's generators restart with them.
func TestPlanGolden(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			res := runCLI(t, "plan", name, "--no-env")
			require.Equal(t, 0, res.code, res.stderr)
			golden := filepath.Join("testdata", "plan", name+".golden")
			if *updateGolden {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(res.stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: run go test ./internal/cli -run TestPlanGolden -update")
			assert.Equal(t, string(want), res.stdout, "plan %s changed: review, then -update", name)

			inPlan := false
			for _, l := range strings.Split(res.stdout, "\n") {
				switch l {
				case "Plan:":
					inPlan = true
					continue
				case "Checks:":
					inPlan = false
				}
				if !inPlan || strings.HasPrefix(l, "      (") {
					continue // the "(setup done: traffic starts)" marker
				}
				m := numbered.FindStringSubmatch(l)
				if !assert.NotNil(t, m, "a plan line that is not a numbered step: %q", l) {
					continue
				}
				switch m[2] {
				case "soak", "http", "check":
					assert.NotContains(t, l, ", cluster ", "%s touches no cluster: %q", m[2], l)
					assert.NotContains(t, l, "(timeout 10m0s, cluster", l)
				case "proxyRevision":
					assert.Regexp(t, `(points at|connected to) istiod-\S+ in \S+`, l)
				case "uninstallRevision":
					assert.Contains(t, l, "if it exists (an operator install has none: skipped, said)")
				case "restart", "moveNamespace":
					if strings.Contains(l, "every Deployment") {
						assert.Regexp(t, `one at a time|all at once`, l)
						assert.Contains(t, l, "generators", "says whether canarygate's generators restart too: %q", l)
					} else {
						assert.NotContains(t, l, "apart", "one named Deployment has no pacing: %q", l)
					}
				}
			}
		})
	}
}
