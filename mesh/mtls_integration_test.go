package mesh_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/mesh"
	"github.com/canarygate/canarygate/summary"
)

// metricsServer stands in for the pods' pilot-agent: it serves each workload's exposition on loopback (the
// real path, the API server's pod proxy, would dial the fake pod IPs off this machine).
func metricsServer(t *testing.T, byWorkload map[string]string) mesh.Scraper {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file, ok := byWorkload[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			return // a proxy that served nothing yet
		}
		data, err := os.ReadFile("../istio/testdata/" + file)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
		app := pod.Labels["app"]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/"+pod.Namespace+"/"+app, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
}

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

func TestCrossRevisionMTLSIsProvenFromTheDestinationProxies(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	for _, ns := range []string{"demo-a", "demo-b", "demo-c"} {
		fixedNamespace(t, e, ns)
	}
	injectedApp(t, e, "demo-a", "app-a", "1-30") // moved
	injectedApp(t, e, "demo-b", "app-b", "1-29") // not yet
	scraper := metricsServer(t, map[string]string{"demo-b/app-b": "app-b-stats-prometheus.txt"})
	services := map[string]any{mesh.ScraperKey: scraper}

	res := e.RunStepWith(ctx, t, mesh.Executors(), services, "name: prove\ncrossRevisionMTLS: {namespaces: [demo-a, demo-b]}")
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	assert.Equal(t, []string{"calls 1-30 → 1-29: 1520 requests, 1520 mTLS, 0 plaintext, 0 non-2xx (demo-a/app-a → demo-b/app-b)"}, res.Changes,
		"the gateway's calls are not placed: its workload is outside the namespaces")

	// app-c on the old revision accepted plaintext from app-b (moved) and answered 503 twice.
	injectedApp(t, e, "demo-c", "app-c", "1-29")
	moved := `{"spec":{"template":{"metadata":{"annotations":{"sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"],\"revision\":\"1-30\"}"}}}}}`
	_, err := e.Client.AppsV1().Deployments("demo-b").Patch(ctx, "app-b", types.StrategicMergePatchType, []byte(moved), metav1.PatchOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.WaitRolledOut(ctx, e.Cluster(t), "demo-b", "app-b"))
	scraper = metricsServer(t, map[string]string{"demo-c/app-c": "app-c-plaintext-stats-prometheus.txt"})
	res = e.RunStepWith(ctx, t, mesh.Executors(), map[string]any{mesh.ScraperKey: scraper}, "name: prove-again\ncrossRevisionMTLS: {namespaces: [demo-b, demo-c]}")
	assert.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.ErrorIs(t, res.Err, mesh.ErrNoMTLSProof)
	assert.Contains(t, res.Err.Error(), "1-30 → 1-29: 40 plaintext, 2 non-2xx of 42", "plaintext and failures caught")

	none := e.RunStepWith(ctx, t, mesh.Executors(), map[string]any{mesh.ScraperKey: metricsServer(t, nil)}, "name: nothing\ncrossRevisionMTLS: {namespaces: [demo-a]}")
	assert.Equal(t, summary.OutcomeFailed, none.Outcome)
	assert.ErrorContains(t, none.Err, "no calls between workloads of different revisions")
}
