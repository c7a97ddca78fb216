// Package imagearchive packages a static Linux binary as a container image archive, in process: FROM
// scratch, one layer holding the binary, the binary as entrypoint. The archive is in the `docker save`
// layout (manifest.json, config, layer tarballs) that `ctr images import` — and so kind's image loading —
// accepts. No Docker build and no registry are involved.
package imagearchive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec says what to package.
type Spec struct {
	// Binary is the path of a static linux binary (CGO_ENABLED=0).
	Binary string
	// Ref is the image reference, e.g. canarygate/demo-app:dev (docker.io is implied, as kind expects).
	Ref string
	// Arch is the node architecture (amd64, arm64).
	Arch string
	// Env is the image's environment.
	Env []string
	// Port is documented as exposed.
	Port int
}

// Image builds the image.
func Image(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	target := "/" + path.Base(s.Binary)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed timestamp keeps the layer, and so the image digest, reproducible.
	mtime := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: target[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", s.Arch
	cfg.Created = v1.Time{Time: mtime}
	cfg.Config.Entrypoint = []string{target}
	cfg.Config.Env = append([]string{"PATH=/"}, s.Env...)
	cfg.Config.User = "65532:65532"
	if s.Port > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{fmt.Sprintf("%d/tcp", s.Port): {}}
	}
	return mutate.ConfigFile(img, cfg)
}

// Write packages the binary and writes the archive to w.
func Write(w io.Writer, s Spec) error {
	ref, err := name.NewTag(s.Ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", s.Ref, err)
	}
	img, err := Image(s)
	if err != nil {
		return err
	}
	if err := tarball.Write(ref, img, w); err != nil {
		return fmt.Errorf("write image archive %s: %w", s.Ref, err)
	}
	return nil
}

// WriteFile writes the archive to a file.
func WriteFile(file string, s Spec) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := Write(f, s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
