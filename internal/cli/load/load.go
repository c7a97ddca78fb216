// Package load reads the scenario a command names, with the --var flags every scenario command shares.
package load

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/scenarios"
)

// Flags are the scenario flags shared by run, validate and plan.
type Flags struct {
	Vars []string
	// NoEnv stops ${VAR} references from reading the environment.
	NoEnv bool
}

// Add registers the flags.
func (f *Flags) Add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Vars, "var", nil, "set a scenario variable: --var NAME=VALUE (repeatable); ${NAME} in the scenario reads it, then the environment")
	fs.BoolVar(&f.NoEnv, "no-env", false, "do not let ${NAME} references read the environment")
}

// Scenario loads nameOrPath; problems come back as exit code 2.
func (f *Flags) Scenario(nameOrPath string) (*scenarios.Scenario, error) {
	vars := scenarios.Vars{Values: map[string]string{}, Env: !f.NoEnv}
	for _, kv := range f.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, exitcode.With(exitcode.BadInput, fmt.Errorf("--var %q: expected NAME=VALUE", kv))
		}
		vars.Values[k] = v
	}
	s, err := scenarios.Load(nameOrPath, vars)
	if err != nil {
		return nil, exitcode.With(exitcode.BadInput, err)
	}
	return s, nil
}
