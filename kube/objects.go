package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/fixtures"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

// LoadManifests reads the objects a Manifests names, in order. Empty documents are skipped.
func LoadManifests(m scenarios.Manifests) ([]*unstructured.Unstructured, error) {
	var data []byte
	var err error
	switch {
	case m.File != "":
		data, err = os.ReadFile(m.File)
	case m.Fixture != "":
		data, err = fixtures.Manifest(m.Fixture)
	default:
		data = []byte(m.Manifest)
	}
	if err != nil {
		return nil, err
	}
	return DecodeObjects(data, m.Namespace)
}

// DecodeObjects splits multi-document YAML (or JSON) into objects; namespace is set on objects without one
// (cluster-scoped kinds have it cleared when applied).
func DecodeObjects(data []byte, namespace string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(raw) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: raw}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d: every object needs apiVersion, kind and metadata.name", i)
		}
		if u.GetNamespace() == "" && namespace != "" {
			u.SetNamespace(namespace)
		}
		out = append(out, u)
	}
}

func describe(u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// resourceFor returns the client for an object, clearing the namespace of cluster-scoped kinds.
func resourceFor(c *cluster.Cluster, u *unstructured.Unstructured) (dynClient, error) {
	ri, m, err := c.Resource(u.GroupVersionKind(), u.GetNamespace())
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		u.SetNamespace("")
	} else if u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	return ri, nil
}

type dynClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, subresources ...string) (*unstructured.Unstructured, error)
	Apply(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions, subresources ...string) (*unstructured.Unstructured, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions, subresources ...string) error
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*unstructured.Unstructured, error)
}

// Apply server-side applies objects in order and says for each whether it was created, configured or left
// unchanged (resourceVersion unchanged: applying the same manifest again is a no-op).
func Apply(ctx context.Context, c *cluster.Cluster, objs []*unstructured.Unstructured, fieldManager string, force bool, record func(string, ...any), touched *Touched) error {
	for _, u := range objs {
		ri, err := resourceFor(c, u)
		if err != nil {
			return fmt.Errorf("apply %s: %w", describe(u), err)
		}
		touched.Add(u.GetNamespace())
		before, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("apply %s: %w", describe(u), err)
		}
		after, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: fieldManager, Force: force})
		if err != nil {
			return fmt.Errorf("apply %s: %w", describe(u), err)
		}
		switch {
		case before == nil:
			record("%s: created", describe(u))
		case before.GetResourceVersion() == after.GetResourceVersion() || sameContent(before, after):
			record("%s: unchanged", describe(u))
		default:
			record("%s: configured (resourceVersion %s → %s)", describe(u), before.GetResourceVersion(), after.GetResourceVersion())
		}
	}
	return nil
}

// sameContent compares two versions of an object without what controllers change on their own (status,
// resourceVersion, managed fields): a Deployment's status moving between our read and our apply does not make
// the apply a change.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		delete(c, "status")
		if md, ok := c["metadata"].(map[string]any); ok {
			delete(md, "resourceVersion")
			delete(md, "managedFields")
		}
		return c
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

func apply(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.ApplyAction) error {
	objs, err := LoadManifests(a.Manifests)
	if err != nil {
		return err
	}
	return Apply(ctx, c, objs, a.FieldManager, a.Force, env.Changed, touched)
}

func deleteObjects(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.DeleteAction) error {
	var objs []*unstructured.Unstructured
	if len(a.Objects) > 0 {
		for _, ref := range a.Objects {
			objs = append(objs, refObject(ref))
		}
	} else {
		var err error
		if objs, err = LoadManifests(a.Manifests); err != nil {
			return err
		}
	}
	// Delete in reverse order: what was applied last (workloads) goes before what it needs (namespaces).
	for i := len(objs) - 1; i >= 0; i-- {
		if err := Delete(ctx, c, objs[i], a.IgnoreNotFound, !a.NoWait, env.Changed, touched); err != nil {
			return err
		}
	}
	return nil
}

func refObject(ref scenarios.ObjectRef) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(ref.APIVersion)
	u.SetKind(ref.Kind)
	u.SetName(ref.Name)
	u.SetNamespace(ref.Namespace)
	return u
}

// Delete deletes one object and, when wait is set, watches until it is gone.
func Delete(ctx context.Context, c *cluster.Cluster, u *unstructured.Unstructured, ignoreNotFound, wait bool, record func(string, ...any), touched *Touched) error {
	ri, err := resourceFor(c, u)
	if err != nil {
		return fmt.Errorf("delete %s: %w", describe(u), err)
	}
	touched.Add(u.GetNamespace())
	policy := metav1.DeletePropagationForeground
	err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		if ignoreNotFound {
			record("%s: already absent", describe(u))
			return nil
		}
		return fmt.Errorf("delete %s: %w", describe(u), err)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", describe(u), err)
	}
	if wait {
		if err := WaitGone(ctx, c, u.GroupVersionKind(), u.GetNamespace(), u.GetName()); err != nil {
			return fmt.Errorf("delete %s: waiting until gone: %w", describe(u), err)
		}
	}
	record("%s: deleted", describe(u))
	return nil
}

func annotate(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.AnnotateAction) error {
	u := refObject(a.ObjectRef)
	ri, err := resourceFor(c, u)
	if err != nil {
		return fmt.Errorf("annotate %s: %w", describe(u), err)
	}
	touched.Add(u.GetNamespace())
	before, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("annotate %s: %w", describe(u), err)
	}
	body, changes := keyEdits("annotation", before.GetAnnotations(), a.Set, a.Remove)
	if len(changes) == 0 {
		env.Changed("%s: annotations already as asked", describe(u))
		return nil
	}
	patchBody, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": body, "resourceVersion": before.GetResourceVersion()}})
	if _, err := ri.Patch(ctx, u.GetName(), types.MergePatchType, patchBody, metav1.PatchOptions{FieldManager: scenarios.DefaultFieldManager}); err != nil {
		return fmt.Errorf("annotate %s: %w", describe(u), err)
	}
	for _, ch := range changes {
		env.Changed("%s: %s", describe(u), ch)
	}
	return nil
}

// keyEdits turns set/remove into a merge-patch body (null removes) and human-readable changes; keys already
// as asked are left out.
func keyEdits(what string, current map[string]string, set map[string]string, remove []string) (map[string]any, []string) {
	body := map[string]any{}
	var changes []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		old, had := current[k]
		if had && old == set[k] {
			continue
		}
		body[k] = set[k]
		changes = append(changes, fmt.Sprintf("%s %s: %s → %s", what, k, valueOr(old, had), set[k]))
	}
	for _, k := range remove {
		if old, had := current[k]; had {
			body[k] = nil
			changes = append(changes, fmt.Sprintf("%s %s: %s → (removed)", what, k, old))
		}
	}
	return body, changes
}

func valueOr(v string, had bool) string {
	if !had {
		return "(none)"
	}
	return v
}

func patch(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *Touched, a *scenarios.PatchAction) error {
	u := refObject(a.ObjectRef)
	ri, err := resourceFor(c, u)
	if err != nil {
		return fmt.Errorf("patch %s: %w", describe(u), err)
	}
	touched.Add(u.GetNamespace())
	body, err := patchBytes(a.Patch)
	if err != nil {
		return fmt.Errorf("patch %s: %w", describe(u), err)
	}
	pt := map[string]types.PatchType{scenarios.PatchMerge: types.MergePatchType, scenarios.PatchJSON: types.JSONPatchType, scenarios.PatchStrategic: types.StrategicMergePatchType}[a.Type]
	before, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("patch %s: %w", describe(u), err)
	}
	after, err := ri.Patch(ctx, u.GetName(), pt, body, metav1.PatchOptions{FieldManager: scenarios.DefaultFieldManager})
	if err != nil {
		return fmt.Errorf("patch %s: %w", describe(u), err)
	}
	if before.GetResourceVersion() == after.GetResourceVersion() {
		env.Changed("%s: %s patch changed nothing", describe(u), a.Type)
	} else {
		env.Changed("%s: %s patch %s (generation %d → %d)", describe(u), a.Type, strings.TrimSpace(string(body)), before.GetGeneration(), after.GetGeneration())
	}
	return nil
}

// patchBytes accepts the patch as YAML/JSON text or as a structure from the scenario.
func patchBytes(p any) ([]byte, error) {
	if s, ok := p.(string); ok {
		return sigsyaml.YAMLToJSON([]byte(s))
	}
	return json.Marshal(p)
}
