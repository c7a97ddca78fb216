package mesh

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// Scraper fetches a pod's merged proxy metrics (pilot-agent :15020/stats/prometheus).
type Scraper func(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error)

// ScraperKey is the runner.Env service that replaces the default Scraper (tests serve metrics from loopback).
const ScraperKey = "istio-metrics-scraper"

// APIServerScraper reads metrics through the API server's pod proxy: no port-forward, nothing to keep alive.
func APIServerScraper(ctx context.Context, c *cluster.Cluster, pod *corev1.Pod) (io.ReadCloser, error) {
	return c.Client.CoreV1().Pods(pod.Namespace).ProxyGet("http", pod.Name, "15020", "stats/prometheus", nil).Stream(ctx)
}

// workloadOf names a pod's workload as Istio's metrics do: the Deployment's name (its ReplicaSet's name
// without the pod-template hash), else the pod's.
func workloadOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				return strings.TrimSuffix(o.Name, "-"+h)
			}
			return o.Name
		}
	}
	return p.Name
}

// ErrNoMTLSProof is returned when cross-revision calls failed, were plaintext, or did not happen.
var ErrNoMTLSProof = fmt.Errorf("cross-revision mTLS not proven")

func crossRevisionMTLS(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched) error {
	a := env.Step.Action.(*scenarios.CrossRevisionMTLSAction)
	scrape, ok := env.Services[ScraperKey].(Scraper)
	if !ok {
		scrape = APIServerScraper
	}
	revisions := map[istio.Workload]string{}
	var pods []corev1.Pod
	for _, ns := range a.Namespaces {
		touched.Add(ns)
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list pods in %s: %w", ns, err)
		}
		err = istio.EachProxy(list.Items, func(p *corev1.Pod, px istio.Proxy) {
			if !px.Injected {
				return
			}
			w := istio.Workload{Namespace: ns, Name: workloadOf(p)}
			if prev, seen := revisions[w]; seen && prev != px.Revision {
				// A workload mid-rollout has pods of both revisions: its calls cannot be placed in the matrix.
				revisions[w] = "mixed"
			} else {
				revisions[w] = px.Revision
			}
			pods = append(pods, *p)
		})
		if err != nil {
			return err
		}
	}
	var samples []istio.Sample
	for i := range pods {
		rc, err := scrape(ctx, c, &pods[i])
		if err != nil {
			return fmt.Errorf("metrics of pod %s/%s: %w", pods[i].Namespace, pods[i].Name, err)
		}
		s, err := istio.ParseMetrics(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("metrics of pod %s/%s: %w", pods[i].Namespace, pods[i].Name, err)
		}
		samples = append(samples, s...)
	}
	matrix := istio.Matrix(samples, func(w istio.Workload) (string, bool) {
		rev, ok := revisions[w]
		return rev, ok && rev != "mixed"
	})
	pairs := make([]istio.Pair, 0, len(matrix))
	for p := range matrix {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].From+pairs[i].To < pairs[j].From+pairs[j].To })
	var bad []string
	cross := 0
	for _, p := range pairs {
		cell := matrix[p]
		env.Changed("calls %s → %s: %.0f requests, %.0f mTLS, %.0f plaintext, %.0f non-2xx (%s)", p.From, p.To, cell.Requests, cell.MutualTLS, cell.Plaintext, cell.Failed, strings.Join(cell.Calls, "; "))
		if p.From == p.To {
			continue
		}
		cross++
		if !cell.OK() {
			bad = append(bad, fmt.Sprintf("%s → %s: %.0f plaintext, %.0f non-2xx of %.0f", p.From, p.To, cell.Plaintext, cell.Failed, cell.Requests))
		}
	}
	switch {
	case len(bad) > 0:
		return fmt.Errorf("%w: %s", ErrNoMTLSProof, strings.Join(bad, "; "))
	case cross == 0:
		return fmt.Errorf("%w: no calls between workloads of different revisions were seen in %s", ErrNoMTLSProof, strings.Join(a.Namespaces, ", "))
	}
	return nil
}
