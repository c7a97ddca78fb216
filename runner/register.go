package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/canarygate/canarygate/scenarios"
)

// executor carries out one action kind on the step in env.
type executor func(ctx context.Context, env *Env) error

// executors are the registered action kinds. Written only by Register, from package init functions: a
// registry that tests never change, so tests may run in parallel.
var executors = map[string]executor{}

// Register makes an action kind known to the scenario parser (newSpec: its spec type, with its Default and
// Validate) and to the runner (exec) in one call, so that every kind `validate` accepts is a kind `run`
// carries out. The spec the executor gets is the parsed one, already defaulted and validated. It panics on a
// duplicate kind: a programming error any test finds.
//
// This is the one place a step's spec is converted to its type.
func Register[T scenarios.ActionSpec](kind string, newSpec func() T, exec func(ctx context.Context, env *Env, spec T) error) {
	if _, dup := executors[kind]; dup {
		panic("runner: action kind registered twice: " + kind)
	}
	scenarios.RegisterAction(kind, func() scenarios.ActionSpec { return newSpec() })
	executors[kind] = func(ctx context.Context, env *Env) error {
		spec, ok := env.Step.Action.(T)
		if !ok {
			return fmt.Errorf("action %s: the step's spec is a %T, not the %T its kind was registered with", kind, env.Step.Action, *new(T))
		}
		return exec(ctx, env, spec)
	}
}

// Kinds lists the registered action kinds, sorted.
func Kinds() []string { return slices.Sorted(maps.Keys(executors)) }

// Missing lists the action kinds a scenario uses that no package registered (a scenario built in code rather
// than parsed: a parsed one names only registered kinds).
func Missing(s *scenarios.Scenario) []string {
	var out []string
	for st := range s.AllSteps() {
		if _, ok := executors[st.Kind]; !ok && !slices.Contains(out, st.Kind) {
			out = append(out, st.Kind)
		}
	}
	slices.Sort(out)
	return out
}
