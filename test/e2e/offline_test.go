package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/cluster/kind"
	"github.com/canarygate/canarygate/scenarios"
)

// nodeImage is the offline node image (hack/kind-node-image.sh prints it; .ci/run passes it on).
func nodeImage(t *testing.T) string {
	t.Helper()
	img := os.Getenv("CANARYGATE_NODE_IMAGE")
	if img == "" {
		t.Fatal("CANARYGATE_NODE_IMAGE is not set: build it with hack/kind-node-image.sh (its last line)")
	}
	return img
}

func fileDigest(path string) [32]byte {
	data, _ := os.ReadFile(path)
	return sha256.Sum256(data)
}

// TestOfflineNodeImageClusterReachesReady creates a kind cluster from the offline node image through
// canarygate's own kind provider (the code path users run), waits for the node to be Ready and every pod of
// kube-system to be Running and ready, then releases it and checks it is gone — and that the user's
// kubeconfig was never touched.
func TestOfflineNodeImageClusterReachesReady(t *testing.T) {
	skipUnlessE2E(t)
	image := nodeImage(t)
	const name = "canarygate-e2e-node"
	home := t.TempDir()
	userKubeconfig := filepath.Join(home, ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(userKubeconfig), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(userKubeconfig, []byte("apiVersion: v1\nkind: Config\ncurrent-context: users-own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileDigest(userKubeconfig)
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")

	p := kind.Provider{Log: t.Logf, WaitForReady: 4 * time.Minute}
	var c *cluster.Cluster
	f := features.New("offline kind cluster").
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var err error
			c, err = p.Provision(ctx, scenarios.Cluster{Name: name, Provider: "kind", NodeImage: image, Config: "lab"})
			if err != nil {
				t.Fatalf("provision: %v%s", err, nodeLogs(name))
			}
			return ctx
		}).
		Assess("the node is Ready", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
				nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				if err != nil || len(nodes.Items) == 0 {
					return false, nil
				}
				for _, n := range nodes.Items {
					if !nodeReady(n) {
						return false, nil
					}
				}
				return true, nil
			})
			if err != nil {
				t.Fatalf("node not Ready: %v%s", err, nodeLogs(name))
			}
			return ctx
		}).
		Assess("every kube-system pod is Running and ready", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var last string
			err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
				pods, err := c.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
				if err != nil {
					last = err.Error()
					return false, nil
				}
				var notReady []string
				for _, p := range pods.Items {
					if p.Status.Phase != corev1.PodRunning || !podReady(p) {
						notReady = append(notReady, p.Name+" "+string(p.Status.Phase))
					}
				}
				last = strings.Join(notReady, ", ")
				// kubeadm's control plane (4 static pods), kube-proxy and two CoreDNS replicas.
				return len(pods.Items) >= 7 && len(notReady) == 0, nil
			})
			if err != nil {
				t.Fatalf("kube-system not running: %v (not ready: %s)%s", err, last, nodeLogs(name))
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if c != nil {
				if err := p.Release(context.Background(), c, t.Failed()); err != nil {
					t.Errorf("release: %v", err)
				}
			}
			if out, _ := exec.Command("docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+name, "-q").Output(); len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("cluster %s still has containers after release: %s", name, out)
			}
			if fileDigest(userKubeconfig) != before {
				t.Errorf("the user's kubeconfig %s changed", userKubeconfig)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeLogs returns the tail of the node's kubelet and containerd journals, for a failure message.
func nodeLogs(cluster string) string {
	node := cluster + "-control-plane"
	out, _ := exec.Command("docker", "exec", node, "sh", "-c",
		"journalctl -u kubelet -u containerd -u kind-preload --no-pager 2>&1 | tail -n 60; crictl ps -a 2>&1 | tail -n 20").CombinedOutput()
	if len(out) == 0 {
		return ""
	}
	return "\n--- node " + node + " ---\n" + string(out)
}
