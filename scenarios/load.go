package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// shipped holds the scenario files canarygate ships; canarygate run NAME finds them by name.
//
//go:embed *.yaml
var shipped embed.FS

// Parse decodes, defaults and validates one scenario file. file names it in error messages. A scenario that is
// not valid returns *InvalidError listing every problem.
func Parse(file string, data []byte, vars Vars) (*Scenario, error) {
	dec := &decoder{problems: problems{file: file}, vars: vars}
	var root yaml.Node
	yd := yaml.NewDecoder(bytes.NewReader(data))
	if err := yd.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			dec.problems.add(Pos{Line: 1, Column: 1}, "", "the file is empty: expected a scenario mapping with name, traffic and steps")
			return nil, dec.err()
		}
		hint := ""
		if bytes.Contains(data, []byte("${")) {
			hint = ` (a ${VAR} inside [ ] or { } must be quoted: ["${VAR}"])`
		}
		dec.problems.add(yamlErrorPos(err), "", "not valid YAML: %s%s", yamlErrorMsg(err), hint)
		return nil, dec.err()
	}
	var extra yaml.Node
	if err := yd.Decode(&extra); err == nil {
		dec.problems.add(Pos{Line: extra.Line, Column: extra.Column}, "", "a second YAML document: one scenario per file")
	}
	s := &Scenario{File: file}
	n := resolve(&root)
	if n == nil || n.Kind != yaml.MappingNode {
		dec.problems.add(Pos{Line: 1, Column: 1}, "", "expected a scenario mapping with name, traffic and steps")
		return nil, dec.err()
	}
	// The declared variables first: every other field's ${NAME} may need their descriptions.
	dec.vars.Declared = declaredVars(dec, n)
	if dec.vars.Lenient && dec.vars.Unset == nil {
		dec.vars.Unset = map[string]bool{}
	}
	dec.unset = dec.vars.Unset
	dec.decodeStruct(n, "", reflectValue(s), nil)
	s.applyDefaults()
	s.validate(Problems{&dec.problems})
	if err := dec.err(); err != nil {
		return nil, err
	}
	s.NotRunnable = dec.notRunnable
	for name := range dec.vars.Unset {
		if _, ok := s.Vars[name]; ok {
			s.UnsetVars = append(s.UnsetVars, name)
		}
	}
	sort.Strings(s.UnsetVars)
	return s, nil
}

// declaredVars reads the scenario's vars block (NAME: description), checking each entry: a valid name and a
// one-line description, written as is (no ${…} inside).
func declaredVars(dec *decoder, root *yaml.Node) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "vars" {
			continue
		}
		m := resolve(root.Content[i+1])
		if m == nil || m.Kind != yaml.MappingNode {
			dec.expected(root.Content[i+1], "vars", "a mapping of variable name to a one-line description")
			return out
		}
		for j := 0; j+1 < len(m.Content); j += 2 {
			k, v := m.Content[j], resolve(m.Content[j+1])
			path := "vars." + k.Value
			switch {
			case !validVarName(k.Value):
				dec.add(k, path, "%q is not a variable name: expected letters, digits and _ (not starting with a digit)", k.Value)
			case v == nil || v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" || v.Tag == "!!null":
				dec.add(m.Content[j+1], path, "expected a one-line description of what %s is and who sets it", k.Value)
			case strings.Contains(v.Value, "${"):
				dec.add(v, path, "a description is written as is: no ${…} inside")
			default:
				out[k.Value] = strings.TrimSpace(v.Value)
			}
		}
	}
	return out
}

// yamlErrorPos finds "line N" in a yaml syntax error.
func yamlErrorPos(err error) Pos {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &line)
	}
	return Pos{Line: line, Column: 1}
}

func yamlErrorMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return msg
}

// Load reads a scenario by path, or by name from the shipped scenarios when no such file exists.
func Load(nameOrPath string, vars Vars) (*Scenario, error) {
	data, err := os.ReadFile(nameOrPath)
	if err == nil {
		return Parse(nameOrPath, data, vars)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, &InvalidError{File: nameOrPath, Errors: []FieldError{{File: nameOrPath, Msg: fmt.Sprintf("cannot read scenario: %v", err)}}}
	}
	name := strings.TrimSuffix(nameOrPath, ".yaml")
	if !strings.ContainsAny(name, `/\`) {
		if data, err := shipped.ReadFile(name + ".yaml"); err == nil {
			return Parse(path.Join("scenarios", name+".yaml"), data, vars)
		}
	}
	return nil, &InvalidError{File: nameOrPath, Errors: []FieldError{{File: nameOrPath,
		Msg: fmt.Sprintf("no such file, and no shipped scenario of that name (shipped: %s)", strings.Join(Names(), ", "))}}}
}

// Info describes a shipped scenario.
type Info struct {
	Name        string
	Description string
	File        string
}

// Names lists the shipped scenarios' names.
func Names() []string {
	entries, _ := fs.Glob(shipped, "*.yaml")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e, ".yaml"))
	}
	sort.Strings(out)
	return out
}

// List describes the shipped scenarios. Variables without a default are left unexpanded for this purpose.
func List() []Info {
	var out []Info
	for _, name := range Names() {
		data, _ := shipped.ReadFile(name + ".yaml")
		var head struct {
			Name        string `yaml:"name"`
			Description string `yaml:"description"`
		}
		_ = yaml.Unmarshal(data, &head)
		out = append(out, Info{Name: name, Description: strings.TrimSpace(head.Description), File: path.Join("scenarios", name+".yaml")})
	}
	return out
}

// Source returns a shipped scenario's file content.
func Source(name string) ([]byte, error) { return shipped.ReadFile(name + ".yaml") }
