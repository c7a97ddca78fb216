package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's layout names every top-level folder that holds a package, as `go list` finds them: a package
// added (or moved) without the README saying where it lives fails here.
func TestTheReadmeLayoutNamesEveryPackageFolder(t *testing.T) {
	root := filepath.Join("..", "..")
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}", "./...")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	layout := string(readme)
	i := strings.Index(layout, "- Layout:")
	require.GreaterOrEqual(t, i, 0, "the README has a layout list")
	layout = layout[i:]
	if j := strings.Index(layout, "\n\n"); j >= 0 {
		layout = layout[:j] // the list alone, not the rest of the README
	}
	seen := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "github.com/canarygate/canarygate"), "/")
		seg, _, _ := strings.Cut(rel, "/")
		if seg == "" || seen[seg] {
			continue
		}
		seen[seg] = true
		assert.Regexp(t, regexp.MustCompile("`"+regexp.QuoteMeta(seg)+"[`/]"), layout, "the README's layout does not name %s/ (package %s)", seg, rel)
	}
	assert.Greater(t, len(seen), 10)
}
