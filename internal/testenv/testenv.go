// Package testenv starts a real Kubernetes control plane on loopback for integration tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, plus kwok as the kubelet of a hand-made Node, so
// Deployments really roll out. The binaries come from $CANARYGATE_TESTBIN (hack/testbin.sh builds them).
//
// Nothing it starts listens or connects beyond 127.0.0.1: kwok's node IP is 127.0.0.1, and the Service and pod
// CIDRs are blackholed when the routing table can be changed, so that a mistake fails here instead of sending
// traffic off the machine.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Addresses the control plane hands out; blackholed in setup.
const (
	ServiceCIDR = "10.96.0.0/16"
	PodCIDR     = "10.244.0.0/24"
	NodeName    = "kwok-node-0"
	token       = "canarygate-test-token"
	// RestrictedUser is a second user of the API server (RestrictedConfig), in no group but
	// system:authenticated: the API server authorizes with RBAC, so it may do what a test binds to it and
	// nothing else (besides what every authenticated user may: discovery, access reviews of itself).
	RestrictedUser  = "canarygate-restricted"
	restrictedToken = "canarygate-restricted-token"
)

// Env is a running control plane.
type Env struct {
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface

	procs []*proc
	logs  *bytes.Buffer
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// Required reports whether integration tests must run (and fail when the control plane cannot start) rather
// than skip: in CI, or whenever the binaries are configured.
func Required() bool { return os.Getenv("CI") != "" || os.Getenv("CANARYGATE_TESTBIN") != "" }

// HelmHome keeps Helm's caches, config and data inside the test (the Helm SDK reads these variables).
func HelmHome(t testing.TB) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HELM_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("HELM_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("HELM_DATA_HOME", filepath.Join(home, "data"))
}

// IstioCharts is the real Istio charts directory (hack/istio-charts.sh, in CANARYGATE_ISTIO_CHARTS); like
// the control plane, required in CI and skipped elsewhere when unset.
func IstioCharts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CANARYGATE_ISTIO_CHARTS")
	if testing.Short() {
		t.Skip("-short: an integration test (it installs the real Istio charts)")
	}
	if dir == "" {
		if Required() {
			t.Fatal("CANARYGATE_ISTIO_CHARTS is not set: run make test (hack/istio-charts.sh finds the charts)")
		}
		t.Skip("set CANARYGATE_ISTIO_CHARTS=$(bash hack/istio-charts.sh) to install the real Istio charts")
	}
	return dir
}

// IstioOldCharts is the lab's OLD Istio module's chart directory (CANARYGATE_ISTIO_OLD_CHARTS, set by make
// integration from hack/istio-charts.sh old), skipped or failed as IstioCharts is.
func IstioOldCharts(t testing.TB) string {
	t.Helper()
	IstioCharts(t)
	dir := os.Getenv("CANARYGATE_ISTIO_OLD_CHARTS")
	if dir == "" {
		if Required() {
			t.Fatal("CANARYGATE_ISTIO_OLD_CHARTS is not set: run make test (hack/istio-charts.sh old finds the charts)")
		}
		t.Skip("set CANARYGATE_ISTIO_OLD_CHARTS=$(bash hack/istio-charts.sh old) to compare two Istio modules' charts")
	}
	return dir
}

// Main starts a control plane for a test package, runs its tests and stops it. Packages call it from TestMain;
// when the binaries are not configured outside CI, tests that call Get skip.
func Main(m *testing.M, env **Env) int {
	flag.Parse()
	if testing.Short() {
		// -short (make check, make unit): only what needs nothing but Go; Need skips the rest, in CI too.
		return m.Run()
	}
	bin := os.Getenv("CANARYGATE_TESTBIN")
	if bin == "" {
		if Required() {
			fmt.Fprintln(os.Stderr, "testenv: CANARYGATE_TESTBIN is not set in CI: run `make test` (it builds the control plane with hack/testbin.sh)")
			return 1
		}
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	e, err := Start(ctx, bin)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: the control plane did not start: %v\n", err)
		if e != nil {
			e.Stop()
			fmt.Fprintln(os.Stderr, e.Logs())
		}
		return 1
	}
	*env = e
	code := m.Run()
	if code != 0 {
		tail := e.Logs()
		if len(tail) > 8000 {
			tail = tail[len(tail)-8000:]
		}
		fmt.Fprintf(os.Stderr, "testenv: control plane log tail:\n%s\n", tail)
	}
	e.Stop()
	return code
}

// Need skips the test when no control plane was started outside CI, and under -short everywhere.
func Need(t testing.TB, e *Env) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: an integration test (it needs the control plane)")
	}
	if e == nil {
		if Required() {
			t.Fatal("no control plane: CANARYGATE_TESTBIN must point at the binaries hack/testbin.sh builds")
		}
		t.Skip("no control plane (set CANARYGATE_TESTBIN=$(bash hack/testbin.sh | tail -n1), or run make test)")
	}
	return e
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start brings up the control plane with binaries from bin.
func Start(ctx context.Context, bin string) (*Env, error) {
	blackhole()
	dir, err := os.MkdirTemp("", "canarygate-testenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, logs: &bytes.Buffer{}}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return e, err
		}
	}
	etcdPort, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	if err := e.writeCredentials(apiPort); err != nil {
		return e, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	if err := e.run("etcd", filepath.Join(bin, "etcd"),
		"--data-dir", filepath.Join(dir, "etcd"), "--name", "test",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("test=http://127.0.0.1:%d", etcdPeer),
		"--unsafe-no-fsync", "--quota-backend-bytes", "4294967296"); err != nil {
		return e, err
	}
	if err := e.startControlPlane(ctx, bin, etcdURL, apiPort); err != nil {
		return e, err
	}
	if err := e.createNode(ctx); err != nil {
		return e, err
	}
	if err := e.waitServiceAccount(ctx, "default"); err != nil {
		return e, err
	}
	return e, nil
}

// writeCredentials writes the service-account key pair, the admin token and the kubeconfig, and makes the
// clients.
func (e *Env) writeCredentials(apiPort int) error {
	dir := e.Dir
	if err := writeKeyPair(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		return err
	}
	tokens := token + ",admin,admin,system:masters\n" + restrictedToken + "," + RestrictedUser + "," + RestrictedUser + "\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %s}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, apiPort, token)
	if err := os.WriteFile(e.Kubeconfig, []byte(kc), 0o600); err != nil {
		return err
	}
	e.Config = &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", apiPort), BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	var err error
	e.Client, err = kubernetes.NewForConfig(e.Config)
	return err
}

// startControlPlane starts kube-apiserver (and waits until it is healthy), the controller manager, the
// scheduler and kwok.
func (e *Env) startControlPlane(ctx context.Context, bin, etcdURL string, apiPort int) error {
	dir := e.Dir
	saKey, saPub, tokens := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub"), filepath.Join(dir, "tokens.csv")
	if err := e.run("kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", ServiceCIDR,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--allow-privileged", "--endpoint-reconciler-type", "none",
		// Debian's etcd 3.4 cannot answer watch progress requests, which streaming lists need: with the
		// feature on, every informer's watch fails and events arrive only on relists, a minute late.
		"--feature-gates", "WatchList=false",
		"--v", "1"); err != nil {
		return err
	}
	if err := e.waitHealthy(ctx); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	if err := e.run("kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig", e.Kubeconfig, "--leader-elect=false",
		"--controllers", "*,-nodeipam,-nodelifecycle",
		"--service-account-private-key-file", saKey, "--root-ca-file", filepath.Join(dir, "certs", "apiserver.crt"),
		"--bind-address", "127.0.0.1", "--secure-port", "0", "--v", "1"); err != nil {
		return err
	}
	if err := e.run("kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig", e.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0", "--v", "1"); err != nil {
		return err
	}
	stages, _ := filepath.Glob(filepath.Join(bin, "kwok-stages", "*.yaml"))
	args := []string{"--kubeconfig", e.Kubeconfig, "--manage-all-nodes", "--node-ip", "127.0.0.1", "--cidr", PodCIDR, "--server-address", "127.0.0.1:0"}
	for _, s := range stages {
		args = append(args, "-c", s)
	}
	if err := e.run("kwok", filepath.Join(bin, "kwok"), args...); err != nil {
		return err
	}
	return nil
}

// blackhole routes the Service and pod CIDRs nowhere (root only; a no-op where it fails).
func blackhole() {
	for _, cidr := range []string{ServiceCIDR, "10.244.0.0/16"} {
		if out, err := exec.Command("ip", "route", "replace", "blackhole", cidr).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: could not blackhole %s (%v: %s); continuing\n", cidr, err, strings.TrimSpace(string(out)))
		}
	}
}

func (e *Env) run(name, path string, args ...string) error {
	cmd := exec.Command(path, args...)
	w := &prefixWriter{prefix: name + ": ", buf: e.logs}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.procs = append(e.procs, p)
	return nil
}

func (e *Env) waitHealthy(ctx context.Context) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, p := range e.procs {
			select {
			case <-p.done:
				return false, fmt.Errorf("%s exited", p.name)
			default:
			}
		}
		body, err := e.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (e *Env) createNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: NodeName, Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec: corev1.NodeSpec{PodCIDR: PodCIDR},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("250")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("250")},
		},
	}
	if _, err := e.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	// Admission gives a new Node the not-ready taint, and the node lifecycle controller that would lift it is
	// off (it would try to reach the node): lift it once kwok has made the node Ready.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return false, nil
		}
		if len(n.Spec.Taints) == 0 {
			return true, nil
		}
		n.Spec.Taints = nil
		// A conflicting write is retried on the next poll; the node is judged only once it reads untainted.
		_, _ = e.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s never became Ready and untainted (is kwok running?): %w", NodeName, err)
	}
	return nil
}

func (e *Env) waitServiceAccount(ctx context.Context, ns string) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: no default ServiceAccount (is kube-controller-manager running?): %w", ns, err)
	}
	return nil
}

// Namespace creates a fresh namespace for a test, waits for its default ServiceAccount (pods need it) and
// deletes it when the test ends.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if err := e.waitServiceAccount(ctx, ns.Name); err != nil {
		t.Fatalf("namespace %s: default service account never appeared: %v", ns.Name, err)
	}
	t.Cleanup(func() {
		_ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// RestrictedConfig is the control plane as RestrictedUser: allowed only what a test grants it (RBAC).
func (e *Env) RestrictedConfig() *rest.Config {
	cfg := rest.CopyConfig(e.Config)
	cfg.BearerToken = restrictedToken
	return cfg
}

// Logs returns what the control plane's processes printed.
func (e *Env) Logs() string { return e.logs.String() }

// Stop ends every process, newest first, and removes the directory.
func (e *Env) Stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	_ = os.RemoveAll(e.Dir)
}

func writeKeyPair(keyPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

// prefixWriter keeps the processes' output, bounded, for failure messages.
type prefixWriter struct {
	prefix string
	buf    *bytes.Buffer
}

var logMu sync.Mutex

// logFile, when $CANARYGATE_TESTENV_LOG names a file, gets every line of the control plane's output (debugging).
var logFile = func() *os.File {
	if p := os.Getenv("CANARYGATE_TESTENV_LOG"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			return f
		}
	}
	return nil
}()

func (w *prefixWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	if w.buf.Len() > 4<<20 {
		// Keep the newest half.
		keep := w.buf.Bytes()[w.buf.Len()/2:]
		nb := append([]byte(nil), keep...)
		w.buf.Reset()
		w.buf.Write(nb)
	}
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		w.buf.WriteString(w.prefix)
		w.buf.Write(line)
		if logFile != nil {
			logFile.WriteString(w.prefix)
			logFile.Write(line)
		}
	}
	return len(p), nil
}
