package mesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// ErrGatewayIdle is returned when a revision's gateway served nothing while the gateways coexisted (or only
// one revision has a gateway).
var ErrGatewayIdle = errors.New("not every revision's gateway served")

// gatewaysServe reads every gateway pod's istio_requests_total at the start and the end of a window and
// requires each revision's gateways to have counted requests in between: both gateways behind the Service
// took traffic, so moving it from one to the other is rehearsed rather than assumed.
func gatewaysServe(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.GatewaysServeAction) error {
	scrape := env.Readers.ProxyMetrics.Or(APIServerScraper)
	touched.Add(a.Namespace)
	start, err := gatewayPods(ctx, c, a)
	if err != nil {
		return err
	}
	revisions := map[string]bool{}
	for _, p := range start {
		revisions[p.Labels[istio.RevisionLabel]] = true
	}
	if len(revisions) < 2 {
		return fmt.Errorf("%w: gateways (%s in %s) of %d revision(s) only: %s", ErrGatewayIdle, a.Selector, a.Namespace, len(revisions), strings.Join(slices.Sorted(maps.Keys(revisions)), ", "))
	}
	before, err := scrapeAll(ctx, c, scrape, start)
	if err != nil {
		return err
	}
	from := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(a.Window.D()):
	}
	after, err := scrapeAll(ctx, c, scrape, start)
	if err != nil {
		return err
	}
	window := fmt.Sprintf("window %s–%s", from.UTC().Format("15:04:05"), time.Now().UTC().Format("15:04:05"))
	calls, err := istio.Diff(before, after)
	if err != nil {
		return fmt.Errorf("%w in the %s: %w", ErrGatewayIdle, window, err)
	}
	revOf := map[string]string{}
	for _, p := range start {
		revOf[p.Namespace+"/"+p.Name] = p.Labels[istio.RevisionLabel]
	}
	served := map[string]float64{}
	for _, s := range calls {
		served[revOf[s.Pod]] += s.Value
	}
	var parts, idle []string
	for _, rev := range slices.Sorted(maps.Keys(revisions)) {
		parts = append(parts, fmt.Sprintf("revision %s: %g", rev, served[rev]))
		if served[rev] == 0 {
			idle = append(idle, rev)
		}
	}
	if len(idle) > 0 {
		return fmt.Errorf("%w: in the %s the gateway of revision %s served no request (%s)", ErrGatewayIdle, window, strings.Join(idle, ", "), strings.Join(parts, ", "))
	}
	env.Changed("every revision's gateway served in the %s: %s requests (each gateway's istio_requests_total)", window, strings.Join(parts, ", "))
	return nil
}

// gatewayPods lists the running, not terminating gateway pods.
func gatewayPods(ctx context.Context, c *cluster.Cluster, a *scenarios.GatewaysServeAction) ([]corev1.Pod, error) {
	list, err := c.Client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: a.Selector})
	if err != nil {
		return nil, fmt.Errorf("list gateway pods %s in %s: %w", a.Selector, a.Namespace, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out, nil
}
