package kind

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/scenarios"
)

// fakeCLIs puts stand-in engine CLIs on an otherwise empty PATH: each answers `info` with the given exit code
// (and a stderr line when it fails), the way a CLI with or without a reachable daemon does.
func fakeCLIs(t *testing.T, exits map[string]int) {
	t.Helper()
	dir := t.TempDir()
	for name, code := range exits {
		script := "#!/bin/sh\n[ \"$1\" = info ] || exit 64\n"
		if code != 0 {
			script += "echo 'Cannot connect to the " + name + " daemon. Is it running?' >&2\n"
		}
		script += "exit " + string(rune('0'+code)) + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755))
	}
	t.Setenv("PATH", dir)
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
}

func TestDetectEngineAsKindDoes(t *testing.T) {
	for _, c := range []struct {
		name     string
		clis     map[string]int
		provider string
		want     string
		wantErr  string
	}{
		{name: "docker answers", clis: map[string]int{"docker": 0, "podman": 0}, want: "docker"},
		{name: "docker CLI without a daemon, podman answers", clis: map[string]int{"docker": 1, "podman": 0}, want: "podman"},
		{name: "nerdctl before podman", clis: map[string]int{"nerdctl": 0, "podman": 0}, want: "nerdctl"},
		{name: "KIND_EXPERIMENTAL_PROVIDER wins", clis: map[string]int{"docker": 0, "podman": 0}, provider: "podman", want: "podman"},
		{name: "KIND_EXPERIMENTAL_PROVIDER not answering", clis: map[string]int{"docker": 0, "podman": 1}, provider: "podman",
			wantErr: "podman info: Cannot connect to the podman daemon. Is it running?"},
		{name: "KIND_EXPERIMENTAL_PROVIDER unknown", clis: map[string]int{"docker": 0}, provider: "lxc", wantErr: `KIND_EXPERIMENTAL_PROVIDER="lxc"`},
		{name: "nothing answers", clis: map[string]int{"docker": 1},
			wantErr: "docker info: Cannot connect to the docker daemon. Is it running?; nerdctl: not on PATH; podman: not on PATH"},
		{name: "nothing installed", clis: map[string]int{}, wantErr: "docker: not on PATH"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeCLIs(t, c.clis)
			if c.provider != "" {
				t.Setenv("KIND_EXPERIMENTAL_PROVIDER", c.provider)
			}
			got, opt, err := DetectEngine(context.Background())
			if c.wantErr != "" {
				require.ErrorIs(t, err, ErrNoContainerEngine)
				assert.Contains(t, err.Error(), c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.NotNil(t, opt)
		})
	}
}

func TestNoEngineIsOneClearError(t *testing.T) {
	fakeCLIs(t, map[string]int{"docker": 1})
	_, err := Provider{}.Provision(context.Background(), scenarios.Cluster{Name: "x", Provider: "kind"})
	require.ErrorIs(t, err, ErrNoContainerEngine)
	assert.NotContains(t, err.Error(), "\n", "one line")
}

// A kind cluster of the scenario's name already exists (an earlier run kept it): a clear error with the two
// ways out, not kind's "node(s) already exist" half-way through a create — and nothing is deleted.
func TestAnExistingClusterOfTheSameNameIsRefusedWithTheWaysOut(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\ncase \"$1\" in\n  info) exit 0 ;;\n  ps) echo canarygate; exit 0 ;;\nesac\nexit 64\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755))
	t.Setenv("PATH", dir)
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the run's kubeconfig directory goes
	_, err := Provider{}.Provision(context.Background(), scenarios.Cluster{Name: "canarygate", Provider: "kind"})
	require.ErrorIs(t, err, ErrClusterExists)
	left, _ := filepath.Glob(filepath.Join(tmp, "canarygate-kind-*"))
	assert.Empty(t, left, "a refused run leaves no kubeconfig directory behind")
	assert.Contains(t, err.Error(), `"canarygate" already exists: delete it (kind delete cluster --name canarygate) or run with --reuse-cluster`)
	log, err := os.ReadFile(calls)
	require.NoError(t, err)
	assert.Equal(t, []string{"info", "ps"}, firstWords(string(log)), "only asked: nothing removed, nothing created")
}

func firstWords(log string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

func TestNodeImageMinorReadsTheTag(t *testing.T) {
	for image, want := range map[string]int{
		DefaultNodeImage:                            37,
		"kindest/node:v1.35.0":                      35,
		"localhost:5000/kindest/node:v1.34.2":       34,
		"canarygate/kind-node:v1.37.2-0123456789ab": 37,
	} {
		got, ok := NodeImageMinor(image)
		assert.True(t, ok, image)
		assert.Equal(t, want, got, image)
	}
	for _, image := range []string{"kindest/node", "localhost:5000/node", "my/node:latest"} {
		_, ok := NodeImageMinor(image)
		assert.False(t, ok, image)
	}
}
