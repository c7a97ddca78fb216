package cli_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/summary"
)

func TestGatewayAddressStableWatchesTheIngressServiceForTheWholeRun(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	for _, tc := range []struct {
		name, patch string
		nodePort    int32
		code        int
	}{
		{"labels only", `{"metadata":{"labels":{"touched":"yes"}}}`, 30080, 0},
		{"node port moved", `{"spec":{"ports":[{"name":"http","port":80,"targetPort":80,"nodePort":30091}]}}`, 30090, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := ingress(t, e, "ingress", tc.nodePort)
			dir := t.TempDir()
			res := runCLI(t, "run", "testdata/gateway-address.yaml", "--no-env", "--yes", "--out", dir,
				"--var", "KUBECONFIG_PATH="+e.Kubeconfig, "--var", "TARGET="+srv.URL, "--var", "NS="+ns, "--var", "PATCH="+tc.patch)
			require.Equal(t, tc.code, res.code)
			run, err := summary.Read(dir)
			require.NoError(t, err)
			var gate summary.Check
			for _, c := range run.Checks {
				if c.Kind == "gatewayAddressStable" {
					gate = c
				}
			}
			if tc.code == 0 {
				assert.True(t, gate.Passed, gate.Summary)
				assert.Contains(t, gate.Summary, "with ready endpoints throughout (1)")
				return
			}
			assert.False(t, gate.Passed)
			assert.Contains(t, gate.Summary, "changed 1 time(s)")
			assert.Contains(t, strings.Join(gate.Evidence, "\n"), "node:30090")
			assert.Contains(t, strings.Join(gate.Evidence, "\n"), "node:30091")
		})
	}
}

// ingress makes a namespace with a gateway Deployment (app=gw, run by kwok) behind a NodePort Service
// "ingress", and waits until the gateway is available: its EndpointSlice then holds one ready endpoint.
// Nothing ever connects to it: the stream targets a loopback server.
func ingress(t *testing.T, e *testenv.Env, prefix string, nodePort int32) string {
	t.Helper()
	ns := e.Namespace(t, prefix)
	createDeployment(t, e, ns, "gw", nil)
	require.NoError(t, kube.WaitRolledOut(context.Background(), e.Cluster(t), ns, "gw"))
	_, err := e.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "gw"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: nodePort}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return ns
}

// runGatewayEndpoints runs testdata/gateway-endpoints.yaml (the gateway scaled to zero and back) against the
// namespace, expects the gate to fail the run (exit 1), and returns its verdict.
func runGatewayEndpoints(t *testing.T, e *testenv.Env, srv *testserver.Server, ns string) summary.Check {
	t.Helper()
	dir := t.TempDir()
	res := runCLI(t, "run", "testdata/gateway-endpoints.yaml", "--no-env", "--yes", "--out", dir,
		"--var", "KUBECONFIG_PATH="+e.Kubeconfig, "--var", "TARGET="+srv.URL, "--var", "NS="+ns)
	require.Equal(t, 1, res.code)
	return gatewayGate(t, dir)
}

func gatewayGate(t *testing.T, dir string) summary.Check {
	t.Helper()
	run, err := summary.Read(dir)
	require.NoError(t, err)
	for _, c := range run.Checks {
		if c.Kind == "gatewayAddressStable" {
			return c
		}
	}
	t.Fatal("no gatewayAddressStable check")
	return summary.Check{}
}

// The address never changes, but the gateway behind it is scaled to zero and back: the ready endpoints
// drop to zero, and the gate fails naming the step.
func TestGatewayGateFailsWhenReadyEndpointsDropToZero(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	gate := runGatewayEndpoints(t, e, srv, ingress(t, e, "endpoints", 30095))
	assert.False(t, gate.Passed)
	assert.Contains(t, gate.Summary, "kept its address but had no ready endpoint at")
	// The scale step ends when the Deployment reports 0 replicas; the EndpointSlice may follow a moment later,
	// in the soak after it (a busy machine): either step is where the gateway was down.
	assert.True(t, slices.Contains(gate.Steps, "gateway-down") || slices.Contains(gate.Steps, "gateway-gone"),
		"the endpoints went while the gateway was scaled down: %v", gate.Steps)
}

// A Service that does not exist for the whole run is no stable address.
func TestGatewayGateFailsWhenTheServiceIsAbsent(t *testing.T) {
	e := testenv.Need(t, kubeEnv)
	srv := testserver.New(time.Second)
	defer srv.Close()
	ns := e.Namespace(t, "absent")
	createDeployment(t, e, ns, "gw", nil)
	gate := runGatewayEndpoints(t, e, srv, ns)
	assert.False(t, gate.Passed)
	assert.Contains(t, gate.Summary, "was absent")
}
