package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rehearse runs hack/rehearse.sh (what `make rehearse` runs) with a make that only records the target it was
// asked for, and returns that target and what the script said.
func rehearse(t *testing.T, env ...string) (target, said string) {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "target")
	fakeMake := filepath.Join(dir, "make")
	require.NoError(t, os.WriteFile(fakeMake, []byte("#!/bin/sh\necho \"$2\" > "+record+"\n"), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "rehearse.sh"))
	cmd.Env = append(os.Environ(), append([]string{"MAKE=" + fakeMake, "CANARYGATE_OFFLINE="}, env...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := os.ReadFile(record)
	require.NoError(t, err)
	return string(got[:len(got)-1]), string(out)
}

// make rehearse rehearses the default scenario where its registries answer, the offline lab where they do not
// or where CANARYGATE_OFFLINE=1 says so — and says which and why.
func TestMakeRehearseFallsBackToTheLabWithoutARegistry(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	srv := registry(t)
	target, said := rehearse(t, "REGISTRY_PROBES="+srv.URL+"/v2/kindest/node/manifests/v1.35.8 "+srv.URL+"/charts/index.yaml")
	assert.Equal(t, "rehearse-online", target)
	assert.Contains(t, said, "the registries answer — rehearsing istio-canary")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "http://" + l.Addr().String() + "/v2/kindest/node/manifests/v1.35.8"
	require.NoError(t, l.Close())
	start := time.Now()
	target, said = rehearse(t, "REGISTRY_PROBES="+srv.URL+"/charts/index.yaml "+refused)
	assert.Equal(t, "lab", target)
	assert.Contains(t, said, "make rehearse: cannot pull: "+l.Addr().String()+": ")
	assert.Contains(t, said, "rehearsing the offline lab instead")
	assert.Contains(t, said, "this was the offline lab (istio-lab), not istio-canary")
	assert.Less(t, time.Since(start), time.Minute, "decided before building anything big")

	target, said = rehearse(t, "CANARYGATE_OFFLINE=1", "REGISTRY_PROBES="+srv.URL+"/charts/index.yaml")
	assert.Equal(t, "lab", target)
	assert.Contains(t, said, "make rehearse: CANARYGATE_OFFLINE=1 — rehearsing the offline lab instead")

	target, _ = rehearse(t, "SCENARIO=http-example", "REGISTRY_PROBES="+refused)
	assert.Equal(t, "rehearse-online", target, "another scenario runs as asked")
}
