// Package kind is the cluster provider that creates a kind cluster for a rehearsal through kind's Go API:
// a pinned node image, the config from fixtures (or the scenario's), image archives loaded into the nodes,
// and deletion at the end unless kept.
package kind

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarygate/canarygate/base/ctxcall"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/fixtures"
	"github.com/canarygate/canarygate/scenarios"
)

// DefaultNodeImage is the node image kind v0.33 pins (Kubernetes 1.37).
const DefaultNodeImage = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"

// NodeImageMinor reads the Kubernetes minor from a node image's tag (kindest/node:v1.37.0@sha256:… → 37).
func NodeImageMinor(image string) (int, bool) {
	ref, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return 0, false
	}
	tag := strings.TrimPrefix(ref[i+1:], "v")
	parts := strings.SplitN(tag, ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return 0, false
	}
	digits := parts[1]
	if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
		digits = digits[:j]
	}
	m, err := strconv.Atoi(digits)
	return m, err == nil
}

// ErrClusterExists: a kind cluster of the scenario's name exists already (an earlier run kept it, or another
// tool made it); canarygate neither reuses nor deletes it unless told.
var ErrClusterExists = errors.New("kind cluster exists")

// reusedKey marks, in the cluster's metadata, a cluster canarygate did not create (never deleted by it).
const reusedKey = "kind/reused"

// ErrNoContainerEngine: kind runs nodes as containers and needs Docker, Podman or nerdctl.
var ErrNoContainerEngine = errors.New("no container engine answers (kind needs Docker, Podman or nerdctl running)")

func init() {
	cluster.RegisterProvider("kind", func(o cluster.ProviderOptions) cluster.Provider {
		return Provider{Keep: o.Keep, KeepOnFailure: o.KeepOnFailure, Reuse: o.Reuse, ImageArchives: o.ImageArchives, Log: o.Log, WaitForReady: o.WaitForReady}
	})
}

// Provider creates kind clusters.
type Provider struct {
	// Keep leaves the cluster after the run; KeepOnFailure only when the run failed.
	Keep, KeepOnFailure bool
	// Reuse uses a kind cluster of the scenario's name that already exists (and leaves it at the end) instead
	// of refusing to run.
	Reuse bool
	// ImageArchives are loaded into every node after creation (e.g. the demo app's).
	ImageArchives []string
	// Log receives progress lines.
	Log func(format string, args ...any)
	// WaitForReady bounds waiting for the control plane.
	WaitForReady time.Duration
}

func (p Provider) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}

// Engines are the container engines kind runs nodes with, in the order its own detection tries them.
var Engines = []string{"docker", "nerdctl", "podman"}

// EngineInfoTimeout bounds one `<engine> info`: a CLI pointed at a dead daemon may hang on its socket.
var EngineInfoTimeout = 20 * time.Second

// DetectEngine finds the container engine kind will use, as the kind CLI does: KIND_EXPERIMENTAL_PROVIDER
// when set, else the first of Engines whose CLI answers `info`. Asking the CLI rather than a fixed socket
// follows the CLI's own context (Colima, Docker Desktop's ~/.docker/run/docker.sock, Rancher Desktop) and
// finds Podman without an enabled socket; a CLI installed beside a stopped daemon does not count.
func DetectEngine(ctx context.Context) (string, kindcluster.ProviderOption, error) {
	candidates := Engines
	if p := os.Getenv("KIND_EXPERIMENTAL_PROVIDER"); p != "" {
		candidates = []string{p}
	}
	var tried []string
	for _, engine := range candidates {
		opt, ok := providerOption(engine)
		if !ok {
			return "", nil, fmt.Errorf("%w: KIND_EXPERIMENTAL_PROVIDER=%q: expected docker, podman or nerdctl", ErrNoContainerEngine, engine)
		}
		if err := answersInfo(ctx, engine); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		return engine, opt, nil
	}
	return "", nil, fmt.Errorf("%w: %s", ErrNoContainerEngine, strings.Join(tried, "; "))
}

func providerOption(engine string) (kindcluster.ProviderOption, bool) {
	switch engine {
	case "docker":
		return kindcluster.ProviderWithDocker(), true
	case "podman":
		return kindcluster.ProviderWithPodman(), true
	case "nerdctl", "finch", "nerdctl.lima":
		return kindcluster.ProviderWithNerdctl(engine), true
	}
	return nil, false
}

func answersInfo(ctx context.Context, engine string) error {
	path, err := exec.LookPath(engine)
	if err != nil {
		return fmt.Errorf("%s: not on PATH", engine)
	}
	ctx, cancel := context.WithTimeout(ctx, EngineInfoTimeout)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, path, "info")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s info: %s", engine, msg)
	}
	return nil
}

// Provision implements cluster.Provider: it creates the cluster (name from the scenario) and loads images.
func (p Provider) Provision(ctx context.Context, spec scenarios.Cluster) (_ *cluster.Cluster, err error) {
	engine, opt, err := DetectEngine(ctx)
	if err != nil {
		return nil, err
	}
	p.logf("kind: container engine %s", engine)
	kp := kindcluster.NewProvider(opt, kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	name := spec.Name
	image := spec.NodeImage
	if image == "" {
		image = DefaultNodeImage
	}
	raw := fixtures.KindConfig()
	if spec.Config != "" {
		if named, ok := fixtures.KindConfigNamed(spec.Config); ok {
			raw = named
		} else if raw, err = os.ReadFile(spec.Config); err != nil {
			return nil, fmt.Errorf("kind config: %w", err)
		}
	}
	wait := p.WaitForReady
	if wait == 0 {
		wait = 3 * time.Minute
	}
	// kind exports the kubeconfig into ~/.kube/config (or $KUBECONFIG) and switches the user's current context
	// unless told where: the run's own file, so the user's is left as it was.
	dir, err := os.MkdirTemp("", "canarygate-kind-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	existing, err := ctxcall.Value(ctx, "kind: list clusters", kp.List)
	if err != nil {
		removeKubeconfigDir(path)
		return nil, fmt.Errorf("kind: list clusters: %w", err)
	}
	if slices.Contains(existing, name) {
		if !p.Reuse {
			// Refused before anything was made: nothing of the run stays behind, its directory included.
			removeKubeconfigDir(path)
			return nil, fmt.Errorf("%w: %q already exists: delete it (kind delete cluster --name %s) or run with --reuse-cluster", ErrClusterExists, name, name)
		}
		p.logf("kind: reusing cluster %s (kept at the end), kubeconfig %s", name, path)
		return p.connect(ctx, kp, name, path, true)
	}
	p.logf("kind: creating cluster %s (%s), kubeconfig %s", name, image, path)
	created := make(chan error, 1)
	// kind's create takes no context: run it so that SIGINT or a timeout returns at once, and delete what it
	// made once it finishes.
	err = ctxcall.Do(ctx, "kind: create cluster "+name, func() error {
		err := kp.Create(name, kindcluster.CreateWithNodeImage(image), kindcluster.CreateWithRawConfig(raw),
			kindcluster.CreateWithKubeconfigPath(path), kindcluster.CreateWithWaitForReady(wait),
			kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false))
		created <- err
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			go func() {
				if <-created == nil {
					if err := kp.Delete(name, path); err != nil {
						p.logf("kind: could not delete cluster %s after the interrupt: %v (kind delete cluster --name %s)", name, err, name)
					}
				}
			}()
		}
		return nil, fmt.Errorf("kind: create cluster %s: %w%s", name, err, commandOutput(err))
	}
	// From here on the cluster exists: any failure deletes it (unless it is to be kept), so that the next run
	// does not meet "node(s) already exist".
	defer func() {
		if err != nil && !p.Keep && !p.KeepOnFailure {
			p.logf("kind: deleting cluster %s after: %v", name, err)
			if derr := kp.Delete(name, path); derr != nil {
				p.logf("kind: could not delete cluster %s: %v (kind delete cluster --name %s)", name, derr, name)
			}
			removeKubeconfigDir(path)
		}
	}()
	return p.connect(ctx, kp, name, path, false)
}

// commandOutput is the tail of the output of the command kind ran when it failed (kubeadm init's reasons),
// which kind's error message leaves out.
func commandOutput(err error) string {
	re := kindexec.RunErrorForError(err)
	if re == nil || len(re.Output) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(re.Output), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// connect writes the cluster's kubeconfig to path, builds its clients and loads the image archives.
func (p Provider) connect(ctx context.Context, kp *kindcluster.Provider, name, path string, reused bool) (*cluster.Cluster, error) {
	kubeconfig, err := kp.KubeConfig(name, false)
	if err != nil {
		return nil, fmt.Errorf("kind: kubeconfig of %s: %w", name, err)
	}
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("kind: kubeconfig of %s: %w", name, err)
	}
	c, err := cluster.New(name, cfg)
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = path
	if reused {
		c.Metadata = map[string]string{reusedKey: "true"}
	}
	nodes, err := kp.ListInternalNodes(name)
	if err != nil {
		return nil, fmt.Errorf("kind: nodes of %s: %w", name, err)
	}
	for _, archive := range p.ImageArchives {
		for _, n := range nodes {
			f, err := os.Open(archive)
			if err != nil {
				return nil, fmt.Errorf("image archive: %w", err)
			}
			err = ctxcall.Do(ctx, "kind: load image archive", func() error { return nodeutils.LoadImageArchive(n, f) })
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("kind: load %s into %s: %w", archive, n.String(), err)
			}
		}
		p.logf("kind: loaded %s into %d node(s)", archive, len(nodes))
	}
	return c, nil
}

// Release implements cluster.Provider: delete the cluster unless it is to be kept.
func (p Provider) Release(ctx context.Context, c *cluster.Cluster, runFailed bool) error {
	if c.Metadata[reusedKey] == "true" {
		p.logf("kind: leaving cluster %s as it was found (reused)", c.Name)
		removeKubeconfigDir(c.Kubeconfig)
		return nil
	}
	if p.Keep || (p.KeepOnFailure && runFailed) {
		p.logf("kind: keeping cluster %s (kubeconfig %s)", c.Name, c.Kubeconfig)
		return nil
	}
	_, opt, err := DetectEngine(ctx)
	if err != nil {
		return err
	}
	p.logf("kind: deleting cluster %s", c.Name)
	err = ctxcall.Do(ctx, "kind: delete cluster "+c.Name, func() error {
		return kindcluster.NewProvider(opt, kindcluster.ProviderWithLogger(kindlog.NoopLogger{})).Delete(c.Name, c.Kubeconfig)
	})
	if err != nil {
		return fmt.Errorf("kind: delete cluster %s: %w (kind delete cluster --name %s)", c.Name, err, c.Name)
	}
	removeKubeconfigDir(c.Kubeconfig)
	return nil
}

// removeKubeconfigDir removes the run's own kubeconfig directory (made by Provision) once its cluster is
// deleted or left as found: nothing of the run stays in the temporary directory. A kept cluster keeps it —
// the user needs it.
func removeKubeconfigDir(kubeconfig string) {
	dir := filepath.Dir(kubeconfig)
	if strings.HasPrefix(filepath.Base(dir), "canarygate-kind-") {
		_ = os.RemoveAll(dir) // best effort: a temporary directory the system cleans anyway
	}
}

// node finds a node container of the kind cluster name (node "": its control-plane node), checking that it is
// one of the cluster's, so a typo never acts on another container.
func node(ctx context.Context, name, node string) (string, nodes.Node, error) {
	engine, opt, err := DetectEngine(ctx)
	if err != nil {
		return "", nil, err
	}
	list, err := kindcluster.NewProvider(opt, kindcluster.ProviderWithLogger(kindlog.NoopLogger{})).ListNodes(name)
	if err != nil {
		return "", nil, fmt.Errorf("list the nodes of kind cluster %s: %w", name, err)
	}
	if node == "" {
		node = name + "-control-plane"
	}
	var names []string
	for _, n := range list {
		if n.String() == node {
			return engine, n, nil
		}
		names = append(names, n.String())
	}
	return "", nil, fmt.Errorf("kind cluster %s has no node %q (its nodes: %s)", name, node, strings.Join(names, ", "))
}

// PauseNode freezes (pause true) or thaws a node container of the kind cluster name: the container engine's
// pause, run the way kind runs its engine (its exec package). node "" is the cluster's control-plane node.
func PauseNode(ctx context.Context, name, nodeName string, pause bool) (string, error) {
	engine, n, err := node(ctx, name, nodeName)
	if err != nil {
		return "", err // no node found: nothing was paused
	}
	verb := "unpause"
	if pause {
		verb = "pause"
	}
	if out, err := kindexec.CombinedOutputLines(kindexec.CommandContext(ctx, engine, verb, n.String())); err != nil {
		return n.String(), fmt.Errorf("%s %s %s: %w (%s)", engine, verb, n, err, strings.Join(out, "; "))
	}
	return n.String(), nil
}

// StopStaticPodContainer stops the running container of a static pod (kube-apiserver, etcd…) in a node of
// the kind cluster name with crictl, inside the node, as kind runs commands there: the kubelet starts it
// again (static pods always restart). It returns the node and the container stopped.
func StopStaticPodContainer(ctx context.Context, name, nodeName, container string) (string, string, error) {
	_, n, err := node(ctx, name, nodeName)
	if err != nil {
		return "", "", err // no node found: nothing was stopped
	}
	ids, err := kindexec.OutputLines(n.CommandContext(ctx, "crictl", "ps", "--name", "^"+container+"$", "--state", "running", "-q"))
	if err != nil || len(ids) == 0 {
		return n.String(), "", fmt.Errorf("no running %s container in node %s: %v", container, n, err)
	}
	if out, err := kindexec.CombinedOutputLines(n.CommandContext(ctx, "crictl", "stop", "--timeout", "0", ids[0])); err != nil {
		return n.String(), ids[0], fmt.Errorf("crictl stop %s in node %s: %w (%s)", ids[0], n, err, strings.Join(out, "; "))
	}
	return n.String(), ids[0], nil
}
