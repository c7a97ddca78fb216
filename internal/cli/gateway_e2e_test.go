package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/internal/testserver"
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
			ns := e.Namespace(t, "ingress")
			_, err := e.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "ingress"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"istio": "ingressgateway"},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: tc.nodePort}}},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			dir := t.TempDir()
			res := runCLI(t, "run", "testdata/gateway-address.yaml", "--no-env", "--out", dir,
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
				assert.Len(t, gate.Evidence, 1, "one address all along")
				return
			}
			assert.False(t, gate.Passed)
			assert.Contains(t, gate.Summary, "changed 1 time(s)")
			assert.Contains(t, strings.Join(gate.Evidence, "\n"), "node:30090")
			assert.Contains(t, strings.Join(gate.Evidence, "\n"), "node:30091")
		})
	}
}
