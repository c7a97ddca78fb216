package cluster

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RESTClientGetter is the cluster as kubectl's and Helm's libraries want it (genericclioptions): canarygate's
// own rest config, discovery and mapper, with ns as the default namespace — so kubectl's wait and Helm's
// actions run on the same clients as the rest of the run.
func (c *Cluster) RESTClientGetter(ns string) genericclioptions.RESTClientGetter {
	return getter{c: c, ns: ns}
}

type getter struct {
	c  *Cluster
	ns string
}

func (g getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.c.Config), nil }
func (g getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.c.Discovery(), nil
}
func (g getter) ToRESTMapper() (meta.RESTMapper, error) { return g.c.Mapper(), nil }

// ToRawKubeConfigLoader is read for the default namespace only (clients come from ToRESTConfig); it must
// still be a usable config — one cluster, user and context — or kubectl's builder refuses it.
func (g getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[g.c.Name] = &clientcmdapi.Cluster{Server: g.c.Config.Host}
	cfg.AuthInfos[g.c.Name] = &clientcmdapi.AuthInfo{}
	cfg.Contexts[g.c.Name] = &clientcmdapi.Context{Cluster: g.c.Name, AuthInfo: g.c.Name, Namespace: g.ns}
	cfg.CurrentContext = g.c.Name
	return clientcmd.NewNonInteractiveClientConfig(*cfg, g.c.Name, &clientcmd.ConfigOverrides{}, nil)
}
