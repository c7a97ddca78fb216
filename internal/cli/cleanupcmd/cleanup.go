// Package cleanupcmd is `canarygate cleanup`: remove what canarygate's harness left in a cluster (package
// cleanup) — one run's objects or every run's — and nothing else.
package cleanupcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/canarygate/canarygate/cleanup"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/cluster/existing"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/scenarios"
)

// Flags are the command's options.
type Flags struct {
	Kubeconfig, Context string
	cleanup.Options
	DryRun bool
}

// NewCommand returns the cleanup command.
func NewCommand(s streams.IO) *cobra.Command {
	var f Flags
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what canarygate's harness left in a cluster (in-mesh generators), of one run or every run",
		Long: `Remove what canarygate's harness created in a cluster and a run did not remove itself (a run that
crashed or was killed): the in-mesh generators' Deployments (their pods with them) and ServiceAccounts,
found by label — app.kubernetes.io/managed-by=canarygate, and canarygate.dev/run=ID with --run (a run's
ID is in its first lines and its summary.json, runId). Nothing else: objects the scenario's steps made
(revision tags, Helm releases, applied manifests) are the upgrade itself and stay. A second call finds
nothing and says so.

The cluster is the kubeconfig's (--kubeconfig, else $KUBECONFIG, else ~/.kube/config) current context,
or --context.

` + exitcode.Help,
		Args: load.Args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error { return Run(cmd.Context(), s, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.Context, "context", "", "kubeconfig context (default: its current context)")
	fs.StringVar(&f.Run, "run", "", "remove only this run's objects (its ID, runId in summary.json); default: every run's")
	fs.StringSliceVarP(&f.Namespaces, "namespace", "n", nil, "look only in these namespaces (repeatable; default: all — a namespaced Role suffices with this)")
	fs.BoolVar(&f.DryRun, "dry-run", false, "list what would be deleted, delete nothing")
	return cmd
}

// Run carries out a cleanup.
func Run(ctx context.Context, s streams.IO, f Flags) error {
	if _, err := cleanup.Selector(f.Run); err != nil {
		return exitcode.With(exitcode.BadInput, fmt.Errorf("--run: %w", err))
	}
	p := existing.Provider{}
	c, err := p.Provision(ctx, scenarios.Cluster{Name: "cleanup", Provider: "existing", Kubeconfig: f.Kubeconfig, Context: f.Context})
	if err != nil {
		return exitcode.With(exitcode.BadInput, err)
	}
	defer func() { _ = p.Release(context.WithoutCancel(ctx), c, false) }()
	sel, _ := cleanup.Selector(f.Run)
	fmt.Fprintf(s.ErrOut, "• cluster %s%s: %s labelled %s, %s\n", c.Config.Host, contextOf(f), kindNames(), sel, namespaces(f.Namespaces))
	objs, err := cleanup.Find(ctx, c, f.Options)
	if err != nil {
		if apierrors.IsForbidden(err) {
			// Listing every namespace needs a ClusterRoleBinding; -n needs only RoleBindings there.
			err = fmt.Errorf("%w (deploy/rbac/clusterroles.yaml: canarygate-cleanup; with -n NAMESPACE a RoleBinding there is enough)", err)
		}
		return exitcode.With(exitcode.Harness, err)
	}
	if len(objs) == 0 {
		fmt.Fprintf(s.Out, "✓ nothing to clean up: no %s labelled %s%s\n", kindNames(), sel, inNamespaces(f.Namespaces))
		return nil
	}
	if f.DryRun {
		for _, o := range objs {
			fmt.Fprintf(s.Out, "  would delete %s%s\n", o, detail(o))
		}
		fmt.Fprintf(s.Out, "✓ dry run: %d object(s) would be deleted, nothing changed\n", countLive(objs))
		return nil
	}
	return deleteAll(ctx, s, c, objs)
}

func deleteAll(ctx context.Context, s streams.IO, c *cluster.Cluster, objs []cleanup.Object) error {
	var failed []error
	deleted := 0
	for _, o := range objs {
		if o.Deleting {
			fmt.Fprintf(s.Out, "• %s%s\n", o, detail(o))
			continue
		}
		gone, err := cleanup.Delete(ctx, c, o)
		switch {
		case err != nil:
			fmt.Fprintf(s.Out, "✗ %v\n", err)
			failed = append(failed, err)
		case gone:
			fmt.Fprintf(s.Out, "• %s: already gone\n", o)
		default:
			deleted++
			fmt.Fprintf(s.Out, "✓ deleted %s%s\n", o, detail(o))
		}
	}
	if len(failed) > 0 {
		return exitcode.With(exitcode.Harness, fmt.Errorf("cleanup: %d of %d object(s) not deleted: %w", len(failed), len(objs), errors.Join(failed...)))
	}
	fmt.Fprintf(s.Out, "✓ cleaned up: %d object(s) deleted (a Deployment's pods go with it)\n", deleted)
	return nil
}

func detail(o cleanup.Object) string {
	var parts []string
	if o.Run != "" {
		parts = append(parts, "run "+o.Run)
	} else {
		parts = append(parts, "no run ID: a canarygate from before runs had IDs")
	}
	if o.Deleting {
		parts = append(parts, "already being deleted")
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func countLive(objs []cleanup.Object) int {
	n := 0
	for _, o := range objs {
		if !o.Deleting {
			n++
		}
	}
	return n
}

func kindNames() string {
	var names []string
	for _, k := range cleanup.Kinds {
		names = append(names, k.Name+"s")
	}
	return strings.Join(names, " or ")
}

func contextOf(f Flags) string {
	if f.Context == "" {
		return ""
	}
	return " (context " + f.Context + ")"
}

func namespaces(nss []string) string {
	if len(nss) == 0 {
		return "all namespaces"
	}
	return "namespaces " + strings.Join(nss, ", ")
}

func inNamespaces(nss []string) string {
	if len(nss) == 0 {
		return ""
	}
	return " in " + namespaces(nss)
}
