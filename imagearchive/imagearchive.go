// Package imagearchive packages a static Linux binary as a container image archive, in process: FROM
// scratch (or a rootfs tarball as the lower layer), one layer holding the binary, the binary as entrypoint. The archive is in the `docker save`
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
	// Port is documented as exposed (none when 0).
	Port int
	// Dir is the directory the binary goes to ("/" when empty).
	Dir string
	// User runs the entrypoint (the distroless nonroot 65532:65532 when empty).
	User string
	// Base, when set, is an uncompressed rootfs tarball put below the binary's layer: for programs that run
	// other programs (kube-proxy runs iptables).
	Base string
}

// Image builds the image.
func Image(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.Ref, err)
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	target := path.Join("/", dir, path.Base(s.Binary))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed timestamp keeps the layer, and so the image digest, reproducible.
	mtime := time.Unix(0, 0)
	// Parent directories first: an image's layer must create what it writes into.
	for _, d := range parents(target) {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
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
	layers := []v1.Layer{layer}
	if s.Base != "" {
		base, err := tarball.LayerFromFile(s.Base)
		if err != nil {
			return nil, fmt.Errorf("image %s: base %w", s.Ref, err)
		}
		layers = []v1.Layer{base, layer}
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
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
	pathEnv := "PATH=/"
	if dir != "/" || s.Base != "" {
		pathEnv = "PATH=" + dir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	cfg.Config.Env = append([]string{pathEnv}, s.Env...)
	cfg.Config.User = s.User
	if cfg.Config.User == "" {
		cfg.Config.User = "65532:65532"
	}
	if s.Port > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{fmt.Sprintf("%d/tcp", s.Port): {}}
	}
	return mutate.ConfigFile(img, cfg)
}

// parents lists the directories above file, outermost first, without the leading slash.
func parents(file string) []string {
	var out []string
	for d := path.Dir(file); d != "/" && d != "."; d = path.Dir(d) {
		out = append([]string{d[1:]}, out...)
	}
	return out
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
