package mesh_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

// gateway creates a gateway Deployment of a revision: pods labelled as the gateway chart labels them
// (istio=ingressgateway from the scenario's values, istio.io/rev from the chart's revision), so that the
// scraper stand-in can serve each its own counters (by the app label).
func gateway(t *testing.T, e *testenv.Env, ns, rev string) {
	t.Helper()
	d := deployment(ns, "istio-ingress-"+rev, nil)
	d.Spec.Template.Labels["istio"] = "ingressgateway"
	d.Spec.Template.Labels["istio.io/rev"] = rev
	_, err := e.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(context.Background(), e.Cluster(t), ns, d.Name))
}

// gatewaySeries is what a gateway's Envoy reports for requests it routed to app-a (Istio Standard Metrics
// layout, as in mtls_integration_test's series).
func gatewaySeries(rev string, v int) string {
	return fmt.Sprintf(`istio_requests_total{reporter="source",source_workload="istio-ingress-%s",source_workload_namespace="istio-ingress",source_principal="spiffe://cluster.local/ns/istio-ingress/sa/istio-ingress-%s",destination_workload="app-a",destination_workload_namespace="demo-a",response_code="200",response_flags="-",connection_security_policy="unknown"} %d`+"\n", rev, rev, v)
}

// Both gateways behind the Service must serve in the window: passes when each revision's counters move,
// fails naming the revision whose gateway's counters stand still (a client pinned to the old one), and fails
// when only one revision has a gateway.
func TestGatewaysServeNeedsEveryRevisionsGatewayToServe(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "gateways")
	gateway(t, e, ns, "1-29")
	step := fmt.Sprintf("name: both-gateways-serve\ngatewaysServe: {namespace: %s, window: 1s}", ns)
	run := func(scrapes map[string][]string) (string, error) {
		res := e.RunStepWith(ctx, t, runner.Readers{ProxyMetrics: windowServer(t, scrapes)}, step)
		if res.Outcome == summary.OutcomePassed {
			return res.Changes[len(res.Changes)-1], nil
		}
		return "", res.Err
	}

	_, err := run(nil)
	require.ErrorIs(t, err, mesh.ErrGatewayIdle)
	assert.Contains(t, err.Error(), "of 1 revision(s) only: 1-29")

	gateway(t, e, ns, "1-30")
	old, new := ns+"/istio-ingress-1-29", ns+"/istio-ingress-1-30"
	changed, err := run(map[string][]string{
		old: {gatewaySeries("1-29", 500), gatewaySeries("1-29", 540)},
		new: {gatewaySeries("1-30", 3), gatewaySeries("1-30", 41)},
	})
	require.NoError(t, err)
	assert.Contains(t, changed, "revision 1-29: 40, revision 1-30: 38 requests")

	// The new gateway is up but takes nothing: its counters do not move (kept-alive clients stay on the old).
	_, err = run(map[string][]string{
		old: {gatewaySeries("1-29", 500), gatewaySeries("1-29", 580)},
		new: {gatewaySeries("1-30", 3), gatewaySeries("1-30", 3)},
	})
	require.ErrorIs(t, err, mesh.ErrGatewayIdle)
	assert.Contains(t, err.Error(), "the gateway of revision 1-30 served no request (revision 1-29: 80, revision 1-30: 0)")
}
