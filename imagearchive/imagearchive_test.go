package imagearchive

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchiveHasTheLayoutCtrImports builds the real demo app for linux and checks the archive's layout: the
// `docker save` format (manifest.json naming the tag, the config and the layers), which `ctr images import`
// reads, with the binary in the layer and as entrypoint.
func TestArchiveHasTheLayoutCtrImports(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the demo app")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo-app")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/canarygate/canarygate/cmd/demo-app")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	archive := filepath.Join(dir, "demo-app.tar")
	require.NoError(t, WriteFile(archive, Spec{Binary: bin, Ref: "canarygate/demo-app:dev", Arch: runtime.GOARCH, Port: 8080}))

	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = data
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	require.Len(t, manifest, 1)
	assert.Equal(t, []string{"canarygate/demo-app:dev"}, manifest[0].RepoTags)
	require.Len(t, manifest[0].Layers, 1)
	require.Contains(t, files, manifest[0].Config)
	require.Contains(t, files, manifest[0].Layers[0])

	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			Entrypoint   []string
			ExposedPorts map[string]struct{}
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	require.NoError(t, json.Unmarshal(files[manifest[0].Config], &cfg))
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, runtime.GOARCH, cfg.Architecture)
	assert.Equal(t, []string{"/demo-app"}, cfg.Config.Entrypoint)
	assert.Contains(t, cfg.Config.ExposedPorts, "8080/tcp")
	assert.Len(t, cfg.RootFS.DiffIDs, 1)

	// The layer holds the binary, executable.
	img, err := tarball.ImageFromPath(archive, nil)
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	lr := tar.NewReader(rc)
	h, err := lr.Next()
	require.NoError(t, err)
	assert.Equal(t, "demo-app", h.Name)
	assert.EqualValues(t, 0o755, h.Mode)
	want, err := os.ReadFile(bin)
	require.NoError(t, err)
	assert.EqualValues(t, len(want), h.Size)
}
