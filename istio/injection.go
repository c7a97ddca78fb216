package istio

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// What injection changed: a pod injected by one revision against one of the same workload injected by another.
// Istio's injector rewrites the pod from its revision's templates (manifests/charts/istio-control/
// istio-discovery/files/*.yaml): it adds containers and init containers, volumes, annotations and labels, and
// edits the app's containers (env, volume mounts, probes rewritten to the agent). Between versions those
// templates change without anyone noticing: holdApplicationUntilProxyStarts via meshConfig lost its postStart
// hook in 1.21 (istio/istio#51310), 1.27 made the sidecar a native sidecar (#57587). Comparing the two pods,
// field by field, shows it.

// ignoredPodKeys differ between any two pods of a rollout, injected or not.
var ignoredPodKeys = map[string]bool{
	"annotation kubectl.kubernetes.io/restartedAt": true, // the restart itself
	"label pod-template-hash":                      true, // each ReplicaSet's own
}

// InjectionView flattens what injection sets or edits on a pod into "key" → "value": the sidecar's mode
// (native: an init container that always restarts), each container's and init container's image, command,
// args, env, ports, probes, lifecycle hooks, resources, security context and volume mounts, the volumes, the
// annotations and labels. Keys never contain ": " (InjectionChange's line form relies on it).
func InjectionView(p *corev1.Pod) map[string]string {
	v := map[string]string{}
	put := func(k string, x any) {
		switch s := x.(type) {
		case string:
			if s != "" {
				v[k] = s
			}
		default:
			if b, err := json.Marshal(x); err == nil && string(b) != "null" && string(b) != "{}" && string(b) != "[]" {
				v[k] = string(b)
			}
		}
	}
	mode := "none"
	var inits []string
	for _, c := range p.Spec.InitContainers {
		inits = append(inits, c.Name)
		if c.Name == ProxyContainer {
			mode = "container"
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				mode = "native sidecar (init container, restartPolicy Always)"
			}
		}
	}
	var containers []string
	for _, c := range p.Spec.Containers {
		containers = append(containers, c.Name)
		if c.Name == ProxyContainer {
			mode = "container"
		}
	}
	v["sidecar"] = mode
	put("initContainers", strings.Join(inits, ","))
	put("containers", strings.Join(containers, ","))
	// One key space for init and regular containers (names are unique across both): a sidecar that became a
	// native sidecar keeps its keys, and the lists above say where it moved.
	each := func(cs []corev1.Container) {
		for _, c := range cs {
			pre := "container " + c.Name + " "
			put(pre+"image", c.Image)
			put(pre+"command", c.Command)
			put(pre+"args", c.Args)
			for _, e := range c.Env {
				if e.ValueFrom != nil {
					put(pre+"env "+e.Name, e.ValueFrom)
				} else {
					v[pre+"env "+e.Name] = e.Value
				}
			}
			put(pre+"ports", c.Ports)
			put(pre+"readinessProbe", c.ReadinessProbe)
			put(pre+"livenessProbe", c.LivenessProbe)
			put(pre+"startupProbe", c.StartupProbe)
			put(pre+"lifecycle", c.Lifecycle)
			put(pre+"resources", c.Resources)
			put(pre+"securityContext", c.SecurityContext)
			for _, m := range c.VolumeMounts {
				m.Name = stableVolumeName(m.Name)
				put(pre+"volumeMount "+m.MountPath, m)
			}
		}
	}
	each(p.Spec.InitContainers)
	each(p.Spec.Containers)
	for _, vol := range p.Spec.Volumes {
		put("volume "+stableVolumeName(vol.Name), vol.VolumeSource)
	}
	put("pod securityContext", p.Spec.SecurityContext)
	for k, val := range p.Annotations {
		v["annotation "+k] = val
	}
	for k, val := range p.Labels {
		v["label "+k] = val
	}
	for k := range ignoredPodKeys {
		delete(v, k)
	}
	for k, val := range v {
		// The service-account token volume's random name appears wherever the spec is quoted (Istio's
		// proxy.istio.io/overrides annotation keeps the pre-injection containers), and a value's line breaks
		// would break the report's one-line form.
		v[k] = strings.ReplaceAll(apiAccessVolume.ReplaceAllString(val, "kube-api-access-*"), "\n", `\n`)
	}
	return v
}

// apiAccessVolume is the API server's projected service-account token volume (kube-api-access-<random>),
// added by the ServiceAccount admission plugin to every pod, injected or not: its random suffix is no change
// of injection.
var apiAccessVolume = regexp.MustCompile(`\bkube-api-access-[a-z0-9]{5}\b`)

// stableVolumeName names the service-account token volume (apiAccessVolume) the same in every pod.
func stableVolumeName(name string) string {
	return apiAccessVolume.ReplaceAllString(name, "kube-api-access-*")
}

// InjectionChange is one field injection set differently (Before or After "" where the field is absent).
type InjectionChange struct {
	Key, Before, After string
	// Expected says why the difference is the upgrade itself ("revision": the value differs only by the
	// revision's name; "proxy image": the injected proxy's image), "" when it is not.
	Expected string
}

// String is the change's line form, "KEY: BEFORE → AFTER", with "(absent)" for a missing side and the reason
// when expected.
func (c InjectionChange) String() string {
	side := func(s string) string {
		if s == "" {
			return "(absent)"
		}
		return s
	}
	s := c.Key + ": " + side(c.Before) + " → " + side(c.After)
	if c.Expected != "" {
		s += " (expected: " + c.Expected + ")"
	}
	return s
}

// DiffInjection compares two pods' injection views, from revision from to revision to, key by key in order.
// A value that differs only by the revision's name (istiod-old → istiod-new, "revision":"old" → "new") and the
// injected proxy's image are the upgrade itself: marked expected.
func DiffInjection(before, after map[string]string, from, to string) []InjectionChange {
	union := map[string]string{}
	maps.Copy(union, before)
	maps.Copy(union, after)
	var out []InjectionChange
	for _, k := range slices.Sorted(maps.Keys(union)) {
		b, a := before[k], after[k]
		if b == a {
			continue
		}
		ch := InjectionChange{Key: k, Before: b, After: a}
		switch {
		case b != "" && a != "" && from != "" && to != "" && revisionOnly(b, a, from, to):
			ch.Expected = "revision"
		case b != "" && a != "" && isProxyImage(k):
			ch.Expected = "proxy image"
		}
		out = append(out, ch)
	}
	return out
}

// revisionOnly: after is before with the revision's name replaced (as a whole word, so revision "new" does not
// touch "renewal").
func revisionOnly(before, after, from, to string) bool {
	var b strings.Builder
	for i := 0; i < len(before); {
		if strings.HasPrefix(before[i:], from) && !wordByte(before, i-1) && !wordByte(before, i+len(from)) {
			b.WriteString(to)
			i += len(from)
			continue
		}
		b.WriteByte(before[i])
		i++
	}
	return b.String() == after
}

func wordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isProxyImage: the image of a container the proxy image runs in (istio-proxy, istio-init, istio-validation).
func isProxyImage(key string) bool {
	for _, c := range []string{ProxyContainer, "istio-init", "istio-validation"} {
		if key == "container "+c+" image" {
			return true
		}
	}
	return false
}

// Unexpected lists the changes neither expected nor allowed (allow: key prefixes, e.g.
// "container istio-proxy env ISTIO_META_").
func Unexpected(changes []InjectionChange, allow []string) []InjectionChange {
	var out []InjectionChange
	for _, c := range changes {
		if c.Expected == "" && !slices.ContainsFunc(allow, func(p string) bool { return strings.HasPrefix(c.Key, p) }) {
			out = append(out, c)
		}
	}
	return out
}

// ParseInjectionChange reads String's line form back (the key never contains ": ").
func ParseInjectionChange(line string) (InjectionChange, error) {
	key, rest, ok := strings.Cut(line, ": ")
	if !ok {
		return InjectionChange{}, fmt.Errorf("injection change %q: expected KEY: BEFORE → AFTER", line)
	}
	c := InjectionChange{Key: key}
	if i := strings.LastIndex(rest, " (expected: "); i >= 0 && strings.HasSuffix(rest, ")") {
		c.Expected = rest[i+len(" (expected: ") : len(rest)-1]
		rest = rest[:i]
	}
	b, a, ok := strings.Cut(rest, " → ")
	if !ok {
		return InjectionChange{}, fmt.Errorf("injection change %q: expected KEY: BEFORE → AFTER", line)
	}
	unside := func(s string) string {
		if s == "(absent)" {
			return ""
		}
		return s
	}
	c.Before, c.After = unside(b), unside(a)
	return c, nil
}
