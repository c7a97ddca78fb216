// Package kind is the cluster provider that creates a kind cluster for a rehearsal through kind's Go API:
// a pinned node image, the config from fixtures (or the scenario's), image archives loaded into the nodes,
// and deletion at the end unless kept.
package kind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/fixtures"
	"github.com/canarygate/canarygate/internal/ctxcall"
	"github.com/canarygate/canarygate/scenarios"
)

// DefaultNodeImage is the node image kind v0.33 pins (Kubernetes 1.37).
const DefaultNodeImage = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"

// ErrNoContainerEngine: kind runs nodes as containers and needs Docker or Podman.
var ErrNoContainerEngine = errors.New("no container engine is reachable (kind needs Docker or Podman running; checked DOCKER_HOST, /var/run/docker.sock and the Podman sockets)")

// Provider creates kind clusters.
type Provider struct {
	// Keep leaves the cluster after the run; KeepOnFailure only when the run failed.
	Keep, KeepOnFailure bool
	// ImageArchives are loaded into every node after creation (e.g. the demo app's).
	ImageArchives []string
	// Log receives progress lines.
	Log func(format string, args ...any)
	// Sockets overrides where container engines are looked for (tests).
	Sockets []string
	// WaitForReady bounds waiting for the control plane.
	WaitForReady time.Duration
}

func (p Provider) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}

// engineSockets lists where Docker and Podman listen.
func engineSockets() []string {
	var out []string
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		out = append(out, strings.TrimPrefix(h, "unix://"))
	}
	out = append(out, "/var/run/docker.sock")
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, filepath.Join(d, "podman", "podman.sock"), filepath.Join(d, "docker.sock"))
	}
	return append(out, "/run/podman/podman.sock")
}

// EngineReachable pings the container engine's API (GET /_ping on its unix socket). kind's own detection only
// finds the CLI, which is installed on machines without a running engine.
func EngineReachable(ctx context.Context, sockets []string) error {
	if len(sockets) == 0 {
		sockets = engineSockets()
	}
	for _, sock := range sockets {
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
		}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://engine/_ping", nil)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return ErrNoContainerEngine
}

// Provision implements cluster.Provider: it creates the cluster (name from the scenario) and loads images.
func (p Provider) Provision(ctx context.Context, spec scenarios.Cluster) (_ *cluster.Cluster, err error) {
	if err := EngineReachable(ctx, p.Sockets); err != nil {
		return nil, err
	}
	opt, err := kindcluster.DetectNodeProvider()
	if err != nil {
		return nil, ErrNoContainerEngine
	}
	kp := kindcluster.NewProvider(opt, kindcluster.ProviderWithLogger(kindlog.NoopLogger{}))
	name := spec.Name
	image := spec.NodeImage
	if image == "" {
		image = DefaultNodeImage
	}
	raw := fixtures.KindConfig()
	if spec.Config != "" {
		if raw, err = os.ReadFile(spec.Config); err != nil {
			return nil, fmt.Errorf("kind config: %w", err)
		}
	}
	wait := p.WaitForReady
	if wait == 0 {
		wait = 3 * time.Minute
	}
	p.logf("kind: creating cluster %s (%s)", name, image)
	created := make(chan error, 1)
	// kind's create takes no context: run it so that SIGINT or a timeout returns at once, and delete what it
	// made once it finishes.
	err = ctxcall.Do(ctx, "kind: create cluster "+name, func() error {
		err := kp.Create(name, kindcluster.CreateWithNodeImage(image), kindcluster.CreateWithRawConfig(raw),
			kindcluster.CreateWithWaitForReady(wait), kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false))
		created <- err
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			go func() {
				if <-created == nil {
					_ = kp.Delete(name, "")
				}
			}()
		}
		return nil, fmt.Errorf("kind: create cluster %s: %w", name, err)
	}
	// From here on the cluster exists: any failure deletes it (unless it is to be kept), so that the next run
	// does not meet "node(s) already exist".
	defer func() {
		if err != nil && !p.Keep && !p.KeepOnFailure {
			p.logf("kind: deleting cluster %s after: %v", name, err)
			_ = kp.Delete(name, "")
		}
	}()
	kubeconfig, err := kp.KubeConfig(name, false)
	if err != nil {
		return nil, fmt.Errorf("kind: kubeconfig of %s: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "canarygate-kind-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
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
	if p.Keep || (p.KeepOnFailure && runFailed) {
		p.logf("kind: keeping cluster %s (kubeconfig %s)", c.Name, c.Kubeconfig)
		return nil
	}
	opt, err := kindcluster.DetectNodeProvider()
	if err != nil {
		return err
	}
	p.logf("kind: deleting cluster %s", c.Name)
	return ctxcall.Do(ctx, "kind: delete cluster "+c.Name, func() error {
		return kindcluster.NewProvider(opt, kindcluster.ProviderWithLogger(kindlog.NoopLogger{})).Delete(c.Name, "")
	})
}
