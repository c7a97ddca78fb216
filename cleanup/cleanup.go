package cleanup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/meshload"
)

// Kind is a kind of object the harness creates.
type Kind struct {
	Name     string
	Resource schema.GroupVersionResource
}

// Kinds are every kind the harness creates in a cluster (meshload.Spec.Objects; a test keeps the two in
// step). Pods and ReplicaSets are not listed: the Deployment owns them and their deletion follows its own.
var Kinds = []Kind{
	{Name: "Deployment", Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
	{Name: "ServiceAccount", Resource: schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}},
}

// ErrBadRun is a run ID that cannot be a label value, so no object can carry it (bad input).
var ErrBadRun = errors.New("not a run ID")

// Selector picks what the harness created: of every run, or of the run named.
func Selector(run string) (string, error) {
	sel := meshload.ManagedLabel + "=" + meshload.Manager
	if run == "" {
		return sel, nil
	}
	if errs := validation.IsValidLabelValue(run); len(errs) > 0 {
		return "", fmt.Errorf("%w %q: %s (a run's ID is in its summary.json, runId, and in its first lines)", ErrBadRun, run, strings.Join(errs, "; "))
	}
	return sel + "," + meshload.RunLabel + "=" + run, nil
}

// Options say what to look for.
type Options struct {
	// Run limits cleanup to one run's objects; "" is every run's.
	Run string
	// Namespaces limit the search (a namespaced Role suffices then); none is every namespace.
	Namespaces []string
}

// Object is one object the harness created.
type Object struct {
	Kind            Kind
	Namespace, Name string
	// Run is its run label ("" for objects of a canarygate from before runs had IDs).
	Run string
	UID types.UID
	// Deleting: its deletion has begun (the run was removing it, or the garbage collector is waiting for its
	// pods); nothing to do.
	Deleting bool
}

func (o Object) String() string { return o.Kind.Name + " " + o.Namespace + "/" + o.Name }

// Find lists what the harness created, by kind, then namespace and name.
func Find(ctx context.Context, c *cluster.Cluster, o Options) ([]Object, error) {
	sel, err := Selector(o.Run)
	if err != nil {
		return nil, err
	}
	namespaces := o.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var out []Object
	for _, k := range Kinds {
		for _, ns := range namespaces {
			list, err := c.Dynamic.Resource(k.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return nil, fmt.Errorf("list %ss labelled %s%s: %w", k.Name, sel, where(ns), err)
			}
			for _, u := range list.Items {
				out = append(out, Object{Kind: k, Namespace: u.GetNamespace(), Name: u.GetName(), Run: u.GetLabels()[meshload.RunLabel],
					UID: u.GetUID(), Deleting: u.GetDeletionTimestamp() != nil})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Object) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out, nil
}

func where(ns string) string {
	if ns == metav1.NamespaceAll {
		return " in all namespaces"
	}
	return " in namespace " + ns
}

// Delete deletes one object: only the object Find saw (its UID — a run that recreated it meanwhile keeps its
// own), with its dependents in the background (a Deployment's ReplicaSets and pods; the generators' pods
// stop their attack on SIGTERM). An object already gone is not an error: gone is what was asked.
func Delete(ctx context.Context, c *cluster.Cluster, o Object) (gone bool, err error) {
	bg := metav1.DeletePropagationBackground
	uid := o.UID
	err = c.Dynamic.Resource(o.Kind.Resource).Namespace(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{
		PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case apierrors.IsConflict(err):
		// The UID precondition failed: the name now belongs to a newer object (a new run's), not ours.
		return false, fmt.Errorf("delete %s: replaced by a newer object since it was listed, left alone: %w", o, err)
	case err != nil:
		return false, fmt.Errorf("delete %s: %w", o, err)
	}
	return false, nil
}
