package cleanupcmd_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/internal/exitcode"
)

// Bad input is refused before any cluster is reached, with exit 2: a run ID no label could carry, and a
// kubeconfig that does not exist.
func TestCleanupRefusesBadInput(t *testing.T) {
	out, code := cleanup(t, "--run", "not a run", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, exitcode.BadInput, code)
	assert.Contains(t, out, `--run: not a run ID "not a run"`)

	out, code = cleanup(t, "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, exitcode.BadInput, code)
	assert.Contains(t, out, "load kubeconfig")
}
