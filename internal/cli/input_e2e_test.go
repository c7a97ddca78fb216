package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"

	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// Bad input is found before anything starts: exit 2, the flag or field named, nothing measured or written.
func TestBadInputIsCaughtBeforeAnythingStarts(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"--format", "pdf"}, `--format "pdf": expected one of html, junit, json, markdown, vegeta`},
		{"misspelt var, strict", []string{"--var", "TAGRET=http://x", "--strict-vars"}, "--var TAGRET: not referenced by scenario http-example (its variables: COOLDOWN, OUT, RATE, SETTLE, TARGET, UPGRADE_CMD, WARMUP)"},
		{"var that is no name", []string{"--var", "TAR-GET=x"}, `"TAR-GET" is not a variable name`},
		{"missing command", []string{"--var", "UPGRADE_CMD=/nonexistent/upgrade.sh"}, `steps[0].run.command: "/nonexistent/upgrade.sh": no such file`},
		{"command not on PATH", []string{"--var", "UPGRADE_CMD=istioctll"}, `steps[0].run.command: "istioctll" is not found on PATH`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			args := []string{"run", "http-example", "--no-env", "--var", "TARGET=" + srv.URL, "--var", "OUT=" + dir}
			res := runCLI(t, append(args, c.args...)...)
			assert.Equal(t, 2, res.code)
			assert.Contains(t, res.stderr, c.want)
			assert.NoDirExists(t, dir, "nothing ran, nothing was written")
			assert.Zero(t, srv.Served(), "no request was sent")
		})
	}
}

// A step command this machine lacks is not a fault of the scenario: validate passes it with a warning naming
// the line (a lint job without az or istioctl can still check the file), --strict makes it bad input, and
// run refuses it before anything starts (above).
func TestACommandNotOnPathIsAWarningForValidate(t *testing.T) {
	res := runCLI(t, "validate", "http-example", "--no-env", "--var", "UPGRADE_CMD=az-not-installed")
	assert.Equal(t, 0, res.code)
	assert.Contains(t, res.stderr, `⚠ scenarios/http-example.yaml:`)
	assert.Contains(t, res.stderr, `steps[0].run.command: "az-not-installed" is not found on PATH (expected a program name on PATH or a path to an executable) (run refuses this before anything starts)`)
	assert.Contains(t, res.stdout, "✓ http-example")

	res = runCLI(t, "validate", "http-example", "--no-env", "--var", "UPGRADE_CMD=az-not-installed", "--strict")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "✗ http-example (scenarios/http-example.yaml): valid, but not runnable on this machine (--strict)")
}

func TestFormatsAreCheckedAndCaseInsensitive(t *testing.T) {
	t.Setenv(envOK, "upgraded")
	srv := testserver.New(time.Second)
	defer srv.Close()
	dir := t.TempDir()
	res := runCLI(t, exampleArgs(srv, dir, "--var", "WARMUP=200ms", "--var", "COOLDOWN=200ms", "--var", "SETTLE=100ms", "--format", "HTML,json")...)
	require.Equal(t, 0, res.code)
	assert.FileExists(t, filepath.Join(dir, "report.html"))
	assert.FileExists(t, filepath.Join(dir, summary.FileName))
	assert.NoFileExists(t, filepath.Join(dir, "junit.xml"), "only what was asked")
	assert.Contains(t, res.stdout, "reports in "+dir+" (report.html, summary.json)")

	res = runCLI(t, "report", dir, "--format", "pdf")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, `--format "pdf": expected one of html, junit, markdown`)
	res = runCLI(t, "report", dir, "--format", "JUnit")
	assert.Equal(t, 0, res.code)
	assert.FileExists(t, filepath.Join(dir, "junit.xml"))
}

func TestAnUnreferencedVarIsAWarningWithoutStrictVars(t *testing.T) {
	res := runCLI(t, "validate", "http-example", "--no-env", "--var", "TAGRET=x")
	assert.Equal(t, 0, res.code)
	assert.Contains(t, res.stderr, "! warning: --var TAGRET: not referenced by scenario http-example")
}

func TestNotFoundIsBadInputForEveryVerb(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"scenarios", "--show", "nosuch"},
		{"run", "nosuch"},
		{"validate", "nosuch"},
		{"plan", "nosuch"},
		{"report", missing},
		{"compare", missing, missing},
		{"trend", missing},
	} {
		res := runCLI(t, args...)
		assert.Equal(t, 2, res.code, "%v", args)
	}
	res := runCLI(t, "scenarios", "--show", "nosuch")
	assert.Contains(t, res.stderr, `--show "nosuch": no shipped scenario of that name (shipped: http-example`)
}

func TestScenariosShowPrintsTheShippedFile(t *testing.T) {
	res := runCLI(t, "scenarios", "--show", "http-example")
	require.Equal(t, 0, res.code)
	src, err := scenarios.Source("http-example")
	require.NoError(t, err)
	assert.Equal(t, string(src), res.stdout)
}

func TestPlanYAMLIsTheScenarioWithEveryDefaultAndParsesAgain(t *testing.T) {
	res := runCLI(t, "plan", "http-example", "--no-env", "-o", "yaml")
	require.Equal(t, 0, res.code)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(res.stdout), &doc))
	traffic := doc["traffic"].(map[string]any)
	stream := traffic["streams"].([]any)[0].(map[string]any)
	// The README's documented defaults, not the package's own variables.
	assert.Equal(t, "2s", stream["timeout"], "the scenario's own value")
	assert.Equal(t, "GET", stream["method"])
	assert.Equal(t, []any{200}, stream["expect"])
	assert.Equal(t, "3s", traffic["warmup"])
	path := filepath.Join(t.TempDir(), "planned.yaml")
	require.NoError(t, os.WriteFile(path, []byte(res.stdout), 0o644))
	assert.Equal(t, 0, runCLI(t, "validate", path, "--no-env").code, "the planned scenario is itself valid")
}

func TestVersionPrintsTheVersion(t *testing.T) {
	res := runCLI(t, "version")
	require.Equal(t, 0, res.code)
	assert.Regexp(t, `^canarygate \S+ linux/\w+ go1\.\d+`, res.stdout)
}

// A 5 MB file of unknown keys answers with exit 2 and at most 100 problems, in bounded time. The benchmark
// BenchmarkParseMalformed in scenarios measures it (well under 1 s); the bound here is generous for a busy
// machine.
func TestAHugeMalformedScenarioExits2WithAtMost100Problems(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\ntraffic:\n  streams:\n    - name: s\n      url: http://127.0.0.1:1/\nsteps:\n  - name: x\n    soak: {duration: 1s}\n")
	for i := 0; b.Len() < 5<<20; i++ {
		fmt.Fprintf(&b, "unknownkey%d: value%d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	start := time.Now()
	res := runCLI(t, "validate", path)
	took := time.Since(start)
	t.Logf("validate of a 5 MB malformed file: %s", took)
	assert.Equal(t, 2, res.code)
	assert.LessOrEqual(t, strings.Count(res.stderr, path+":"), 101, "the header line and at most 100 problems")
	assert.Contains(t, res.stderr, "… and ")
	assert.Less(t, took, 20*time.Second)
}

// A run step acts on the cluster it names: its command gets that cluster's kubeconfig with the scenario's
// context as the current one, not the ambient kubeconfig (nor the file's own current context). No
// connection is made: the servers are closed loopback ports.
func TestARunStepGetsTheKubeconfigOfItsCluster(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: lab, cluster: {server: "https://127.0.0.1:1"}}
- {name: prod, cluster: {server: "https://127.0.0.1:2"}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: lab, context: {cluster: lab, user: admin}}
- {name: prod, context: {cluster: prod, user: admin}}
current-context: prod
`), 0o600))
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "ambient"))
	sc := writeScenario(t, `name: kubeconfig
clusters:
  - {name: rehearsal, provider: existing, kubeconfig: "`+kubeconfig+`", context: lab}
traffic:
  warmup: 100ms
  cooldown: 100ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 10/s}]
steps:
  - name: upgrade
    run:
      command: sh
      args: ["-c", "echo cluster=$$CANARYGATE_CLUSTER; grep -E 'current-context|server' \"$$KUBECONFIG\""]
`)
	dir := t.TempDir()
	res := runCLI(t, "plan", sc, "--no-env")
	require.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "KUBECONFIG of cluster rehearsal")

	res = runCLI(t, "run", sc, "--no-env", "--yes", "--out", dir)
	require.Equal(t, 0, res.code)
	run, err := summary.Read(dir)
	require.NoError(t, err)
	out := run.Phases[run.PhaseIndex("upgrade")].Output
	assert.Contains(t, out, "cluster=rehearsal")
	assert.Contains(t, out, "current-context: lab")
	assert.Contains(t, out, "https://127.0.0.1:1")
	assert.NotContains(t, out, "https://127.0.0.1:2", "only the named context's cluster")
}

// The default scenario follows Istio's "Upgrade with Helm" order: base (CRDs) first keeping the old default
// revision, the canary istiod, gateways, workloads, the default revision, the old istiod last.
func TestTheDefaultScenarioFollowsIstiosHelmUpgradeOrder(t *testing.T) {
	res := runCLI(t, "plan", "istio-canary", "--no-env")
	require.Equal(t, 0, res.code)
	order := []string{"upgrade-base-crds", "install-new-revision", "migrate-gateway", "remove-old-gateway", "move-demo-a", "move-demo-b", "default-revision-new", "uninstall-old-control-plane"}
	last := -1
	for _, step := range order {
		i := strings.Index(res.stdout, " "+step+" ")
		require.GreaterOrEqual(t, i, 0, "step %s planned", step)
		assert.Greater(t, i, last, "%s comes after the step before it in Istio's order", step)
		last = i
	}
	assert.Regexp(t, `upgrade-base-crds +\[helmUpgrade\] helm upgrade release istio-system/istio-base .* base@1\.30\.3`, res.stdout)
	sc, err := scenarios.Load("istio-canary", scenarios.Vars{})
	require.NoError(t, err)
	for _, st := range sc.Steps {
		if st.Name == "upgrade-base-crds" {
			assert.Equal(t, "1-29", st.Action.(*scenarios.HelmAction).Values["defaultRevision"], "base upgraded first keeps the old default revision")
		}
	}
}

// istio-tags-rollback rehearses AKS's rollback: prod-stable was pointed at the new revision and everything
// restarted onto it; the rollback points prod-stable back at the old revision and restarts every workload.
func TestTheTagsRollbackScenarioRePointsProdStableAndRestartsEverything(t *testing.T) {
	sc, err := scenarios.Load("istio-tags-rollback", scenarios.Vars{})
	require.NoError(t, err)
	index := map[string]int{}
	for i, st := range sc.Steps {
		index[st.Name] = i
	}
	promote := sc.Steps[index["promote-prod-stable"]].Action.(*scenarios.SetTagAction)
	assert.Equal(t, scenarios.SetTagAction{Tag: "prod-stable", Revision: "1-30"}, scenarios.SetTagAction{Tag: promote.Tag, Revision: promote.Revision})
	rb := sc.Steps[index["rollback"]].Action.(*scenarios.RollbackAction)
	assert.Equal(t, map[string]string{"prod-stable": "1-29"}, rb.Tags)
	assert.Equal(t, []string{"demo-a", "demo-b"}, rb.Namespaces, "every workload restarts")
	assert.Equal(t, "prod-stable", rb.To)
	assert.Less(t, index["promote-prod-stable"], index["rollback"])
	assert.Less(t, index["rollback"], index["uninstall-new-control-plane"])
}

// TestIstioVersionRulesAsIstioDocumentsThem: a canary (revision) upgrade may jump two minors — Istio's canary
// guide says so and its own suite rehearses 1.N → 1.N+2 — so 1.28 → 1.30 is accepted, the rule cited, on a
// node image both support (1.32–1.34: 1.34); three minors are refused (exit 2) unless --allow-skip; a
// scenario's policy.maxMinorJump: 1 (the AKS add-on's rule) refuses the two-minor jump naming the policy; an
// in-place upgrade of one istiod release may jump one minor only.
func TestIstioVersionRulesAsIstioDocumentsThem(t *testing.T) {
	for _, verb := range []string{"validate", "plan"} {
		res := runCLI(t, verb, "istio-canary", "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.30.3")
		assert.Equal(t, 0, res.code, "%s: a two-minor canary jump is supported: %s", verb, res.stderr)

		res = runCLI(t, verb, "istio-canary", "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.31.0")
		assert.Equal(t, 2, res.code, verb)
		assert.Contains(t, res.stderr, "step install-new-revision: canary upgrade 1.28.10 → 1.31.0 crosses 3 minor versions, at most 2 allowed (istio.io/latest/docs/setup/upgrade/canary", verb)
		assert.Contains(t, res.stderr, "--allow-skip", verb)
		res = runCLI(t, verb, "istio-canary", "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.31.0", "--allow-skip")
		assert.Equal(t, 0, res.code, "%s --allow-skip: %s", verb, res.stderr)
	}
	res := runCLI(t, "plan", "istio-canary", "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.30.3")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Istio 1.28.10 → 1.30.3 at step install-new-revision: canary upgrade across 2 minor version(s), at most 2: allowed — istio.io/latest/docs/setup/upgrade/canary")
	assert.Contains(t, res.stdout, "supported together on Kubernetes 1.32–1.34 (rehearse on 1.34)")
	assert.Contains(t, res.stdout, "kindest/node:v1.34.11@sha256:")

	// A release newer than the support table: a warning and the newest known range (1.30's, 1.32–1.36),
	// never an error.
	res = runCLI(t, "plan", "istio-canary", "--no-env", "--var", "OLD=1.30.3", "--var", "NEW=1.31.0")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "! Istio 1.31.0 is newer than canarygate's support table")
	assert.Contains(t, res.stdout, "supported together on Kubernetes 1.32–1.36 (rehearse on 1.36)")
	assert.Contains(t, res.stdout, "kindest/node:v1.36.4@sha256:")

	dir := t.TempDir()
	shipped, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "istio-canary.yaml"))
	require.NoError(t, err)
	tight := filepath.Join(dir, "aks-like.yaml")
	require.NoError(t, os.WriteFile(tight, append(shipped, []byte("\npolicy:\n  maxMinorJump: 1\n")...), 0o644))
	res = runCLI(t, "validate", tight, "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.30.3")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "canary upgrade 1.28.10 → 1.30.3 crosses 2 minor versions, at most 1 allowed (the scenario's policy.maxMinorJump: 1)")
	res = runCLI(t, "validate", tight, "--no-env", "--var", "OLD=1.29.6", "--var", "NEW=1.30.3")
	assert.Equal(t, 0, res.code, res.stderr)

	inPlace := filepath.Join(dir, "in-place.yaml")
	require.NoError(t, os.WriteFile(inPlace, []byte(`name: in-place
clusters: [{name: c, provider: existing}]
traffic:
  streams: [{name: s, url: "http://127.0.0.1:1/"}]
setup:
  - name: install-istiod
    helmInstall: {release: istiod, namespace: istio-system, repo: "https://istio-release.storage.googleapis.com/charts", chart: istiod, version: "${OLD}"}
steps:
  - name: upgrade-in-place
    helmUpgrade: {release: istiod, namespace: istio-system, repo: "https://istio-release.storage.googleapis.com/charts", chart: istiod, version: "${NEW}"}
`), 0o644))
	res = runCLI(t, "validate", inPlace, "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.30.3")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "step upgrade-in-place: in-place upgrade 1.28.10 → 1.30.3 crosses 2 minor versions, at most 1 allowed (istio.io/latest/docs/setup/upgrade/in-place")
	res = runCLI(t, "validate", inPlace, "--no-env", "--var", "OLD=1.29.6", "--var", "NEW=1.30.3")
	assert.Equal(t, 0, res.code, res.stderr)
}

// TestPlanSaysWhichKubernetesThePairIsSupportedOn: Istio 1.29 and 1.30 are supported together on Kubernetes
// 1.32–1.35, so the kind cluster gets kind v0.33.0's 1.35 image (1.28 → 1.29: 1.34) unless the scenario
// names one; a named image outside the range (kind's default 1.37) is kept and warned about.
func TestPlanSaysWhichKubernetesThePairIsSupportedOn(t *testing.T) {
	res := runCLI(t, "plan", "istio-canary", "--no-env", "--var", "OLD=1.29.6", "--var", "NEW=1.30.3")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "Istio 1.29.6, 1.30.3: supported together on Kubernetes 1.32–1.35 (rehearse on 1.35)")
	assert.Contains(t, res.stdout, "cluster canarygate: node image kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0 (kind v0.33.0's Kubernetes 1.35 image, chosen for this pair")
	assert.NotContains(t, res.stdout, "outside")

	res = runCLI(t, "plan", "istio-canary", "--no-env", "--var", "OLD=1.28.10", "--var", "NEW=1.29.6", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "nodeImage: kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d", "the chosen image is the scenario's default")

	res = runCLI(t, "plan", "istio-canary", "--no-env", "--var", "OLD=1.29.6", "--var", "NEW=1.30.3", "--var", "NODE_IMAGE=kindest/node:v1.37.0")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "! cluster canarygate: node image kindest/node:v1.37.0 runs Kubernetes 1.37, outside 1.32–1.35: set clusters[].nodeImage to a 1.35 image")
	assert.NotContains(t, res.stdout, "chosen for this pair")
}
