package mesh

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

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

// meshState is which revision each workload of the namespaces runs, when every pod of each runs one revision
// and none is terminating; otherwise why not.
type meshState struct {
	revisions map[istio.Workload]string
	pods      []corev1.Pod
	// unsettled says why the state cannot be judged yet ("" when it can).
	unsettled string
}

func readMesh(ctx context.Context, c *cluster.Cluster, namespaces []string) (meshState, error) {
	st := meshState{revisions: map[istio.Workload]string{}}
	for _, ns := range namespaces {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return st, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		for i := range list.Items {
			p := &list.Items[i]
			if p.DeletionTimestamp != nil && st.unsettled == "" {
				st.unsettled = fmt.Sprintf("pod %s/%s is terminating", ns, p.Name)
			}
		}
		err = istio.EachProxy(list.Items, func(p *corev1.Pod, px istio.Proxy) {
			if !px.Injected {
				return
			}
			w := istio.Workload{Namespace: ns, Name: workloadOf(p)}
			if prev, seen := st.revisions[w]; seen && prev != px.Revision && st.unsettled == "" {
				st.unsettled = fmt.Sprintf("workload %s has pods of revisions %s and %s", w, prev, px.Revision)
			}
			st.revisions[w] = px.Revision
			st.pods = append(st.pods, *p)
		})
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// samePods reports whether two states have the same pods (a restart inside the window spoils it).
func samePods(a, b meshState) bool {
	if len(a.pods) != len(b.pods) {
		return false
	}
	names := map[string]bool{}
	for _, p := range a.pods {
		names[p.Namespace+"/"+p.Name] = true
	}
	for _, p := range b.pods {
		if !names[p.Namespace+"/"+p.Name] {
			return false
		}
	}
	return true
}

func scrapeAll(ctx context.Context, c *cluster.Cluster, scrape cluster.PodReader, pods []corev1.Pod) ([]istio.Sample, error) {
	var out []istio.Sample
	for i := range pods {
		p := &pods[i]
		rc, err := scrape(ctx, c, p)
		if err != nil {
			return nil, fmt.Errorf("metrics of pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		s, err := istio.ParseMetrics(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("metrics of pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		for j := range s {
			s[j].Pod = p.Namespace + "/" + p.Name
		}
		out = append(out, s...)
	}
	return out, nil
}

// crossRevisionMTLS proves cross-revision calls over a window: once every workload runs one revision and no
// pod is terminating, the proxies' counters are read, the window passes under load, they are read again, and
// only the difference is judged — calls made before the window (or before a move) never count, and a
// handshake that breaks shows in the callers' counters even when the destination records nothing.
func crossRevisionMTLS(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.CrossRevisionMTLSAction) error {
	scrape := env.Readers.ProxyMetrics.Or(APIServerScraper)
	for _, ns := range a.Namespaces {
		touched.Add(ns)
	}
	start, err := settledMesh(ctx, c, a)
	if err != nil {
		return err
	}
	before, err := scrapeAll(ctx, c, scrape, start.pods)
	if err != nil {
		return err
	}
	from := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(a.Window.D()):
	}
	after, err := scrapeAll(ctx, c, scrape, start.pods)
	if err != nil {
		return err
	}
	to := time.Now()
	end, err := readMesh(ctx, c, a.Namespaces)
	if err != nil {
		return err
	}
	window := fmt.Sprintf("window %s–%s", from.UTC().Format("15:04:05"), to.UTC().Format("15:04:05"))
	switch {
	case end.unsettled != "":
		return fmt.Errorf("%w: the mesh changed during the %s (%s)", ErrNoMTLSProof, window, end.unsettled)
	case !samePods(start, end):
		return fmt.Errorf("%w: pods changed during the %s (a restart resets their counters)", ErrNoMTLSProof, window)
	}
	calls, err := istio.Diff(before, after)
	if err != nil {
		return fmt.Errorf("%w in the %s: %w", ErrNoMTLSProof, window, err)
	}
	return judgeMatrix(env, a, window, istio.Matrix(calls, func(w istio.Workload) (string, bool) {
		rev, ok := start.revisions[w]
		return rev, ok
	}))
}

// settledMesh waits (bounded by settle) for a state the window can be judged in: rollouts leave terminating
// pods of the old revision behind for their grace period.
func settledMesh(ctx context.Context, c *cluster.Cluster, a *scenarios.CrossRevisionMTLSAction) (meshState, error) {
	settleCtx, cancel := context.WithTimeout(ctx, a.Settle.D())
	defer cancel()
	for {
		start, err := readMesh(ctx, c, a.Namespaces)
		if err != nil || start.unsettled == "" {
			return start, err
		}
		select {
		case <-settleCtx.Done():
			return start, fmt.Errorf("%w: the mesh did not settle within %s (%s)", ErrNoMTLSProof, a.Settle, start.unsettled)
		case <-time.After(MeshPollInterval):
		}
	}
}

// judgeMatrix records the window's revision × revision matrix and fails unless every cross-revision pair
// is proven mTLS and at least one cross-revision call was made.
func judgeMatrix(env *runner.Env, a *scenarios.CrossRevisionMTLSAction, window string, matrix map[istio.Pair]*istio.Cell) error {
	pairs := make([]istio.Pair, 0, len(matrix))
	for p := range matrix {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].From+pairs[i].To < pairs[j].From+pairs[j].To })
	var bad, proven []string
	for _, p := range pairs {
		cell := matrix[p]
		env.Changed("%s: calls %s → %s: %.0f requests at the destinations, %.0f mTLS, %.0f plaintext, %.0f non-2xx; %.0f sent by the callers, %.0f non-2xx (%s)",
			window, p.From, p.To, cell.Requests, cell.MutualTLS, cell.Plaintext, cell.Failed, cell.SourceRequests, cell.SourceFailed, strings.Join(cell.Calls, "; "))
		if p.From == p.To {
			continue
		}
		if cell.OK() {
			proven = append(proven, fmt.Sprintf("%.0f calls %s→%s", cell.MutualTLS, p.From, p.To))
			continue
		}
		bad = append(bad, fmt.Sprintf("%s → %s: %.0f seen by the destinations (%.0f plaintext, %.0f non-2xx), %.0f non-2xx seen by the callers", p.From, p.To, cell.Requests, cell.Plaintext, cell.Failed, cell.SourceFailed))
	}
	switch {
	case len(bad) > 0:
		return fmt.Errorf("%w in the %s: %s", ErrNoMTLSProof, window, strings.Join(bad, "; "))
	case len(proven) == 0:
		return fmt.Errorf("%w: no calls between workloads of different revisions in %s during the %s", ErrNoMTLSProof, strings.Join(a.Namespaces, ", "), window)
	}
	env.Changed("mTLS proven for %s in the %s, from destination metrics", strings.Join(proven, ", "), window)
	return nil
}

// MeshPollInterval is how often crossRevisionMTLS reads the pods while it waits for the mesh to settle.
const MeshPollInterval = time.Second
