package testenv

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// CreateDeployment creates a Deployment of replicas pods labelled app=name (kwok runs them on its fake
// nodes), changed by mutate first: what a step under test scales, restarts or disrupts.
func (e *Env) CreateDeployment(t testing.TB, ns, name string, replicas int32, mutate ...func(*appsv1.Deployment)) {
	t.Helper()
	if _, err := e.Client.AppsV1().Deployments(ns).Create(context.Background(), Deployment(ns, name, replicas, mutate...), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
}

// Deployment is the Deployment CreateDeployment creates, for a test that creates it its own way: pods
// labelled app=name, one container whose image nothing pulls (kwok runs the pods), a one-second grace period.
func Deployment(ns, name string, replicas int32, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}}},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}
