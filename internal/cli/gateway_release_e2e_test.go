package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/fixtures"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/summary"
)

// TestTheShippedGatewayMoveKeepsOneAddressAndThePerReleaseServiceVariantFailsTheGate runs the default
// scenario's own gateway steps — gateway-old, migrate-gateway, remove-old-gateway and its
// gatewayAddressStable gate, exactly as `plan istio-canary -o yaml` resolves them — with the real gateway
// chart on the real API server, twice:
//   - as shipped (service.type None behind the stable Service of fixture "ingress"): the address and its
//     ready endpoints hold through the move, the gate passes;
//   - the per-release-Service variant (--var GATEWAY_SERVICE_TYPE=ClusterIP --var
//     INGRESS_SERVICE=istio-ingress-1-29, Istio's Helm install default): the Service clients use goes with
//     the old release, and the gate fails naming remove-old-gateway.
//
// Only the chart's location (the module's chart instead of Istio's Helm repository), the namespace and the
// cluster are replaced. No istiod is installed, so no injector webhook exists and kwok runs the gateway pods
// uninjected; traffic goes to a loopback server (nothing connects to a kwok pod IP).
func TestTheShippedGatewayMoveKeepsOneAddressAndThePerReleaseServiceVariantFailsTheGate(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	charts := testenv.IstioCharts(t)
	testenv.HelmHome(t)
	srv := testserver.New(time.Second)
	defer srv.Close()

	t.Run("as shipped: one stable Service", func(t *testing.T) {
		ns := e.Namespace(t, "gw-stable")
		stableIngressService(t, e, ns, 30097)
		dir := runShippedGatewaySteps(t, e, srv, filepath.Join(charts, "gateway"), ns)
		gate := gatewayGate(t, dir)
		assert.True(t, gate.Passed, gate.Summary)
		assert.Contains(t, gate.Summary, "Service "+ns+"/istio-ingressgateway kept NodePort")
		assert.Contains(t, gate.Summary, "with ready endpoints throughout")
		for _, name := range []string{"istio-ingress-1-29", "istio-ingress-1-30"} {
			_, err := e.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
			assert.Error(t, err, "service.type None: release %s made no Service of its own", name)
		}
	})

	t.Run("per-release Service: the address goes with the old release", func(t *testing.T) {
		ns := e.Namespace(t, "gw-per-release")
		dir := runShippedGatewaySteps(t, e, srv, filepath.Join(charts, "gateway"), ns,
			"--var", "GATEWAY_SERVICE_TYPE=ClusterIP", "--var", "INGRESS_SERVICE=istio-ingress-1-29")
		gate := gatewayGate(t, dir)
		assert.False(t, gate.Passed, gate.Summary)
		assert.Contains(t, gate.Summary, "Service "+ns+"/istio-ingress-1-29 was absent")
		assert.Equal(t, []string{"remove-old-gateway"}, gate.Steps, "blamed on the step that removed it")
		_, err := e.Client.CoreV1().Services(ns).Get(context.Background(), "istio-ingress-1-30", metav1.GetOptions{})
		assert.NoError(t, err, "the new release has a Service of its own: another address")
	})
}

// stableIngressService creates fixture "ingress"'s Service (the stable address both gateway revisions serve
// behind) in ns, on another node port: node ports are cluster-wide and other tests use 30080.
func stableIngressService(t *testing.T, e *testenv.Env, ns string, nodePort int32) {
	t.Helper()
	raw, err := fixtures.Manifest("ingress")
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(raw), "\n---")
	var svc corev1.Service
	require.NoError(t, yaml.UnmarshalStrict([]byte(first), &svc))
	require.Equal(t, "istio-ingressgateway", svc.Name, "the fixture's first object is the stable Service")
	svc.Namespace = ns
	require.Len(t, svc.Spec.Ports, 1)
	svc.Spec.Ports[0].NodePort = nodePort
	_, err = e.Client.CoreV1().Services(ns).Create(context.Background(), &svc, metav1.CreateOptions{})
	require.NoError(t, err)
}

// runShippedGatewaySteps resolves istio-canary with vars (plan -o yaml), keeps its gateway steps and gate,
// points them at chart, ns and the test cluster, runs them under a loopback stream and expects the exit code
// the gate's verdict gives; it returns the report directory.
func runShippedGatewaySteps(t *testing.T, e *testenv.Env, srv *testserver.Server, chart, ns string, vars ...string) string {
	t.Helper()
	plan := runCLI(t, append([]string{"plan", "istio-canary", "--no-env", "-o", "yaml"}, vars...)...)
	require.Equal(t, 0, plan.code, plan.stderr)
	var sc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(plan.stdout), &sc))
	pick := func(list string, names ...string) []any {
		var out []any
		for _, name := range names {
			found := false
			for _, s := range sc[list].([]any) {
				st := s.(map[string]any)
				if st["name"] != name {
					continue
				}
				found = true
				st["cluster"] = "test"
				for _, kind := range []string{"helmInstall", "migrateGateway", "helmUninstall"} {
					if a, ok := st[kind].(map[string]any); ok {
						a["namespace"] = ns
						if _, ok := a["chart"]; ok {
							a["chart"] = chart
							delete(a, "repo")
							delete(a, "version")
						}
					}
				}
				out = append(out, st)
			}
			require.True(t, found, "istio-canary has no %s step %s", list, name)
		}
		return out
	}
	var gates []any
	for _, c := range sc["checks"].([]any) {
		if g, ok := c.(map[string]any)["gatewayAddressStable"].(map[string]any); ok {
			g["namespace"] = ns
			gates = append(gates, c)
		}
	}
	require.Len(t, gates, 1, "istio-canary has one gatewayAddressStable gate")
	run := map[string]any{
		"name":     "istio-canary-gateway-steps",
		"clusters": []any{map[string]any{"name": "test", "provider": "existing", "kubeconfig": e.Kubeconfig}},
		"traffic": map[string]any{"warmup": "500ms", "cooldown": "500ms",
			"streams": []any{map[string]any{"name": "app", "url": srv.URL + "/", "rate": "10/s"}}},
		"setup":  pick("setup", "gateway-old"),
		"steps":  pick("steps", "migrate-gateway", "remove-old-gateway"),
		"checks": gates,
	}
	raw, err := yaml.Marshal(run)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "gateway-steps.yaml")
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	dir := t.TempDir()
	res := runCLI(t, "run", file, "--no-env", "--yes", "--out", dir)
	gate := gatewayGate(t, dir)
	want := 0
	if !gate.Passed {
		want = 1
	}
	require.Equal(t, want, res.code, "exit code follows the gate (%s)\n%s", gate.Summary, res.stderr)
	summ, err := summary.Read(dir)
	require.NoError(t, err)
	var steps []string
	for _, p := range summ.Phases {
		if p.IsStep() {
			steps = append(steps, p.Name)
			assert.Equal(t, summary.OutcomePassed, p.Outcome, "step %s: %s", p.Name, p.Error)
		}
	}
	require.Equal(t, []string{"gateway-old", "migrate-gateway", "remove-old-gateway"}, steps, "the gate, not a step, decides")
	return dir
}
