package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

var env *Env

func TestMain(m *testing.M) { os.Exit(Main(m, &env)) }

func TestControlPlaneReportsItsVersionAndRunsDeployments(t *testing.T) {
	e := Need(t, env)
	v, err := e.Client.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Regexp(t, `^v1\.\d+\.\d+$`, v.GitVersion, "a real version: Helm's kubeVersion checks read it")

	ns := e.Namespace(t, "smoke")
	labels := map[string]string{"app": "smoke"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "c", Image: "example.invalid/never-pulled:1"}}},
			},
		},
	}
	ctx := context.Background()
	_, err = e.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "smoke", metav1.GetOptions{})
		return err == nil && got.Status.AvailableReplicas == 2, nil
	})
	if err != nil {
		pods, _ := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		for _, p := range pods.Items {
			t.Logf("pod %s: phase %s node %q conditions %+v", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.Conditions)
		}
		evs, _ := e.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		for _, ev := range evs.Items {
			t.Logf("event %s %s: %s", ev.InvolvedObject.Name, ev.Reason, ev.Message)
		}
	}
	require.NoError(t, err, "kwok makes the pods ready, so the Deployment becomes available")
	pods, err := e.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.Equal(t, "127.0.0.1", p.Status.HostIP, "the node's address is loopback: nothing dials off the machine")
	}
}
