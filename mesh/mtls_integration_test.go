package mesh_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
)

func fixedNamespace(t *testing.T, e *testenv.Env, name string) {
	t.Helper()
	_, err := e.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := e.Client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("namespace %s: no default ServiceAccount", name)
}

func injectedApp(t *testing.T, e *testenv.Env, ns, app, rev string) {
	t.Helper()
	status := fmt.Sprintf(`{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":%q}`, rev)
	_, err := e.Client.AppsV1().Deployments(ns).Create(context.Background(), deployment(ns, app, map[string]string{"sidecar.istio.io/status": status}), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(context.Background(), e.Cluster(t), ns, app))
}

// series is one istio_requests_total line in the layout of Istio's "Istio Standard Metrics" reference (see
// istio/testdata/app-b-stats-prometheus.txt for the whole exposition and its source).
func series(reporter, src, dst, code, flags, policy string, v int) string {
	ns := func(w string) string { return "demo-" + strings.TrimPrefix(w, "app-") }
	return fmt.Sprintf(`istio_requests_total{reporter=%q,source_workload=%q,source_workload_namespace=%q,source_principal="spiffe://cluster.local/ns/%s/sa/%s",destination_workload=%q,destination_workload_namespace=%q,response_code=%q,response_flags=%q,connection_security_policy=%q} %d`+"\n",
		reporter, src, ns(src), ns(src), src, dst, ns(dst), code, flags, policy, v)
}

// windowServer stands in for the pods' pilot-agent (:15020/stats/prometheus, on loopback: the test control
// plane's pod IPs lead off this machine). Each workload's scrapes are served in order: the first at the
// window's start, the second at its end.
func windowServer(t *testing.T, scrapes map[string][]string) cluster.PodReader {
	t.Helper()
	var mu sync.Mutex
	served := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/")
		mu.Lock()
		n := served[key]
		served[key]++
		mu.Unlock()
		list := scrapes[key]
		if len(list) == 0 {
			return // a proxy that served nothing yet
		}
		fmt.Fprint(w, "# TYPE istio_requests_total counter\n"+list[min(n, len(list)-1)])
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/"+pod.Namespace+"/"+pod.Labels["app"], nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
}

// Only the calls inside the window are judged: app-a (moved to 1-30) calls app-b (still on 1-29).
func TestCrossRevisionMTLSIsProvenOverAWindow(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	for _, ns := range []string{"demo-a", "demo-b"} {
		fixedNamespace(t, e, ns)
	}
	injectedApp(t, e, "demo-a", "app-a", "1-30") // moved
	injectedApp(t, e, "demo-b", "app-b", "1-29") // not yet
	const step = "name: prove\ncrossRevisionMTLS: {namespaces: [demo-a, demo-b], window: 1s}"
	mtls := func(v int) string { return series("destination", "app-a", "app-b", "200", "-", "mutual_tls", v) }
	run := func(scrapes map[string][]string) runner.Result {
		return e.RunStepWith(ctx, t, runner.Readers{ProxyMetrics: windowServer(t, scrapes)}, step)
	}

	// 100 mTLS calls in the window, 1520 before it.
	res := run(map[string][]string{"demo-b/app-b": {mtls(1520), mtls(1620)}})
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	changes := strings.Join(res.Changes, "\n")
	assert.Regexp(t, `mTLS proven for 100 calls 1-30→1-29 in the window \d\d:\d\d:\d\d–\d\d:\d\d:\d\d, from destination metrics`, changes)
	assert.Contains(t, changes, "calls 1-30 → 1-29: 100 requests at the destinations, 100 mTLS, 0 plaintext, 0 non-2xx")

	// Calls before the window only: nothing is proven about now.
	res = run(map[string][]string{"demo-b/app-b": {mtls(1520), mtls(1520)}})
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNoMTLSProof)
	assert.Contains(t, res.Err.Error(), "cross-revision mTLS not proven: no calls between workloads of different revisions in demo-a, demo-b during the window")

	// Plaintext and a non-2xx in the window.
	res = run(map[string][]string{"demo-b/app-b": {
		mtls(1520),
		mtls(1600) + series("destination", "app-a", "app-b", "200", "-", "none", 40) + series("destination", "app-a", "app-b", "503", "-", "mutual_tls", 2),
	}})
	require.ErrorIs(t, res.Err, mesh.ErrNoMTLSProof)
	assert.Contains(t, res.Err.Error(), "1-30 → 1-29: 122 seen by the destinations (40 plaintext, 2 non-2xx)")

	// The handshake broke after the move: the destination records nothing new; only the caller knows.
	res = run(map[string][]string{
		"demo-b/app-b": {mtls(1520), mtls(1520)},
		"demo-a/app-a": {"", series("source", "app-a", "app-b", "503", "UF,URX", "unknown", 50)},
	})
	require.ErrorIs(t, res.Err, mesh.ErrNoMTLSProof)
	assert.Contains(t, res.Err.Error(), "1-30 → 1-29: 0 seen by the destinations (0 plaintext, 0 non-2xx), 50 non-2xx seen by the callers")

	// A proxy restarted inside the window (its counter went down): the window proves nothing.
	res = run(map[string][]string{"demo-b/app-b": {mtls(1520), mtls(30)}})
	require.ErrorIs(t, res.Err, mesh.ErrNoMTLSProof)
	assert.Contains(t, res.Err.Error(), "counter reset")
}
