package checks

import (
	"context"
	"errors"
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
	evaluate  func(scenarios.GateSpec, *summary.Run) summary.Check
	observe   Observer
	preflight func(ctx context.Context, g scenarios.Gate) error
	query     func(ctx context.Context, g scenarios.Gate, run *summary.Run) ([]summary.Observation, error)
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
			spec, err := specOf[T](g)
			if err != nil {
				return err
			}
			return observe(ctx, spec, clusters, record)
		}
	}
}

// specOf is a gate's spec as its kind's type (what Observed and Queried hand to the kind's functions).
func specOf[T scenarios.GateSpec](g scenarios.Gate) (T, error) {
	s, ok := g.Spec.(T)
	if !ok {
		return s, fmt.Errorf("gate %s: its spec is a %T, not a %T", g.Name, g.Spec, *new(T))
	}
	return s, nil
}

// Queried gives the gate kind a query: what it judges is asked of a system outside the run (the user's
// Prometheus) once the traffic has stopped, and recorded in the run under the key returned, before the gates
// are judged — so that evaluate still reads the run alone. preflight, when not nil, asks once before the load
// starts, to refuse what cannot be asked (bad input) or reached (an error) before anything is measured.
func Queried[T scenarios.GateSpec](key func(T) string, preflight func(ctx context.Context, spec T) error,
	query func(ctx context.Context, spec T, run *summary.Run) ([]summary.Observation, error)) Option[T] {
	return func(k *gateKind) {
		spec := specOf[T]
		if preflight != nil {
			k.preflight = func(ctx context.Context, g scenarios.Gate) error {
				s, err := spec(g)
				if err != nil {
					return err
				}
				return preflight(ctx, s)
			}
		}
		k.query = func(ctx context.Context, g scenarios.Gate, run *summary.Run) ([]summary.Observation, error) {
			s, err := spec(g)
			if err != nil {
				return nil, err
			}
			obs, err := query(ctx, s, run)
			if run.Observations == nil {
				run.Observations = map[string][]summary.Observation{}
			}
			if len(obs) > 0 {
				// Set, not appended: two identical gates ask the same and record it once.
				run.Observations[key(s)] = obs
			}
			return obs, err
		}
	}
}

// Preflight asks every queried gate of the scenario once before the load starts (Queried).
func Preflight(ctx context.Context, gs []scenarios.Gate) error {
	var errs []error
	for _, g := range gs {
		if k, ok := gates[g.Kind]; ok && k.preflight != nil {
			if err := k.preflight(ctx, g); err != nil {
				errs = append(errs, fmt.Errorf("gate %s: %w", g.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// QueryAll asks every queried gate of the scenario over the finished run and records the answers in it; an
// error is the harness's (it could not ask), never the target's.
func QueryAll(ctx context.Context, gs []scenarios.Gate, run *summary.Run) error {
	var errs []error
	for _, g := range gs {
		if k, ok := gates[g.Kind]; ok && k.query != nil {
			if _, err := k.query(ctx, g, run); err != nil {
				errs = append(errs, fmt.Errorf("gate %s: %w", g.Name, err))
			}
		}
	}
	return errors.Join(errs...)
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
