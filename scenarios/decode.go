package scenarios

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// nodeDecoder is implemented by model types that decode themselves (durations, rates, steps, gates).
type nodeDecoder interface {
	decodeNode(dec *decoder, n *yaml.Node, path string)
}

// decoder turns a yaml.Node tree into model structs, strictly: unknown fields and wrong types are problems,
// and decoding goes on after a problem so that every problem of a file is found in one pass.
type decoder struct {
	problems
	vars Vars
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	d.problems.add(Pos{Line: n.Line, Column: n.Column}, path, format, args...)
}

func (d *decoder) expected(n *yaml.Node, path, what string) {
	d.add(n, path, "expected %s, found %s", what, describeNode(n))
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

// scalar returns the value of a scalar node with ${VAR} references expanded.
func (d *decoder) scalar(n *yaml.Node, path string) string {
	s, err := d.vars.Expand(n.Value)
	if err != nil {
		d.add(n, path, "%v", err)
	}
	return s
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

var (
	posType     = reflect.TypeOf(Pos{})
	decoderType = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
)

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if n == nil {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(decoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		d.decodeScalar(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Struct:
		d.decodeStruct(n, path, v, nil)
	case reflect.Interface:
		// Raw values (e.g. Helm values) keep YAML's own types.
		var raw any
		if err := n.Decode(&raw); err != nil {
			d.add(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(expandAny(d, n, path, raw)))
	default:
		d.add(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

// decodeScalar fills a string, bool, whole number or number.
func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	want := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "true or false",
		reflect.Int: "a whole number", reflect.Int64: "a whole number", reflect.Float64: "a number"}[v.Kind()]
	if n.Kind != yaml.ScalarNode || (v.Kind() == reflect.String && n.Tag == "!!null") {
		d.expected(n, path, want)
		return
	}
	text := d.scalar(n, path)
	var err error
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		var b bool
		if b, err = strconv.ParseBool(text); err == nil {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int64:
		var i int64
		if i, err = strconv.ParseInt(text, 10, 64); err == nil {
			v.SetInt(i)
		}
	case reflect.Float64:
		var f float64
		if f, err = strconv.ParseFloat(text, 64); err == nil {
			v.SetFloat(f)
		}
	}
	if err != nil {
		d.expected(n, path, want)
	}
}

// collection reports whether n is a collection of the wanted kind to decode; null leaves the value as it is,
// another kind is a problem.
func (d *decoder) collection(n *yaml.Node, path string, kind yaml.Kind, what string) bool {
	if n.Tag == "!!null" {
		return false
	}
	if n.Kind != kind {
		d.expected(n, path, what)
		return false
	}
	return true
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if !d.collection(n, path, yaml.SequenceNode, "a list") {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if !d.collection(n, path, yaml.MappingNode, "a mapping") {
		return
	}
	m := reflect.MakeMap(v.Type())
	d.eachKey(n, path, func(key string, kn, vn *yaml.Node) {
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(vn, join(path, key), ev)
		m.SetMapIndex(reflect.ValueOf(key), ev)
	})
	v.Set(m)
}

// expandAny expands ${VAR} in every string of a raw YAML value.
func expandAny(d *decoder, n *yaml.Node, path string, v any) any {
	switch t := v.(type) {
	case string:
		s, err := d.vars.Expand(t)
		if err != nil {
			d.add(n, path, "%v", err)
		}
		return s
	case []any:
		for i := range t {
			t[i] = expandAny(d, n, path, t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = expandAny(d, n, path, t[k])
		}
	}
	return v
}

// eachKey calls fn for every key of a mapping, reporting duplicate and non-string keys.
func (d *decoder) eachKey(n *yaml.Node, path string, fn func(key string, kn, vn *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.add(kn, path, "keys must be plain strings")
			continue
		}
		if kn.Tag == "!!merge" {
			d.add(kn, path, "YAML merge keys (<<) are not supported in scenarios")
			continue
		}
		if seen[kn.Value] {
			d.add(kn, join(path, kn.Value), "field is given twice")
			continue
		}
		seen[kn.Value] = true
		fn(kn.Value, kn, vn)
	}
}

// structFields maps yaml names to field index paths; fields tagged ",inline" are flattened into their parent.
func structFields(t reflect.Type) (names []string, index map[string][]int) {
	index = map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() || f.Type == posType {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			inner, innerIndex := structFields(f.Type)
			for _, n := range inner {
				index[n] = append([]int{i}, innerIndex[n]...)
			}
			names = append(names, inner...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name[:1]) + f.Name[1:]
		}
		index[name] = []int{i}
		names = append(names, name)
	}
	return names, index
}

// decodeStruct decodes a mapping into a struct. extra, when not nil, is offered the keys the struct does not
// know (the one-of action and gate keys of steps and gates); it returns false for keys it does not know either.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value, extra func(key string, kn, vn *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		d.expected(n, path, "a mapping")
		return
	}
	names, index := structFields(v.Type())
	pos := Pos{Line: n.Line, Column: n.Column, Fields: map[string]Pos{}}
	d.eachKey(n, path, func(key string, kn, vn *yaml.Node) {
		if i, ok := index[key]; ok {
			pos.Fields[key] = Pos{Line: kn.Line, Column: kn.Column}
			d.decode(vn, join(path, key), v.FieldByIndex(i))
			return
		}
		if extra != nil && extra(key, kn, vn) {
			pos.Fields[key] = Pos{Line: kn.Line, Column: kn.Column}
			return
		}
		d.unknownField(kn, path, key, names, extra != nil)
	})
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Type == posType {
			v.Field(i).Set(reflect.ValueOf(pos))
		}
	}
}

func (d *decoder) unknownField(kn *yaml.Node, path, key string, names []string, withKinds bool) {
	if d.full() {
		// Past MaxProblems only the count matters: skip building a message nobody will read.
		d.more++
		return
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	what := "one of " + strings.Join(sorted, ", ")
	if withKinds {
		what += " or an action/check kind"
	}
	d.add(kn, join(path, key), "unknown field %q (expected %s)", key, what)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
