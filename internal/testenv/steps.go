package testenv

import (
	"context"
	"net/http"
	"path/filepath"

	"strings"
	"testing"

	_ "github.com/canarygate/canarygate/builtin" // the registered actions
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/timeline"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster returns canarygate's cluster for the control plane. Reading pod logs is off: the API server would
// fetch them from the fake node.
func (e *Env) Cluster(t testing.TB) *cluster.Cluster {
	t.Helper()
	c, err := cluster.New("test", e.Config)
	if err != nil {
		t.Fatal(err)
	}
	c.Kubeconfig = e.Kubeconfig
	c.PodLogs = false
	return c
}

// RunStep parses one step (YAML of a steps list item, e.g. "name: x\nrestart: {namespace: y}") inside a
// minimal scenario — so the step's fields go through the real parser and validation — and runs it with
// its registered executor against the control plane.
func (e *Env) RunStep(ctx context.Context, t testing.TB, stepYAML string) runner.Result {
	t.Helper()
	return e.RunStepWith(ctx, t, runner.Readers{}, stepYAML)
}

// RunStepWith is RunStep with stand-in readers (for what would leave the machine).
func (e *Env) RunStepWith(ctx context.Context, t testing.TB, readers runner.Readers, stepYAML string) runner.Result {
	t.Helper()
	return e.RunStepOn(ctx, t, e.Cluster(t), readers, stepYAML)
}

// ClusterWith is Cluster with every request to the API server going through wrap (a test counts them).
func (e *Env) ClusterWith(t testing.TB, wrap func(http.RoundTripper) http.RoundTripper) *cluster.Cluster {
	t.Helper()
	cfg := rest.CopyConfig(e.Config)
	cfg.Wrap(wrap)
	c, err := cluster.New("test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Kubeconfig = e.Kubeconfig
	c.PodLogs = false
	return c
}

// RestrictedCluster is canarygate's cluster as RestrictedUser (RestrictedConfig): only what the test granted.
func (e *Env) RestrictedCluster(t testing.TB) *cluster.Cluster {
	t.Helper()
	c, err := cluster.New("test", e.RestrictedConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.PodLogs = false
	return c
}

// RestrictedKubeconfig writes a kubeconfig of RestrictedUser (for commands that take --kubeconfig) and
// returns its path.
func (e *Env) RestrictedKubeconfig(t testing.TB) string {
	t.Helper()
	cfg := e.RestrictedConfig()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, InsecureSkipTLSVerify: true}
	kc.AuthInfos[RestrictedUser] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: RestrictedUser}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig-restricted")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// RunStepOn is RunStepWith on a given cluster client.
func (e *Env) RunStepOn(ctx context.Context, t testing.TB, c *cluster.Cluster, readers runner.Readers, stepYAML string) runner.Result {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: step-test\nclusters: [{name: test, provider: existing, allowDisruption: true}]\ntraffic:\n  streams: [{name: none, url: \"http://127.0.0.1:1/\"}]\nsteps:\n  - ")
	b.WriteString(strings.ReplaceAll(strings.TrimSpace(stepYAML), "\n", "\n    "))
	b.WriteString("\n")
	sc, err := scenarios.Parse("step.yaml", []byte(b.String()), scenarios.Vars{})
	if err != nil {
		t.Fatalf("step does not parse:\n%s\n%v", b.String(), err)
	}
	tl := timeline.New()
	r := &runner.Runner{Scenario: sc, Timeline: tl, Clusters: cluster.NewSet(c), Readers: readers}
	res, _ := r.Run(ctx, sc.Steps, timeline.KindStep)
	if len(res) != 1 {
		t.Fatalf("expected one step result, got %d", len(res))
	}
	t.Logf("step %q: %s %v\nchanges:\n  %s\ndiagnostics:\n  %s\noutput:\n%s", res[0].Name, res[0].Outcome, res[0].Err,
		strings.Join(res[0].Changes, "\n  "), strings.Join(res[0].Diagnostics, "\n  "), res[0].Output)
	return res[0]
}
