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

// TestBaseAndDirPutTheBinaryOverARootfs: an image for a program that runs others (kube-proxy runs iptables)
// has the rootfs tarball as its lower layer, the binary in its directory above it, a PATH that finds both, and
// the user asked for.
func TestBaseAndDirPutTheBinaryOverARootfs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kube-proxy")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755))
	base := filepath.Join(dir, "rootfs.tar")
	bf, err := os.Create(base)
	require.NoError(t, err)
	tw := tar.NewWriter(bf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "usr/sbin/iptables", Mode: 0o755, Size: 3, Typeflag: tar.TypeReg}))
	_, err = tw.Write([]byte("ipt"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, bf.Close())

	img, err := Image(Spec{Binary: bin, Ref: "registry.k8s.io/kube-proxy:v1.37.2", Arch: "amd64", Dir: "/usr/local/bin", User: "0", Base: base})
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/local/bin/kube-proxy"}, cfg.Config.Entrypoint)
	assert.Equal(t, "0", cfg.Config.User)
	assert.Contains(t, cfg.Config.Env[0], "/usr/local/bin:")
	assert.Contains(t, cfg.Config.Env[0], ":/usr/sbin:")
	assert.Empty(t, cfg.Config.ExposedPorts)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 2)
	names := func(l interface{ Uncompressed() (io.ReadCloser, error) }) []string {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		defer rc.Close()
		var out []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, h.Name)
		}
	}
	assert.Equal(t, []string{"usr/sbin/iptables"}, names(layers[0]))
	assert.Equal(t, []string{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/kube-proxy"}, names(layers[1]))
}
