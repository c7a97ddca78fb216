package checks

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// Observer watches what a gate judges (a Service's address, say) from traffic start to traffic stop,
// recording values by key on the run's timeline; it returns when ctx ends.
type Observer func(ctx context.Context, g scenarios.Gate, clusters *cluster.Set, record func(key, value string)) error

type gateKind struct {
	evaluate func(scenarios.GateSpec, *summary.Run) summary.Check
	observe  Observer
}

// gates are the registered gate kinds, written only from package init functions.
var gates = map[string]gateKind{}

// Option adds to a gate kind's registration.
type Option[T scenarios.GateSpec] func(*gateKind)

// Observed gives the gate kind an observer: the harness runs it while traffic runs, for every gate of the
// kind in the scenario.
func Observed[T scenarios.GateSpec](observe func(ctx context.Context, spec T, clusters *cluster.Set, record func(key, value string)) error) Option[T] {
	return func(k *gateKind) {
		k.observe = func(ctx context.Context, g scenarios.Gate, clusters *cluster.Set, record func(key, value string)) error {
			spec, ok := g.Spec.(T)
			if !ok {
				return fmt.Errorf("gate %s: its spec is a %T, not a %T", g.Name, g.Spec, *new(T))
			}
			return observe(ctx, spec, clusters, record)
		}
	}
}

// Register makes a gate kind known to the scenario parser (newSpec: its spec type, with its Default and
// Validate) and to the judge (evaluate), in one call: every gate `validate` accepts is one a run judges. It
// panics on a duplicate kind.
//
// This is the one place a gate's spec is converted to its type.
func Register[T scenarios.GateSpec](kind string, newSpec func() T, evaluate func(T, *summary.Run) summary.Check, opts ...Option[T]) {
	if _, dup := gates[kind]; dup {
		panic("checks: gate kind registered twice: " + kind)
	}
	scenarios.RegisterGate(kind, func() scenarios.GateSpec { return newSpec() })
	k := gateKind{evaluate: func(s scenarios.GateSpec, r *summary.Run) summary.Check {
		spec, ok := s.(T)
		if !ok {
			return summary.Check{Summary: fmt.Sprintf("gate %s: its spec is a %T, not a %T", kind, s, *new(T))}
		}
		return evaluate(spec, r)
	}}
	for _, o := range opts {
		o(&k)
	}
	gates[kind] = k
}

// Kinds lists the registered gate kinds, sorted.
func Kinds() []string { return slices.Sorted(maps.Keys(gates)) }

// ObserverFor returns the observer of a gate kind, if it has one.
func ObserverFor(kind string) (Observer, bool) {
	k, ok := gates[kind]
	return k.observe, ok && k.observe != nil
}
