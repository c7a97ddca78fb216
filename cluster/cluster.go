// Package cluster is canarygate's access to a Kubernetes cluster: a Provider turns a scenario's cluster
// entry into clients (creating the cluster first when the provider creates clusters, like kind), and
// releases it at the end. Step actions find theirs through runner.Env.Cluster.
package cluster

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/canarygate/canarygate/scenarios"
)

// Cluster is one cluster's clients.
type Cluster struct {
	Name   string
	Config *rest.Config
	// Kubeconfig is a file with the credentials, when one exists (Helm and users' own commands read it).
	Kubeconfig string
	// Context is the kubeconfig context used, when one was named (Kubeconfig's current context otherwise).
	Context string
	Client  kubernetes.Interface
	Dynamic dynamic.Interface

	mu       sync.Mutex
	cached   discovery.CachedDiscoveryInterface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	PodLogs  bool
	Metadata map[string]string
}

// New builds the clients for a rest config.
func New(name string, cfg *rest.Config) (*Cluster, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	cached := memory.NewMemCacheClient(cs.Discovery())
	return &Cluster{Name: name, Config: cfg, Client: cs, Dynamic: dyn, cached: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached), PodLogs: true}, nil
}

// Discovery returns the cached discovery client.
func (c *Cluster) Discovery() discovery.CachedDiscoveryInterface { return c.cached }

// Mapper returns the REST mapper (resets itself when a kind is unknown: CRDs installed by an earlier step).
func (c *Cluster) Mapper() meta.RESTMapper { return c.mapper }

// Mapping resolves a kind to its resource, refreshing discovery once when the kind is not known yet.
func (c *Cluster) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.mu.Lock()
		c.mapper.Reset()
		c.mu.Unlock()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s does not serve %s: %w", c.Name, gvk, err)
	}
	return m, nil
}

// Resource returns the dynamic client for a kind, namespaced when the kind is.
func (c *Cluster) Resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	m, err := c.Mapping(gvk)
	if err != nil {
		return nil, nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if namespace == "" {
			namespace = "default"
		}
		return c.Dynamic.Resource(m.Resource).Namespace(namespace), m, nil
	}
	return c.Dynamic.Resource(m.Resource), m, nil
}

// Provider provides clusters of one kind ("existing", "kind").
type Provider interface {
	// Provision returns access to the cluster, creating it first if this provider creates clusters.
	Provision(ctx context.Context, spec scenarios.Cluster) (*Cluster, error)
	// Release undoes Provision (deletes a created cluster); a no-op for existing clusters. runFailed lets a
	// provider keep a cluster for inspection when the run failed.
	Release(ctx context.Context, c *Cluster, runFailed bool) error
}

// Set is the clusters of a run, by name; the first is the default.
type Set struct {
	byName map[string]*Cluster
	first  string
}

// NewSet builds a set; the first cluster is the default.
func NewSet(cs ...*Cluster) *Set {
	s := &Set{byName: map[string]*Cluster{}}
	for _, c := range cs {
		if s.first == "" {
			s.first = c.Name
		}
		s.byName[c.Name] = c
	}
	return s
}

// Get returns a cluster by name ("" is the default).
func (s *Set) Get(name string) (*Cluster, error) {
	if s == nil || len(s.byName) == 0 {
		return nil, fmt.Errorf("no cluster: this step acts on Kubernetes, but the scenario lists no clusters")
	}
	if name == "" {
		name = s.first
	}
	c, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("no cluster named %q", name)
	}
	return c, nil
}

// PodReader reads what a pod serves over HTTP (istiod's metrics or debug endpoints, a proxy's stats).
type PodReader func(ctx context.Context, c *Cluster, pod *corev1.Pod) (io.ReadCloser, error)

// Or returns r, or def when r is nil (the real way, where a test set no stand-in).
func (r PodReader) Or(def PodReader) PodReader {
	if r == nil {
		return def
	}
	return r
}

// All returns the set's clusters, the default first, then by name.
func (s *Set) All() []*Cluster {
	if s == nil {
		return nil
	}
	var out []*Cluster
	if c, ok := s.byName[s.first]; ok {
		out = append(out, c)
	}
	for _, name := range slices.Sorted(maps.Keys(s.byName)) {
		if name != s.first {
			out = append(out, s.byName[name])
		}
	}
	return out
}

// Ready asks the cluster's API server /readyz: nil when it answers that it is ready. The harness probes it
// for outages; a disruption that restarted the API server waits on it.
func (c *Cluster) Ready(ctx context.Context) error {
	return c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
}
