// Package helmrelease holds the executors of the Helm step actions (install, upgrade, uninstall), through
// the Helm SDK against the step's cluster: charts from an HTTP chart repository, an OCI registry or a local
// path; values inline and from files; wait and atomic rollback.
package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/base/ctxcall"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
)

func init() {
	runner.Register(scenarios.ActionHelmInstall, scenarios.NewHelmInstall, kube.Step(installOrUpgrade))
	runner.Register(scenarios.ActionHelmUpgrade, scenarios.NewHelmUpgrade, kube.Step(installOrUpgrade))
	runner.Register(scenarios.ActionHelmUninstall, func() *scenarios.HelmUninstallAction { return &scenarios.HelmUninstallAction{} }, kube.Step(uninstall))
}

// Configuration returns a Helm action configuration for a namespace of the cluster; Helm's log goes to logf.
func Configuration(c *cluster.Cluster, ns string, logf func(string, ...any)) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(c.RESTClientGetter(ns), ns, "secret", action.DebugLog(logf)); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

func logTo(env *runner.Env) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(env.Output, "helm: "+format+"\n", args...) }
}

func installOrUpgrade(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.HelmAction) error {
	return Release(ctx, env, c, touched, a)
}

// Release installs or upgrades the release a HelmAction describes (other actions build one: installRevision,
// migrateGateway).
func Release(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.HelmAction) error {
	touched.Add(a.Namespace)
	cfg, err := Configuration(c, a.Namespace, logTo(env))
	if err != nil {
		return err
	}
	settings := cli.New()
	vals, err := Values(a.ValuesFiles, a.Values)
	if err != nil {
		return err
	}
	exists := true
	hist := action.NewHistory(cfg)
	if _, err := ctxcall.Value(ctx, "helm history", func() ([]*release.Release, error) { return hist.Run(a.Release) }); errors.Is(err, driver.ErrReleaseNotFound) {
		exists = false
	} else if err != nil {
		return fmt.Errorf("helm release %s/%s: %w", a.Namespace, a.Release, err)
	}

	if a.Verb() == "install" || (!exists && a.Install) {
		if exists {
			return fmt.Errorf("helm install %s/%s: the release already exists (use helmUpgrade)", a.Namespace, a.Release)
		}
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace = a.Release, a.Namespace, a.CreateNamespace
		in.Wait, in.Timeout, in.Atomic = a.Waits(), a.Timeout.D(), a.Atomic
		in.Version, in.RepoURL = a.Version, a.Repo
		ch, err := locate(&in.ChartPathOptions, a.Chart, a.PlainHTTP, settings, cfg, in.SetRegistryClient)
		if err != nil {
			return err
		}
		rel, err := in.RunWithContext(ctx, ch, vals)
		if err != nil {
			if a.Atomic {
				return fmt.Errorf("helm install %s/%s failed and was rolled back: %w", a.Namespace, a.Release, err)
			}
			return fmt.Errorf("helm install %s/%s: %w", a.Namespace, a.Release, err)
		}
		env.Changed("helm release %s/%s: installed %s %s (revision %d, %s)", a.Namespace, a.Release, ch.Name(), ch.Metadata.Version, rel.Version, rel.Info.Status)
		return nil
	}
	if !exists {
		return fmt.Errorf("helm upgrade %s/%s: no such release (set install: true to install it)", a.Namespace, a.Release)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Wait, up.Timeout, up.Atomic = a.Namespace, a.Waits(), a.Timeout.D(), a.Atomic
	up.Version, up.RepoURL = a.Version, a.Repo
	ch, err := locate(&up.ChartPathOptions, a.Chart, a.PlainHTTP, settings, cfg, up.SetRegistryClient)
	if err != nil {
		return err
	}
	get := action.NewGet(cfg)
	prev, _ := ctxcall.Value(ctx, "helm get", func() (*release.Release, error) { return get.Run(a.Release) })
	rel, err := up.RunWithContext(ctx, a.Release, ch, vals)
	if err != nil {
		if a.Atomic {
			return fmt.Errorf("helm upgrade %s/%s failed and was rolled back: %w", a.Namespace, a.Release, err)
		}
		return fmt.Errorf("helm upgrade %s/%s: %w", a.Namespace, a.Release, err)
	}
	from := "?"
	if prev != nil {
		from = fmt.Sprintf("%s revision %d", prev.Chart.Metadata.Version, prev.Version)
	}
	env.Changed("helm release %s/%s: upgraded %s → %s revision %d (%s)", a.Namespace, a.Release, from, ch.Metadata.Version, rel.Version, rel.Info.Status)
	return nil
}

// locate finds and loads the chart: a local path, an oci:// reference (through a registry client), or a
// chart name in the repository RepoURL (index.yaml and the archive fetched over HTTP).
func locate(opts *action.ChartPathOptions, name string, plainHTTP bool, settings *cli.EnvSettings, cfg *action.Configuration, setRegistry func(*registry.Client)) (*chart.Chart, error) {
	if strings.HasPrefix(name, "oci://") {
		rcOpts := []registry.ClientOption{registry.ClientOptEnableCache(true)}
		if plainHTTP {
			rcOpts = append(rcOpts, registry.ClientOptPlainHTTP())
		}
		rc, err := registry.NewClient(rcOpts...)
		if err != nil {
			return nil, fmt.Errorf("helm registry client: %w", err)
		}
		cfg.RegistryClient = rc
		setRegistry(rc)
	}
	path, err := opts.LocateChart(name, settings)
	if err != nil {
		return nil, fmt.Errorf("helm: locate chart %s: %w", name, err)
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("helm: load chart %s: %w", path, err)
	}
	return ch, nil
}

func uninstall(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.HelmUninstallAction) error {
	return Uninstall(ctx, env, c, touched, a)
}

// Uninstall removes the release a HelmUninstallAction describes.
func Uninstall(ctx context.Context, env *runner.Env, c *cluster.Cluster, touched *kube.Touched, a *scenarios.HelmUninstallAction) error {
	touched.Add(a.Namespace)
	cfg, err := Configuration(c, a.Namespace, logTo(env))
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout, un.IgnoreNotFound = a.Wait, a.Timeout.D(), a.IgnoreNotFound
	res, err := ctxcall.Value(ctx, "helm uninstall", func() (*release.UninstallReleaseResponse, error) { return un.Run(a.Release) })
	if err != nil {
		return fmt.Errorf("helm uninstall %s/%s: %w", a.Namespace, a.Release, err)
	}
	if res == nil || res.Release == nil {
		env.Changed("helm release %s/%s: not installed", a.Namespace, a.Release)
		return nil
	}
	env.Changed("helm release %s/%s: uninstalled (was %s revision %d)", a.Namespace, a.Release, res.Release.Chart.Metadata.Version, res.Release.Version)
	return ctx.Err()
}

// Values merges values files (in order) and then inline values on top, recursively.
func Values(files []string, inline map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("values file: %w", err)
		}
		var m map[string]any
		if err := sigsyaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		out = merge(out, m)
	}
	return merge(out, inline), nil
}

func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}
