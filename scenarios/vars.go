package scenarios

import (
	"fmt"
	"os"
	"strings"
)

// Vars supplies the values of ${NAME} references in scenario strings. Lookup order: Values (from --var flags),
// then the environment when Env is set, then the reference's own default (${NAME:-default}).
type Vars struct {
	Values map[string]string
	// Env lets the process environment answer what Values does not (CI passes versions this way).
	Env bool
	// Used, when not nil, collects the names the scenario referenced (so that a --var nobody reads — a typo —
	// can be reported).
	Used map[string]bool
	// Declared are the variables the scenario declares in its vars block, each with what it is and who sets
	// it ("NODE_IMAGE: the offline node image — make lab sets it"); Parse fills it from the file. An unset
	// declared variable's error says that description.
	Declared map[string]string
	// Lenient lets an unset declared variable (with no default) stay a ${NAME} placeholder instead of an
	// error, so that validate and plan check everything else of a scenario whose values another tool
	// provides (hack/lab-env.sh for istio-lab); Unset, when not nil, collects those names.
	Lenient bool
	Unset   map[string]bool
}

// Placeholder reports whether a value still holds a ${NAME} an unset declared variable left in it (Lenient):
// whatever depends on it (a local path) cannot be checked yet.
func Placeholder(s string) bool { return strings.Contains(s, "${") }

// ValidName reports whether s can name a variable: letters, digits (not first) and _.
func ValidName(s string) bool { return validVarName(s) }

// Expand replaces ${NAME} and ${NAME:-default} in s. "$$" stands for a literal "$", so shell commands in run
// steps can still say $${HOME}. A reference that resolves to nothing is an error.
func (v Vars) Expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return s, fmt.Errorf("unterminated variable reference in %q: expected ${NAME} or ${NAME:-default}", s)
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			return s, fmt.Errorf("bad variable name %q in %q: expected letters, digits and _", name, s)
		}
		if v.Used != nil {
			v.Used[name] = true
		}
		val, ok := v.lookup(name)
		switch {
		case ok:
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case v.Declared[name] != "" && v.Lenient:
			b.WriteString("${" + name + "}")
			if v.Unset != nil {
				v.Unset[name] = true
			}
		case v.Declared[name] != "":
			return s, fmt.Errorf("variable %s is not set: %s (pass --var %s=VALUE or set it in the environment)", name, v.Declared[name], name)
		default:
			return s, fmt.Errorf("variable %s is not set: pass --var %s=VALUE, set it in the environment, or write ${%s:-default}", name, name, name)
		}
		i += 2 + end
	}
	return b.String(), nil
}

func (v Vars) lookup(name string) (string, bool) {
	if val, ok := v.Values[name]; ok {
		return val, true
	}
	if v.Env {
		if val, ok := os.LookupEnv(name); ok && val != "" {
			return val, true
		}
	}
	return "", false
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
