package release_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modulePath = "github.com/canarygate/canarygate"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// `go install …/cmd/canarygate@vX.Y.Z` as a user runs it: the module from a proxy (here a file:// one holding
// this tree as vX.Y.Z, laid out by the GOPROXY protocol), its dependencies from the configured proxy and module
// cache, checked against the module's own go.sum. `canarygate version` then reports vX.Y.Z, from the build
// information Go records, without any -ldflags.
func TestGoInstallAtAVersionReportsThatVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds canarygate from a module proxy (a minute or two)")
	}
	// A version no earlier run used: the module cache keeps what it extracted, read-only, per version.
	version := fmt.Sprintf("v0.99.0-installtest.%d", time.Now().UnixNano())
	proxy := t.TempDir()
	writeModule(t, proxy, version)
	gomodcache := goEnv(t, "GOMODCACHE")
	t.Cleanup(func() { removeFromModCache(t, gomodcache, version) })

	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", modulePath+"/cmd/canarygate@"+version)
	cmd.Dir = t.TempDir() // outside any module, as a user's shell would be
	cmd.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"GOPROXY=file://"+filepath.ToSlash(proxy)+","+goEnv(t, "GOPROXY"),
		// The module is not in the checksum database (the dependencies are in its go.sum).
		"GONOSUMDB="+modulePath, "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go install: %s", out)

	got, err := exec.CommandContext(ctx, filepath.Join(gobin, "canarygate"), "version").CombinedOutput()
	require.NoError(t, err, "%s", got)
	assert.True(t, strings.HasPrefix(string(got), "canarygate "+version+" "), "canarygate version printed %q", got)
}

// writeModule lays out this tree as module version v in a file-based proxy: @v/list, .info, .mod and the
// .zip that golang.org/x/mod/zip makes (the go command's own format and checks).
func writeModule(t *testing.T, proxy, v string) {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(proxy, modulePath, "@v")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "list"), []byte(v+"\n"), 0o644))
	info, err := json.Marshal(map[string]string{"Version": v, "Time": time.Now().UTC().Format(time.RFC3339)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, v+".info"), info, 0o644))
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, v+".mod"), gomod, 0o644))

	// What git would commit of this tree (tracked, and new files not ignored): not bin/ or dist/.
	src := filepath.Join(t.TempDir(), "src")
	copyTree(t, root, src)
	f, err := os.Create(filepath.Join(dir, v+".zip"))
	require.NoError(t, err)
	require.NoError(t, modzip.CreateFromDir(f, module.Version{Path: modulePath, Version: v}, src))
	require.NoError(t, f.Close())
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.Command("git", "-C", from, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err)
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(from, rel))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(to, rel), data, 0o644))
	}
}

// removeFromModCache deletes the test's version from the module cache (read-only there) and its download
// cache entries.
func removeFromModCache(t *testing.T, gomodcache, v string) {
	extracted := filepath.Join(gomodcache, modulePath+"@"+v)
	_ = filepath.Walk(extracted, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	assert.NoError(t, os.RemoveAll(extracted))
	matches, _ := filepath.Glob(filepath.Join(gomodcache, "cache", "download", modulePath, "@v", v+".*"))
	for _, m := range matches {
		assert.NoError(t, os.Remove(m))
	}
	// The cached version list, when it names only test versions.
	list := filepath.Join(gomodcache, "cache", "download", modulePath, "@v", "list")
	if data, err := os.ReadFile(list); err == nil {
		for _, l := range strings.Fields(string(data)) {
			if !strings.Contains(l, "-installtest.") {
				return
			}
		}
		assert.NoError(t, os.Remove(list))
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// make release's script, for this machine's platform only (the four cross-compiles are CI's): an archive
// holding a static binary that reports the version it was given, and a SHA256SUMS that verifies it.
func TestReleaseArchivesAStaticBinaryAndItsChecksum(t *testing.T) {
	if testing.Short() {
		t.Skip("builds canarygate (a minute)")
	}
	dist := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const version = "v0.99.1-releasetest"
	target := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "hack", "release.sh"))
	cmd.Env = append(os.Environ(), "VERSION="+version, "TARGETS="+target, "DIST="+dist)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	name := fmt.Sprintf("canarygate_%s_%s_%s", version, runtime.GOOS, runtime.GOARCH)
	archive := filepath.Join(dist, name+".tar.gz")
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	require.NoError(t, err)
	data, err := os.ReadFile(archive)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:])+"  "+name+".tar.gz\n", string(sums))

	bin := filepath.Join(t.TempDir(), "canarygate")
	files := untar(t, archive, name, bin)
	assert.ElementsMatch(t, []string{name + "/canarygate", name + "/README.md"}, files)
	got, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", got)
	assert.True(t, strings.HasPrefix(string(got), "canarygate "+version+" "+target+" "), "%s", got)
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		require.NoError(t, err)
		defer f.Close()
		for _, p := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary names no dynamic loader")
		}
	}
}

// untar lists the archive's entries and writes its binary to bin.
func untar(t *testing.T, archive, name, bin string) []string {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	var files []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		files = append(files, h.Name)
		assert.Zero(t, h.Uid, "%s: owned by 0", h.Name)
		if h.Name == name+"/canarygate" {
			assert.NotZero(t, h.Mode&0o100, "executable")
			out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			require.NoError(t, err)
			_, err = io.Copy(out, tr)
			require.NoError(t, err)
			require.NoError(t, out.Close())
		}
	}
	return files
}
