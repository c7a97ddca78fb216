package meshload

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/meshload/agent"
	"github.com/canarygate/canarygate/scenarios"
)

// Labels and environment of the generators canarygate deploys.
const (
	// StreamLabel names the stream a generator pod belongs to; ManagedLabel marks what canarygate created.
	StreamLabel  = scenarios.GeneratorStreamLabel
	ManagedLabel = "app.kubernetes.io/managed-by"
	Manager      = "canarygate"
	// RunLabel names the run that created an object, so that `canarygate cleanup --run ID` removes what one
	// run — also one that crashed or was killed — left, and nothing of another run's.
	RunLabel = "canarygate.dev/run"
)

// Spec is one in-mesh stream's generators.
type Spec struct {
	Stream, Namespace, Image string
	URL                      string
	// Rate is the stream's total; each of Replicas sends Rate/Replicas (ShareRate).
	Rate     vegeta.Rate
	Replicas int32
	Timeout  time.Duration
	// Buffer is each generator's result capacity.
	Buffer int
	// Annotations go on the generator pods.
	Annotations map[string]string
	// Run is the run's ID, labelled (RunLabel) on everything the generators consist of; "" leaves it off.
	Run string
}

// Name is the generators' Deployment and ServiceAccount name (the ServiceAccount is their SPIFFE identity:
// spiffe://<trust domain>/ns/<namespace>/sa/<name>).
func (s Spec) Name() string { return "canarygate-gen-" + s.Stream }

// Identity is the SPIFFE identity the generators' calls carry under mutual TLS (trust domain cluster.local).
func (s Spec) Identity() string {
	return fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", s.Namespace, s.Name())
}

// ShareRate is each of n identical replicas' share of a rate, exactly: Freq per n×Per (100/s over 3
// replicas is 100 per 3 s each).
func ShareRate(r vegeta.Rate, n int) vegeta.Rate {
	return vegeta.Rate{Freq: r.Freq, Per: r.Per * time.Duration(max(n, 1))}
}

// Objects are the ServiceAccount and Deployment that run a stream's generators. The pods learn their name and
// their proxy's injection status (its revision) through the downward API, and stay for their grace period
// after SIGTERM so that their remaining results can be pulled.
func (s Spec) Objects() (*corev1.ServiceAccount, *appsv1.Deployment) {
	labels := map[string]string{"app": s.Name(), StreamLabel: s.Stream, ManagedLabel: Manager}
	if s.Run != "" {
		// Not in the Deployment's selector: a selector cannot change, and the next run reuses the Deployment.
		labels[RunLabel] = s.Run
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: s.Name(), Namespace: s.Namespace, Labels: labels}}
	share := ShareRate(s.Rate, int(s.Replicas))
	buffer := s.Buffer
	if buffer <= 0 {
		buffer = agent.DefaultBuffer
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name(), Namespace: s.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(s.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": s.Name(), StreamLabel: s.Stream}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: s.Annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName: s.Name(),
					// Long enough for canarygate to pull what a terminating generator still holds.
					TerminationGracePeriodSeconds: ptr.To[int64](60),
					Containers: []corev1.Container{{
						Name:            "generator",
						Image:           s.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports:           []corev1.ContainerPort{{Name: "results", ContainerPort: agent.Port}},
						Env: []corev1.EnvVar{
							{Name: "NAME", Value: s.Name()},
							{Name: agent.EnvURL, Value: s.URL},
							{Name: agent.EnvRate, Value: fmt.Sprintf("%d/%s", share.Freq, share.Per)},
							{Name: agent.EnvTimeout, Value: s.Timeout.String()},
							{Name: agent.EnvBuffer, Value: strconv.Itoa(buffer)},
							{Name: agent.EnvPod, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: agent.EnvIstioStatus, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['sidecar.istio.io/status']"}}},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstrPort()}},
							PeriodSeconds: 2, FailureThreshold: 3},
					}},
				},
			},
		},
	}
	return sa, d
}

// Deploy creates (or replaces) a stream's generators.
func Deploy(ctx context.Context, c *cluster.Cluster, s Spec) error {
	sa, d := s.Objects()
	if err := deployServiceAccount(ctx, c, sa); err != nil {
		return fmt.Errorf("generators of %s: ServiceAccount %s/%s: %w", s.Stream, s.Namespace, sa.Name, err)
	}
	_, err := c.Client.AppsV1().Deployments(s.Namespace).Create(ctx, d, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Client.AppsV1().Deployments(s.Namespace).Update(ctx, d, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("generators of %s: Deployment %s/%s: %w", s.Stream, s.Namespace, d.Name, err)
	}
	return nil
}

// deployServiceAccount creates the generators' ServiceAccount, or gives one a crashed run left this run's
// labels: cleanup by run then finds it among this run's objects.
func deployServiceAccount(ctx context.Context, c *cluster.Cluster, sa *corev1.ServiceAccount) error {
	sas := c.Client.CoreV1().ServiceAccounts(sa.Namespace)
	_, err := sas.Create(ctx, sa, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := sas.Get(ctx, sa.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if maps.Equal(cur.Labels, sa.Labels) {
			return nil
		}
		cur.Labels = sa.Labels
		_, err = sas.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// Remove deletes a stream's generators (their pods get their grace period: pull before removing).
func Remove(ctx context.Context, c *cluster.Cluster, s Spec) error {
	fg := metav1.DeletePropagationForeground
	if err := c.Client.AppsV1().Deployments(s.Namespace).Delete(ctx, s.Name(), metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove generators of %s: %w", s.Stream, err)
	}
	if err := c.Client.CoreV1().ServiceAccounts(s.Namespace).Delete(ctx, s.Name(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove generators of %s: %w", s.Stream, err)
	}
	return nil
}

// Gone reports whether a stream's generator Deployment has been deleted (with foreground deletion, once its
// pods are gone).
func Gone(ctx context.Context, c *cluster.Cluster, s Spec) (bool, error) {
	_, err := c.Client.AppsV1().Deployments(s.Namespace).Get(ctx, s.Name(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("generators of %s: %w", s.Stream, err)
	}
	return false, nil
}

// Pods lists a stream's generator pods, terminating ones included (they still hold results).
func Pods(ctx context.Context, c *cluster.Cluster, s Spec) ([]corev1.Pod, error) {
	list, err := c.Client.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: StreamLabel + "=" + s.Stream})
	if err != nil {
		return nil, fmt.Errorf("generators of %s: %w", s.Stream, err)
	}
	return list.Items, nil
}

// PodProxySource pulls a generator pod's results through the API server's pod proxy: nothing exposed, no
// port-forward to keep alive.
func PodProxySource(c *cluster.Cluster, pod *corev1.Pod) Source {
	return func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error) {
		raw, err := c.Client.CoreV1().Pods(pod.Namespace).ProxyGet("http", pod.Name, strconv.Itoa(agent.Port), "results",
			pullParams(boot, after, max, agent.FormatBinary)).DoRaw(ctx)
		if err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s/%s through the API server: %w", pod.Namespace, pod.Name, err)
		}
		b, err := decodeBatch(raw)
		if err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		return b, nil
	}
}

func intstrPort() intstr.IntOrString { return intstr.FromInt32(agent.Port) }
