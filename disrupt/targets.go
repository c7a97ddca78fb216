package disrupt

import (
	"context"
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/cluster/kind"
	"github.com/canarygate/canarygate/scenarios"
)

// scaleDown keeps a Deployment at zero replicas through its scale subresource (what kubectl scale and an
// HPA use), then sets back the replicas it had and waits for them to be available.
type scaleDown struct {
	c    *cluster.Cluster
	spec *scenarios.ScaleDownTarget
	log  func(string, ...any)
	// was is the replica count before the disruption (-1 until read).
	was int32
	got bool
}

func (s *scaleDown) name() string { return s.spec.Namespace + "/" + s.spec.Deployment }

func (s *scaleDown) setScale(ctx context.Context, n int32) (from int32, err error) {
	d := s.c.Client.AppsV1().Deployments(s.spec.Namespace)
	from = -1
	// The scale carries the Deployment's resourceVersion, which its controller bumps with every status
	// change (pods going and coming during the window): a conflict is read again and retried, as kubectl
	// scale does, or a restoration would fail for nothing.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := d.GetScale(ctx, s.spec.Deployment, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("deployment %s: %w", s.name(), err)
		}
		from = sc.Spec.Replicas
		if from == n {
			return nil
		}
		_, err = d.UpdateScale(ctx, s.spec.Deployment, &autoscalingv1.Scale{ObjectMeta: sc.ObjectMeta, Spec: autoscalingv1.ScaleSpec{Replicas: n}}, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("scale deployment %s to %d: %w", s.name(), n, err)
		}
		return nil
	})
	return from, err
}

func (s *scaleDown) begin(ctx context.Context) error {
	from, err := s.setScale(ctx, 0)
	if from == 0 && err == nil {
		// As deletePods with no pod: a Deployment already at 0 disrupts nothing, and a run that "survived"
		// it proved nothing.
		return fmt.Errorf("deployment %s has 0 replicas: nothing to disrupt", s.name())
	}
	// Recorded once the scale was read, whatever the update answered: an update that took effect while its
	// request failed (its context ended) must still be undone.
	if from >= 0 {
		s.was, s.got = from, true
	}
	if err != nil {
		return err
	}
	s.log("scaled deployment %s from %d to 0", s.name(), from)
	return nil
}

func (s *scaleDown) keep(ctx context.Context) error {
	from, err := s.setScale(ctx, 0)
	if err == nil && from != 0 {
		s.log("deployment %s was scaled to %d during the window: back to 0", s.name(), from)
	}
	return err
}

func (s *scaleDown) restore(ctx context.Context) error {
	if !s.got {
		return nil // never scaled: nothing to undo
	}
	if _, err := s.setScale(ctx, s.was); err != nil {
		return err
	}
	s.log("scaled deployment %s back to %d", s.name(), s.was)
	// Restored once its replicas serve again: the next step must not start against a control plane that is
	// still coming up and blame the upgrade for it.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := s.c.Client.AppsV1().Deployments(s.spec.Namespace).Get(ctx, s.spec.Deployment, metav1.GetOptions{})
		if err != nil {
			return false, nil // the API server may be recovering too: ask again
		}
		return d.Status.AvailableReplicas >= s.was && d.Status.UpdatedReplicas >= s.was, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s scaled back to %d but not available again: %w", s.name(), s.was, err)
	}
	s.log("deployment %s available again (%d)", s.name(), s.was)
	return nil
}

// deletePods deletes the pods a selector matches with a grace period (0: killed at once), again every Every
// while the window lasts. Their controller re-creates them: restored once the selector matches as many
// ready pods as it matched ready pods with a controller when the window began — until then the window stays open, so
// that what fails while the replacements come up is the disruption's, not the next step's.
type deletePods struct {
	c    *cluster.Cluster
	spec *scenarios.DeletePodsTarget
	log  func(string, ...any)
	// want is the ready pods with a controller the selector matched at the start (a pod without one is not
	// re-created by anything: killing it is what was asked, and nothing waits for it).
	want int
}

func (d *deletePods) what() string { return d.spec.Selector + " in " + d.spec.Namespace }

func (d *deletePods) begin(ctx context.Context) error {
	list, err := d.list(ctx)
	if err != nil {
		return err
	}
	for i := range list {
		if p := &list[i]; serving(p) && metav1.GetControllerOf(p) != nil {
			d.want++
		}
	}
	n, err := d.delete(ctx, list)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no pod matches %s: nothing to disrupt", d.what())
	}
	return nil
}

func (d *deletePods) keep(ctx context.Context) error {
	list, err := d.list(ctx)
	if err != nil {
		return err
	}
	_, err = d.delete(ctx, list)
	return err
}

// list is the pods the selector matches now.
func (d *deletePods) list(ctx context.Context) ([]corev1.Pod, error) {
	list, err := d.c.Client.CoreV1().Pods(d.spec.Namespace).List(ctx, metav1.ListOptions{LabelSelector: d.spec.Selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %s: %w", d.what(), err)
	}
	return list.Items, nil
}

// delete deletes the pods of list, but those already going with grace; it returns how many it deleted.
func (d *deletePods) delete(ctx context.Context, list []corev1.Pod) (int, error) {
	pods := d.c.Client.CoreV1().Pods(d.spec.Namespace)
	n := 0
	for _, p := range list {
		if p.DeletionTimestamp != nil && d.spec.GracePeriodSeconds > 0 {
			continue // already going, with grace
		}
		grace := d.spec.GracePeriodSeconds
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			return n, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		n++
		d.log("deleted pod %s/%s (grace %ds)", p.Namespace, p.Name, grace)
	}
	return n, nil
}

// serving is a pod that is ready and not going: one being deleted with grace may still say Ready. Ready is
// kubectl's reading (podutils.IsPodReady), as kube's waits use.
func serving(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && podutils.IsPodReady(p) }

func (d *deletePods) restore(ctx context.Context) error {
	if d.want == 0 {
		return nil
	}
	ready := 0
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := d.list(ctx)
		if err != nil {
			return false, nil // the API server may be recovering too: ask again
		}
		ready = 0
		for i := range list {
			if serving(&list[i]) {
				ready++
			}
		}
		return ready >= d.want, nil
	})
	if err != nil {
		return fmt.Errorf("%d of the %d pods %s ready again: %w", ready, d.want, d.what(), err)
	}
	d.log("%d pods %s ready again", ready, d.what())
	return nil
}

// pauseNode pauses a kind node's container; every process in it stops (kubelet, the API server when it is
// the control plane, the pods), its network stays up: clients see timeouts, not refusals.
type pauseNode struct {
	c      *cluster.Cluster
	spec   *scenarios.PauseNodeTarget
	log    func(string, ...any)
	paused string
}

func (p *pauseNode) begin(ctx context.Context) error {
	node, err := kind.PauseNode(ctx, p.c.Name, p.spec.Node, true)
	// The node is recorded once the pause was asked for, whatever the engine answered: a pause that took
	// effect while its command failed (its context ended: an interrupt, the step's timeout) must still be
	// undone.
	p.paused = node
	if err != nil {
		return err
	}
	p.log("paused node %s", node)
	return nil
}

func (*pauseNode) keep(context.Context) error { return nil }

func (p *pauseNode) restore(ctx context.Context) error {
	if p.paused == "" {
		return nil
	}
	if _, err := kind.PauseNode(ctx, p.c.Name, p.paused, false); err != nil {
		// Docker: "Container … is not paused"; Podman: "… is not paused, can't unpause": the pause never
		// took effect, so nothing is left to undo.
		if strings.Contains(err.Error(), "is not paused") {
			p.log("node %s was not paused", p.paused)
			return nil
		}
		return err
	}
	p.log("unpaused node %s", p.paused)
	return nil
}

// restartAPIServer stops the kube-apiserver container of a kind control-plane node; the kubelet starts it
// again. Restored once the API server answers /readyz again.
type restartAPIServer struct {
	c    *cluster.Cluster
	spec *scenarios.PauseNodeTarget
	log  func(string, ...any)
	node string
}

func (r *restartAPIServer) begin(ctx context.Context) error {
	node, id, err := kind.StopStaticPodContainer(ctx, r.c.Name, r.spec.Node, "kube-apiserver")
	// Once a stop was asked for, restore waits for /readyz whatever crictl answered (it may have taken
	// effect): the next step must not start against a stopped API server. Waiting on one that never
	// stopped costs one request.
	if id != "" {
		r.node = node
	}
	if err != nil {
		return err
	}
	r.log("stopped the kube-apiserver container %.12s in node %s", id, node)
	return nil
}

func (*restartAPIServer) keep(context.Context) error { return nil }

func (r *restartAPIServer) restore(ctx context.Context) error {
	if r.node == "" {
		return nil
	}
	// The kubelet restarts it; waiting here is what makes the window end when it serves again.
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return r.c.Ready(rctx) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the kube-apiserver of node %s did not answer /readyz again: %w", r.node, err)
	}
	r.log("the kube-apiserver of node %s is ready again", r.node)
	return nil
}
