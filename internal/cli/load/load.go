// Package load reads the scenario a command names, with the --var flags every scenario command shares.
package load

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/scenarios"
)

// Flags are the scenario flags shared by run, validate and plan.
type Flags struct {
	Vars []string
	// NoEnv stops ${VAR} references from reading the environment.
	NoEnv bool
	// StrictVars makes a --var the scenario never references bad input rather than a warning.
	StrictVars bool
	// AllowSkip accepts istiod upgrades beyond the rules of package policy (refused otherwise).
	AllowSkip bool
	// Lenient (validate, plan) leaves the scenario's declared variables that are not set as ${NAME}
	// placeholders and checks the rest (scenarios.Vars.Lenient); run needs them set.
	Lenient bool
}

// Add registers the flags.
func (f *Flags) Add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Vars, "var", nil, "set a scenario variable: --var NAME=VALUE (repeatable); ${NAME} in the scenario reads it, then the environment")
	fs.BoolVar(&f.NoEnv, "no-env", false, "do not let ${NAME} references read the environment")
	fs.BoolVar(&f.StrictVars, "strict-vars", false, "a --var the scenario never references is an error (exit 2), not a warning")
	fs.BoolVar(&f.AllowSkip, "allow-skip", false, "accept istiod upgrades beyond Istio's rules (a canary revision may jump two minors, an in-place upgrade one)")
}

// Scenario loads nameOrPath; problems come back as exit code 2. A --var the scenario never references (a
// misspelt TAGRET would otherwise run against the default silently) is a warning on warn, or with
// --strict-vars an error.
func (f *Flags) Scenario(nameOrPath string, warn io.Writer) (*scenarios.Scenario, error) {
	vars := scenarios.Vars{Values: map[string]string{}, Env: !f.NoEnv, Used: map[string]bool{}, Lenient: f.Lenient}
	var order []string
	for _, kv := range f.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, exitcode.With(exitcode.BadInput, fmt.Errorf("--var %q: expected NAME=VALUE", kv))
		}
		if !scenarios.ValidName(k) {
			return nil, exitcode.With(exitcode.BadInput, fmt.Errorf("--var %q: %q is not a variable name: expected letters, digits and _ (not starting with a digit)", kv, k))
		}
		if _, dup := vars.Values[k]; !dup {
			order = append(order, k)
		}
		vars.Values[k] = v
	}
	s, err := scenarios.Load(nameOrPath, vars)
	if err != nil {
		return nil, exitcode.With(exitcode.BadInput, err)
	}
	if err := policy.Resolve(s, policy.Options{AllowSkip: f.AllowSkip}); err != nil {
		return nil, exitcode.With(exitcode.BadInput, fmt.Errorf("%s: %w (--allow-skip to rehearse it anyway)", s.File, err))
	}
	var unused []string
	for _, k := range order {
		if !vars.Used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		known := make([]string, 0, len(vars.Used))
		for k := range vars.Used {
			known = append(known, k)
		}
		sort.Strings(known)
		msg := fmt.Sprintf("--var %s: not referenced by scenario %s (its variables: %s)", strings.Join(unused, ", "), s.Name, orNone(known))
		if f.StrictVars {
			return nil, exitcode.With(exitcode.BadInput, errors.New(msg))
		}
		if warn != nil {
			fmt.Fprintf(warn, "! warning: %s\n", msg)
		}
	}
	return s, nil
}

// UnsetVars writes, for validate and plan, each declared variable the scenario was checked without, with its
// description: what run will need.
func UnsetVars(w io.Writer, s *scenarios.Scenario) {
	for _, name := range s.UnsetVars {
		fmt.Fprintf(w, "⚠ %s is not set: %s — checked without it (${%s} in what it fills); run needs it\n", name, s.Vars[name], name)
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Formats checks --format values against the formats a command accepts (case-insensitive, so HTML is html)
// and returns them normalised; an unknown one is bad input naming the flag.
func Formats(given, accepted []string) ([]string, error) {
	out := make([]string, 0, len(given))
	for _, g := range given {
		f := strings.ToLower(strings.TrimSpace(g))
		if !slices.Contains(accepted, f) {
			return nil, exitcode.With(exitcode.BadInput, fmt.Errorf("--format %q: expected one of %s", g, strings.Join(accepted, ", ")))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}
