// Package existing is the cluster provider for clusters that already exist: a kubeconfig (standard loading
// rules: --kubeconfig path, $KUBECONFIG, ~/.kube/config) and an optional context.
package existing

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
)

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
	return c, nil
}

// Release implements cluster.Provider: an existing cluster is left as it is.
func (Provider) Release(context.Context, *cluster.Cluster, bool) error { return nil }
