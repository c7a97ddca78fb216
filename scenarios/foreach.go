package scenarios

import (
	"cmp"
	"fmt"
	"maps"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// StepList is a list of steps as written: a step, or a group repeated for each cluster or each item of a list
// (Solo's "repeat for each cluster"), expanded where it stands into one step per item and step, named
// STEP[ITEM] — the timeline, the reports and plan attribute each to its item:
//
//   - forEach: {clusters: [east, west]}     # ${cluster} inside; steps default to that cluster
//     steps:
//   - {name: install-new, installRevision: {revision: "1-30"}}
//   - {name: move-demo, moveNamespace: {namespaces: [demo], revision: "1-30"}}
//   - forEach: {items: [{cluster: east, NS: a}, {cluster: west, NS: b}]}   # ${cluster}, ${NS}; an item
//     # is named by its cluster, else its name variable, else its position
//     steps: [...]
//
// A when inside a group that names a step of the same group names that step of the same item.
type StepList []Step

// ForEachVar is the variable that holds a forEach item's cluster.
const ForEachVar = "cluster"

func (l *StepList) decodeNode(dec *decoder, n *yaml.Node, path string) {
	if !dec.collection(n, path, yaml.SequenceNode, "a list") {
		return
	}
	out := StepList{}
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		c = resolve(c)
		if c != nil && c.Kind == yaml.MappingNode && mappingHas(c, "forEach") {
			out = append(out, decodeGroup(dec, c, p)...)
			continue
		}
		var st Step
		dec.decode(c, p, reflectValue(&st))
		out = append(out, st)
	}
	*l = out
}

func mappingHas(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// forEachItem is one repetition: its label (STEP[label]), its variables and its cluster.
type forEachItem struct {
	label   string
	vars    map[string]string
	cluster string
}

// decodeGroup expands one forEach group.
func decodeGroup(dec *decoder, n *yaml.Node, path string) []Step {
	var spec, steps *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "forEach":
			spec = resolve(n.Content[i+1])
		case "steps":
			steps = resolve(n.Content[i+1])
		default:
			dec.add(n.Content[i], path+"."+k, "unknown field %q in a forEach group (expected forEach and steps)", k)
		}
	}
	items := forEachItems(dec, spec, path+".forEach")
	if steps == nil || steps.Kind != yaml.SequenceNode || len(steps.Content) == 0 {
		dec.add(n, path+".steps", "required: the steps to repeat for each item")
		return nil
	}
	var out []Step
	for _, it := range items {
		saved := dec.vars
		v := saved
		v.Values = maps.Clone(saved.Values)
		if v.Values == nil {
			v.Values = map[string]string{}
		}
		maps.Copy(v.Values, it.vars)
		dec.vars = v
		var group StepList
		group.decodeNode(dec, steps, fmt.Sprintf("%s.steps[%s]", path, it.label))
		dec.vars = saved
		names := map[string]bool{}
		for i := range group {
			names[group[i].Name] = true
		}
		for i := range group {
			st := &group[i]
			st.Name += "[" + it.label + "]"
			if st.Cluster == "" {
				st.Cluster = it.cluster
			}
			if w := st.When; w != nil {
				if names[w.Passed] {
					w.Passed += "[" + it.label + "]"
				}
				if names[w.Failed] {
					w.Failed += "[" + it.label + "]"
				}
			}
		}
		out = append(out, group...)
	}
	return out
}

// forEachItems reads forEach: exactly one of clusters (names) and items (mappings of variables).
func forEachItems(dec *decoder, n *yaml.Node, path string) []forEachItem {
	if n == nil || n.Kind != yaml.MappingNode {
		dec.add(orNode(n), path, "expected {clusters: [NAME, ...]} or {items: [{VAR: value, ...}, ...]}")
		return nil
	}
	var out []forEachItem
	kinds := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch k.Value {
		case "clusters":
			kinds++
			if v == nil || v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				dec.add(n.Content[i+1], path+".clusters", "expected a non-empty list of cluster names")
				continue
			}
			for j, c := range v.Content {
				name := dec.scalar(c, fmt.Sprintf("%s.clusters[%d]", path, j))
				out = append(out, forEachItem{label: name, vars: map[string]string{ForEachVar: name}, cluster: name})
			}
		case "items":
			kinds++
			if v == nil || v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				dec.add(n.Content[i+1], path+".items", "expected a non-empty list of items, each a mapping of variable to value")
				continue
			}
			for j, c := range v.Content {
				ip := fmt.Sprintf("%s.items[%d]", path, j)
				c = resolve(c)
				if c == nil || c.Kind != yaml.MappingNode {
					dec.add(orNode(c), ip, "expected a mapping of variable to value")
					continue
				}
				it := forEachItem{vars: map[string]string{}}
				for m := 0; m+1 < len(c.Content); m += 2 {
					name := c.Content[m].Value
					if !validVarName(name) {
						dec.add(c.Content[m], ip+"."+name, "%q is not a variable name: expected letters, digits and _", name)
						continue
					}
					it.vars[name] = dec.scalar(c.Content[m+1], ip+"."+name)
				}
				it.cluster = it.vars[ForEachVar]
				// Named by its cluster, else its name variable, else its position.
				it.label = cmp.Or(it.cluster, it.vars["name"], strconv.Itoa(j+1))
				out = append(out, it)
			}
		default:
			dec.add(k, path+"."+k.Value, "unknown field %q (expected clusters or items)", k.Value)
		}
	}
	if kinds != 1 {
		dec.add(n, path, "expected exactly one of clusters and items")
	}
	seen := map[string]bool{}
	for _, it := range out {
		if seen[it.label] {
			dec.add(n, path, "item %q twice: each item names its steps (STEP[%s])", it.label, it.label)
		}
		seen[it.label] = true
	}
	return out
}

func orNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{}
	}
	return n
}
