package cluster

import (
	"maps"
	"slices"
	"time"

	"github.com/canarygate/canarygate/scenarios"
)

// ProviderOptions are what a run asks of the providers that create clusters (the `run` command's flags).
type ProviderOptions struct {
	// Keep leaves created clusters after the run; KeepOnFailure only when the run did not pass.
	Keep, KeepOnFailure bool
	// Reuse uses a cluster of the scenario's name that already exists (and leaves it) instead of refusing.
	Reuse bool
	// ImageArchives are loaded into every node of a created cluster.
	ImageArchives []string
	// Log receives progress lines.
	Log func(format string, args ...any)
	// WaitForReady bounds waiting for a created cluster's control plane (0: the provider's default).
	WaitForReady time.Duration
}

// providers are the registered provider kinds, written only from package init functions.
var providers = map[string]func(ProviderOptions) Provider{}

// RegisterProvider makes a provider kind known to the scenario parser (clusters[].provider) and to runs, in
// one call: every provider `validate` accepts is one a run can provision. It panics on a duplicate name.
func RegisterProvider(name string, newProvider func(ProviderOptions) Provider) {
	if _, dup := providers[name]; dup {
		panic("cluster: provider registered twice: " + name)
	}
	scenarios.RegisterProvider(name)
	providers[name] = newProvider
}

// NewProvider returns the registered provider of that name, configured.
func NewProvider(name string, o ProviderOptions) (Provider, bool) {
	newProvider, ok := providers[name]
	if !ok {
		return nil, false
	}
	return newProvider(o), true
}

// ProviderNames lists the registered providers, sorted.
func ProviderNames() []string { return slices.Sorted(maps.Keys(providers)) }
