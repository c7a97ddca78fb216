// Package existing is the cluster provider for clusters that already exist: a kubeconfig (standard loading
// rules: --kubeconfig path, $KUBECONFIG, ~/.kube/config) and an optional context.
package existing

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
)

func init() {
	cluster.RegisterProvider("existing", func(cluster.ProviderOptions) cluster.Provider { return Provider{} })
}

// Provider connects to existing clusters.
type Provider struct{}

// Provision implements cluster.Provider.
func (Provider) Provision(_ context.Context, spec scenarios.Cluster) (*cluster.Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if spec.Kubeconfig != "" {
		rules.ExplicitPath = spec.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: spec.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: load kubeconfig: %w", spec.Name, err)
	}
	c, err := cluster.New(spec.Name, cfg)
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = spec.Kubeconfig
	if c.Kubeconfig == "" {
		c.Kubeconfig = rules.GetDefaultFilename()
	}
	if spec.Context != "" {
		// Users' own commands (run steps: istioctl, helm, az) read KUBECONFIG and its current context: hand
		// them a file of the named context only, so they act on the same cluster as canarygate.
		raw, err := cc.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: load kubeconfig: %w", spec.Name, err)
		}
		raw.CurrentContext = spec.Context
		if err := clientcmdapi.MinifyConfig(&raw); err != nil {
			return nil, fmt.Errorf("cluster %s: context %q: %w", spec.Name, spec.Context, err)
		}
		if err := clientcmdapi.FlattenConfig(&raw); err != nil {
			return nil, fmt.Errorf("cluster %s: context %q: %w", spec.Name, spec.Context, err)
		}
		f, err := os.CreateTemp("", "canarygate-kubeconfig-*")
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", spec.Name, err)
		}
		f.Close()
		if err := clientcmd.WriteToFile(raw, f.Name()); err != nil {
			os.Remove(f.Name())
			return nil, fmt.Errorf("cluster %s: write kubeconfig: %w", spec.Name, err)
		}
		c.Kubeconfig = f.Name()
		c.Metadata = map[string]string{ownKubeconfig: f.Name()}
	}
	c.Context = spec.Context
	return c, nil
}

// ownKubeconfig marks a kubeconfig file the provider wrote (and removes on release).
const ownKubeconfig = "existing/kubeconfig"

// Release implements cluster.Provider: an existing cluster is left as it is; only a kubeconfig file the
// provider wrote for the run's commands is removed.
func (Provider) Release(_ context.Context, c *cluster.Cluster, _ bool) error {
	if path := c.Metadata[ownKubeconfig]; path != "" {
		return os.Remove(path)
	}
	return nil
}
