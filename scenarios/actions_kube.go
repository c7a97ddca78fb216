package scenarios

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubectlwait "k8s.io/kubectl/pkg/cmd/wait"

	"github.com/canarygate/canarygate/fixtures"
)

// Kubernetes and Helm action kinds.
const (
	ActionHelmInstall    = "helmInstall"
	ActionHelmUpgrade    = "helmUpgrade"
	ActionHelmUninstall  = "helmUninstall"
	ActionApply          = "apply"
	ActionDelete         = "delete"
	ActionLabelNamespace = "labelNamespace"
	ActionAnnotate       = "annotate"
	ActionRestart        = "restart"
	ActionWaitFor        = "waitFor"
	ActionScale          = "scale"
	ActionPatch          = "patch"
)

// DefaultHelmTimeout bounds Helm's own wait.
const DefaultHelmTimeout = Duration(5 * time.Minute)

// HelmAction installs or upgrades a release. Chart is a chart name in Repo (an HTTP chart repository), an
// oci:// reference, or a local path.
type HelmAction struct {
	Pos             Pos `yaml:"-" json:"-"`
	verb            string
	Release         string         `yaml:"release" json:"release"`
	Namespace       string         `yaml:"namespace" json:"namespace"`
	CreateNamespace bool           `yaml:"createNamespace,omitempty" json:"createNamespace,omitempty"`
	Chart           string         `yaml:"chart" json:"chart"`
	Repo            string         `yaml:"repo,omitempty" json:"repo,omitempty"`
	Version         string         `yaml:"version,omitempty" json:"version,omitempty"`
	Values          map[string]any `yaml:"values,omitempty" json:"values,omitempty"`
	ValuesFiles     []string       `yaml:"valuesFiles,omitempty" json:"valuesFiles,omitempty"`
	// Wait for the release's resources to be ready (default true: an upgrade step is done when it is rolled out).
	Wait    *bool    `yaml:"wait,omitempty" json:"wait,omitempty"`
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Atomic rolls a failed install back (uninstall) or a failed upgrade back (previous revision).
	Atomic bool `yaml:"atomic,omitempty" json:"atomic,omitempty"`
	// Install lets helmUpgrade install a missing release (helm upgrade --install).
	Install bool `yaml:"install,omitempty" json:"install,omitempty"`
	// PlainHTTP talks to an oci:// registry over HTTP (helm --plain-http): a registry on the local network.
	PlainHTTP bool `yaml:"plainHTTP,omitempty" json:"plainHTTP,omitempty"`
}

// NewHelmInstall returns a helmInstall spec (for actions built on it).
func NewHelmInstall() *HelmAction { return &HelmAction{verb: "install"} }

// NewHelmUpgrade returns a helmUpgrade spec.
func NewHelmUpgrade() *HelmAction { return &HelmAction{verb: "upgrade"} }

// Verb is "install" or "upgrade".
func (a *HelmAction) Verb() string { return a.verb }

// Waits reports whether Helm waits for the release to be ready.
func (a *HelmAction) Waits() bool { return a.Wait == nil || *a.Wait || a.Atomic }

// Default implements Defaulter.
func (a *HelmAction) Default() {
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *HelmAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "release", a.Release, "the Helm release name")
	required(p, a.Pos, path, "chart", a.Chart, "a chart name (with repo), an oci:// reference or a local path")
	required(p, a.Pos, path, "namespace", a.Namespace, "the release's namespace")
	if a.Repo != "" && !strings.HasPrefix(a.Repo, "http://") && !strings.HasPrefix(a.Repo, "https://") {
		p.Add(a.Pos.Field("repo"), join(path, "repo"), "%q: expected an http:// or https:// chart repository URL", a.Repo)
	}
	if a.Timeout < 0 {
		p.Add(a.Pos.Field("timeout"), join(path, "timeout"), "negative: expected a positive duration")
	}
	if a.verb == "install" && a.Install {
		p.Add(a.Pos.Field("install"), join(path, "install"), "only helmUpgrade takes install")
	}
	a.checkLocal(p, a.Pos, path)
}

// checkLocal checks the local files a chart action reads — this machine's, like a step's command: missing
// here, the scenario may still be right (validate warns, run refuses). Actions that install through Helm
// (installRevision, migrateGateway) check theirs with it too.
func (a *HelmAction) checkLocal(p Problems, pos Pos, path string) {
	if a.Chart != "" && a.Repo == "" && !strings.HasPrefix(a.Chart, "oci://") && !Placeholder(a.Chart) {
		if _, err := os.Stat(a.Chart); err != nil {
			p.NotRunnable(pos.Field("chart"), join(path, "chart"), "%q: no chart directory or archive here (expected a local chart path, a chart name with repo, or an oci:// reference)", a.Chart)
		}
	}
	for i, f := range a.ValuesFiles {
		if _, err := os.Stat(f); err != nil && !Placeholder(f) {
			p.NotRunnable(pos.Field("valuesFiles"), fmt.Sprintf("%s.valuesFiles[%d]", path, i), "%q: no such values file here", f)
		}
	}
}

// Describe implements ActionSpec.
func (a *HelmAction) Describe() string {
	src := a.Chart
	if a.Repo != "" {
		src = a.Repo + " " + a.Chart
	}
	if a.Version != "" {
		src += "@" + a.Version
	}
	return fmt.Sprintf("helm %s release %s/%s from %s", a.verb, a.Namespace, a.Release, src)
}

// HelmUninstallAction uninstalls a release.
type HelmUninstallAction struct {
	Pos            Pos      `yaml:"-" json:"-"`
	Release        string   `yaml:"release" json:"release"`
	Namespace      string   `yaml:"namespace" json:"namespace"`
	Wait           bool     `yaml:"wait,omitempty" json:"wait,omitempty"`
	Timeout        Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	IgnoreNotFound bool     `yaml:"ignoreNotFound,omitempty" json:"ignoreNotFound,omitempty"`
}

// Default implements Defaulter.
func (a *HelmUninstallAction) Default() {
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *HelmUninstallAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "release", a.Release, "the Helm release name")
	required(p, a.Pos, path, "namespace", a.Namespace, "the release's namespace")
}

// Describe implements ActionSpec.
func (a *HelmUninstallAction) Describe() string {
	return fmt.Sprintf("helm uninstall release %s/%s", a.Namespace, a.Release)
}

// Manifests names YAML objects: a file, inline text, or a fixture shipped in canarygate.
type Manifests struct {
	File     string `yaml:"file,omitempty" json:"file,omitempty"`
	Manifest string `yaml:"manifest,omitempty" json:"manifest,omitempty"`
	Fixture  string `yaml:"fixture,omitempty" json:"fixture,omitempty"`
	// Namespace is given to namespaced objects that name none.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
}

func (m Manifests) count() int {
	n := 0
	for _, s := range []string{m.File, m.Manifest, m.Fixture} {
		if s != "" {
			n++
		}
	}
	return n
}

// validateFixture reports a fixture name canarygate does not ship, at validate time rather than mid-run.
func (m Manifests) validateFixture(p Problems, pos Pos, path string) {
	if m.Fixture != "" && !slices.Contains(fixtures.Manifests(), strings.TrimSuffix(m.Fixture, ".yaml")) {
		p.Add(pos.Field("fixture"), join(path, "fixture"), "no fixture %q: expected one of %s", m.Fixture, strings.Join(fixtures.Manifests(), ", "))
	}
}

func (m Manifests) describe() string {
	switch {
	case m.File != "":
		return "file " + m.File
	case m.Fixture != "":
		return "fixture " + m.Fixture
	default:
		return "inline manifest"
	}
}

// ApplyAction applies objects with server-side apply.
type ApplyAction struct {
	Pos          Pos `yaml:"-" json:"-"`
	Manifests    `yaml:",inline" json:",inline"`
	FieldManager string `yaml:"fieldManager,omitempty" json:"fieldManager,omitempty"`
	// Force takes ownership of fields other managers own.
	Force bool `yaml:"force,omitempty" json:"force,omitempty"`
}

// DefaultFieldManager is canarygate's server-side apply field manager.
const DefaultFieldManager = "canarygate"

// Validate implements ActionSpec.
func (a *ApplyAction) Validate(_ *Scenario, p Problems, path string) {
	if a.count() != 1 {
		p.Add(a.Pos, path, "expected exactly one of file, manifest or fixture")
	}
	a.validateFixture(p, a.Pos, path)
}

// Default implements Defaulter.
func (a *ApplyAction) Default() {
	if a.FieldManager == "" {
		a.FieldManager = DefaultFieldManager
	}
}

// Describe implements ActionSpec.
func (a *ApplyAction) Describe() string { return "server-side apply " + a.describe() }

// ObjectRef names one object.
type ObjectRef struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	Name       string `yaml:"name" json:"name"`
	Namespace  string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
}

func (o ObjectRef) String() string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Name)
}

func (o ObjectRef) validate(p Problems, pos Pos, path string, needName bool) {
	required(p, pos, path, "apiVersion", o.APIVersion, "an apiVersion such as v1 or apps/v1")
	required(p, pos, path, "kind", o.Kind, "a kind such as Deployment")
	if needName {
		required(p, pos, path, "name", o.Name, "the object's name")
	}
}

// DeleteAction deletes objects (named, or those of manifests) and waits until they are gone.
type DeleteAction struct {
	Pos            Pos `yaml:"-" json:"-"`
	Manifests      `yaml:",inline" json:",inline"`
	Objects        []ObjectRef `yaml:"objects,omitempty" json:"objects,omitempty"`
	IgnoreNotFound bool        `yaml:"ignoreNotFound,omitempty" json:"ignoreNotFound,omitempty"`
	// NoWait returns once deletion was requested.
	NoWait bool `yaml:"noWait,omitempty" json:"noWait,omitempty"`
}

// Validate implements ActionSpec.
func (a *DeleteAction) Validate(_ *Scenario, p Problems, path string) {
	if a.count()+min(len(a.Objects), 1) != 1 {
		p.Add(a.Pos, path, "expected exactly one of objects, file, manifest or fixture")
	}
	a.validateFixture(p, a.Pos, path)
	for i, o := range a.Objects {
		o.validate(p, a.Pos.Field("objects"), fmt.Sprintf("%s.objects[%d]", path, i), true)
	}
}

// Describe implements ActionSpec.
func (a *DeleteAction) Describe() string {
	if len(a.Objects) > 0 {
		names := make([]string, len(a.Objects))
		for i, o := range a.Objects {
			names[i] = o.String()
		}
		return "delete " + strings.Join(names, ", ")
	}
	return "delete objects of " + a.describe()
}

// LabelNamespaceAction sets and removes namespace labels in one update (e.g. istio.io/rev=1-30 and no
// istio-injection).
type LabelNamespaceAction struct {
	Pos        Pos               `yaml:"-" json:"-"`
	Namespaces []string          `yaml:"namespaces" json:"namespaces"`
	Set        map[string]string `yaml:"set,omitempty" json:"set,omitempty"`
	Remove     []string          `yaml:"remove,omitempty" json:"remove,omitempty"`
}

// Validate implements ActionSpec.
func (a *LabelNamespaceAction) Validate(_ *Scenario, p Problems, path string) {
	if len(a.Namespaces) == 0 {
		p.Add(a.Pos.Field("namespaces"), join(path, "namespaces"), "required: the namespaces to relabel")
	}
	validateKeyEdits(p, a.Pos, path, a.Set, a.Remove)
}

// Describe implements ActionSpec.
func (a *LabelNamespaceAction) Describe() string {
	return fmt.Sprintf("label namespace %s: %s", strings.Join(a.Namespaces, ", "), describeEdits(a.Set, a.Remove))
}

// AnnotateAction sets and removes annotations of one object.
type AnnotateAction struct {
	Pos       Pos `yaml:"-" json:"-"`
	ObjectRef `yaml:",inline" json:",inline"`
	Set       map[string]string `yaml:"set,omitempty" json:"set,omitempty"`
	Remove    []string          `yaml:"remove,omitempty" json:"remove,omitempty"`
}

// Validate implements ActionSpec.
func (a *AnnotateAction) Validate(_ *Scenario, p Problems, path string) {
	a.validate(p, a.Pos, path, true)
	validateKeyEdits(p, a.Pos, path, a.Set, a.Remove)
}

// Describe implements ActionSpec.
func (a *AnnotateAction) Describe() string {
	return fmt.Sprintf("annotate %s: %s", a.ObjectRef, describeEdits(a.Set, a.Remove))
}

// RestartAction restarts Deployments (kubectl rollout restart) and waits for each rollout.
type RestartAction struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Namespace string `yaml:"namespace" json:"namespace"`
	// Deployments to restart, in this order; empty means every Deployment in the namespace, by name — except
	// canarygate's own in-mesh generators (label GeneratorStreamLabel) unless IncludeGenerators: restarting
	// the load in the middle of measuring it is rarely what "restart the apps" means.
	Deployments       []string `yaml:"deployments,omitempty" json:"deployments,omitempty"`
	IncludeGenerators bool     `yaml:"includeGenerators,omitempty" json:"includeGenerators,omitempty"`
	Pacing            `yaml:",inline"`
}

// GeneratorStreamLabel marks the Deployments and pods of canarygate's in-mesh generators with their stream.
const GeneratorStreamLabel = "canarygate.dev/stream"

// Validate implements ActionSpec.
func (a *RestartAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "namespace", a.Namespace, "the namespace of the Deployments")
	if a.IncludeGenerators && len(a.Deployments) > 0 {
		p.Add(a.Pos.Field("includeGenerators"), join(path, "includeGenerators"), "only without deployments: a list restarts exactly what it names")
	}
	a.validate(p, a.Pos, path, len(a.Deployments))
}

// Describe implements ActionSpec.
func (a *RestartAction) Describe() string {
	what := "every Deployment in " + a.Namespace + " but canarygate's generators"
	if a.IncludeGenerators {
		what = "every Deployment in " + a.Namespace + ", canarygate's generators included"
	}
	if len(a.Deployments) > 0 {
		what = "Deployments " + a.Namespace + "/" + strings.Join(a.Deployments, ", "+a.Namespace+"/")
	}
	return fmt.Sprintf("rollout restart %s, %s", what, a.describe(len(a.Deployments)))
}

// Spacing modes: what the pause between two restarts follows.
const (
	SpacingAfterRollout = "rollout"
	SpacingAfterRestart = "restart"
)

// Pacing is how a step restarts several Deployments: one at a time (default), each rollout watched to
// completion before the next restart; or all together.
type Pacing struct {
	// AllAtOnce restarts them together, then watches every rollout.
	AllAtOnce bool `yaml:"allAtOnce,omitempty" json:"allAtOnce,omitempty"`
	// Spacing is a pause between two restarts (the Solo guide sleeps 20 s).
	Spacing Duration `yaml:"spacing,omitempty" json:"spacing,omitempty"`
	// SpacingAfter is what the pause follows: "rollout" (default: the rollout watched to completion, then the
	// pause) or "restart" (the restart issued, then the pause, then the next restart — Solo's `kubectl rollout
	// restart …; sleep 20` — with every rollout watched at the end).
	SpacingAfter string `yaml:"spacingAfter,omitempty" json:"spacingAfter,omitempty"`
}

// validate: n is how many Deployments are named (0: every one in the namespace, a number unknown here).
func (pc Pacing) validate(p Problems, pos Pos, path string, n int) {
	switch {
	case pc.Spacing < 0:
		p.Add(pos.Field("spacing"), join(path, "spacing"), "negative: expected a duration of 0 or more")
	case pc.Spacing > 0 && pc.AllAtOnce:
		p.Add(pos.Field("spacing"), join(path, "spacing"), "with allAtOnce every Deployment restarts together: there is nothing to space (drop one of them)")
	case pc.Spacing > 0 && n == 1:
		p.Add(pos.Field("spacing"), join(path, "spacing"), "spaces restarts of several Deployments: with one there is nothing to space (pause with a soak step instead)")
	}
	if pc.SpacingAfter != "" && pc.SpacingAfter != SpacingAfterRollout && pc.SpacingAfter != SpacingAfterRestart {
		p.Add(pos.Field("spacingAfter"), join(path, "spacingAfter"), "%q: expected %s (the pause follows each completed rollout) or %s (it follows the restart, rollouts watched at the end)", pc.SpacingAfter, SpacingAfterRollout, SpacingAfterRestart)
	} else if pc.SpacingAfter != "" && pc.Spacing == 0 {
		p.Add(pos.Field("spacingAfter"), join(path, "spacingAfter"), "without spacing there is no pause for it to place")
	}
}

// describe says how n Deployments (0: every one in the namespace) are restarted.
func (pc Pacing) describe(n int) string {
	switch {
	case pc.AllAtOnce:
		return "all at once, then every rollout watched to completion"
	case n == 1:
		return "its rollout watched to completion"
	case pc.Spacing > 0 && pc.SpacingAfter == SpacingAfterRestart:
		return fmt.Sprintf("one at a time, %s between restarts (not waiting for each rollout), every rollout watched at the end", pc.Spacing)
	case pc.Spacing > 0:
		return fmt.Sprintf("one at a time, each rollout watched to completion, then %s before the next", pc.Spacing)
	}
	return "one at a time, each rollout watched to completion"
}

// Wait conditions.
const (
	WaitAvailable = "available"
	WaitReady     = "ready"
	WaitExists    = "exists"
	WaitGone      = "gone"
)

// WaitForAction waits (by watching) until a condition holds; the step's timeout bounds it.
type WaitForAction struct {
	Pos       Pos `yaml:"-" json:"-"`
	ObjectRef `yaml:",inline" json:",inline"`
	// Selector picks pods (condition ready), or with a kubectl condition objects of the kind, instead of a
	// named object.
	Selector string `yaml:"selector,omitempty" json:"selector,omitempty"`
	// Condition is available, ready, exists or gone, or any condition `kubectl wait --for` takes, on any
	// kind — custom resources included: condition=NAME[=VALUE] (a status condition), jsonpath={EXPR}[=VALUE]
	// (a field; without a value, until it has one — a LoadBalancer's address), create, delete. kubectl's own
	// wait code judges those (k8s.io/kubectl/pkg/cmd/wait), so they mean exactly what they mean there.
	Condition string `yaml:"condition" json:"condition"`
}

// IsKubectlCondition reports whether the condition is one of kubectl wait's (--for) rather than canarygate's.
func (a *WaitForAction) IsKubectlCondition() bool {
	c := strings.ToLower(a.Condition)
	return c == "create" || c == "delete" || strings.HasPrefix(a.Condition, "condition=") || strings.HasPrefix(a.Condition, "jsonpath=")
}

// kubectlWaitCondition parses a condition with kubectl wait's own flag handling, offline: the same errors
// kubectl would give, before anything runs.
func kubectlWaitCondition(cond string) error {
	flags := kubectlwait.NewWaitFlags(offlineGetter{}, genericiooptions.NewTestIOStreamsDiscard())
	flags.ForCondition = []string{cond}
	_, err := flags.ToOptions([]string{"pods/x"})
	return err
}

// offlineGetter lets kubectl's wait flags be parsed without a cluster: nothing is ever requested through it.
type offlineGetter struct{}

func (offlineGetter) ToRESTConfig() (*rest.Config, error) {
	return &rest.Config{Host: "https://127.0.0.1:1"}, nil
}
func (offlineGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("offline")
}
func (offlineGetter) ToRESTMapper() (meta.RESTMapper, error) { return nil, errors.New("offline") }
func (offlineGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveClientConfig(*clientcmdapi.NewConfig(), "", &clientcmd.ConfigOverrides{}, nil)
}

// Validate implements ActionSpec.
func (a *WaitForAction) Validate(_ *Scenario, p Problems, path string) {
	conds := []string{WaitAvailable, WaitReady, WaitExists, WaitGone}
	if a.IsKubectlCondition() {
		name, _, _ := strings.Cut(strings.TrimPrefix(a.Condition, "condition="), "=")
		if strings.HasPrefix(a.Condition, "condition=") && name == "" {
			// kubectl takes it, and would wait for a condition with no type.
			p.Add(a.Pos.Field("condition"), join(path, "condition"), "%q: expected a condition type, e.g. condition=Ready or condition=Ready=False", a.Condition)
		} else if err := kubectlWaitCondition(a.Condition); err != nil {
			p.Add(a.Pos.Field("condition"), join(path, "condition"), "%q: %v (kubectl wait --for syntax: condition=NAME[=VALUE], jsonpath={EXPR}[=VALUE], create, delete)", a.Condition, err)
		}
		a.validate(p, a.Pos, path, a.Selector == "")
		if a.Selector != "" && a.Name != "" {
			p.Add(a.Pos.Field("selector"), join(path, "selector"), "expected a name or a selector, not both")
		}
		return
	}
	if !slices.Contains(conds, a.Condition) {
		p.Add(a.Pos.Field("condition"), join(path, "condition"), "%q: expected one of %v, or a kubectl wait condition (condition=NAME[=VALUE], jsonpath={EXPR}[=VALUE], create, delete)", a.Condition, conds)
		return
	}
	switch a.Condition {
	case WaitReady:
		if a.Selector == "" {
			p.Add(a.Pos.Field("selector"), join(path, "selector"), "required with condition ready: a pod label selector such as app=app-a")
		}
		required(p, a.Pos, path, "namespace", a.Namespace, "the pods' namespace")
	case WaitAvailable:
		required(p, a.Pos, path, "name", a.Name, "the Deployment's name")
		required(p, a.Pos, path, "namespace", a.Namespace, "the Deployment's namespace")
		// "available" is a Deployment's rollout (as kubectl rollout status); any other kind would wait for a
		// Deployment that never appears.
		if a.Kind != "Deployment" || a.APIVersion != "apps/v1" {
			p.Add(a.Pos.Field("kind"), join(path, "kind"), "%s %s: condition available supports apps/v1 Deployment only (use ready with a selector for pods of other workloads)", a.APIVersion, a.Kind)
		}
	default:
		a.validate(p, a.Pos, path, true)
	}
}

// Default implements Defaulter: "available" waits for a Deployment unless the kind is given.
func (a *WaitForAction) Default() {
	if a.Condition == WaitAvailable && a.Kind == "" && a.APIVersion == "" {
		a.APIVersion, a.Kind = "apps/v1", "Deployment"
	}
}

// Describe implements ActionSpec.
func (a *WaitForAction) Describe() string {
	if a.Condition == WaitReady {
		return fmt.Sprintf("wait until pods %s in %s are ready", a.Selector, a.Namespace)
	}
	if a.IsKubectlCondition() {
		what := a.String()
		if a.Selector != "" {
			what = fmt.Sprintf("every %s %s matching %s in %s", a.APIVersion, a.Kind, a.Selector, a.Namespace)
		}
		return fmt.Sprintf("wait until %s meets %s (kubectl wait --for)", what, a.Condition)
	}
	return fmt.Sprintf("wait until %s is %s", a.ObjectRef, a.Condition)
}

// ScaleAction sets a Deployment's replicas and waits for them.
type ScaleAction struct {
	Pos        Pos    `yaml:"-" json:"-"`
	Namespace  string `yaml:"namespace" json:"namespace"`
	Deployment string `yaml:"deployment" json:"deployment"`
	Replicas   int    `yaml:"replicas" json:"replicas"`
}

// Validate implements ActionSpec.
func (a *ScaleAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "namespace", a.Namespace, "the Deployment's namespace")
	required(p, a.Pos, path, "deployment", a.Deployment, "the Deployment's name")
	if a.Replicas < 0 {
		p.Add(a.Pos.Field("replicas"), join(path, "replicas"), "%d is negative: expected 0 or more", a.Replicas)
	}
}

// Describe implements ActionSpec.
func (a *ScaleAction) Describe() string {
	return fmt.Sprintf("scale Deployment %s/%s to %d and wait", a.Namespace, a.Deployment, a.Replicas)
}

// Patch types.
const (
	PatchMerge     = "merge"
	PatchJSON      = "json"
	PatchStrategic = "strategic"
)

// PatchAction patches any object (e.g. the gateway custom resource the Banzai flow patches).
type PatchAction struct {
	Pos       Pos `yaml:"-" json:"-"`
	ObjectRef `yaml:",inline" json:",inline"`
	Type      string `yaml:"type" json:"type"`
	// Patch is the patch: a YAML/JSON object (merge, strategic) or list (json), or a string holding one.
	Patch any `yaml:"patch" json:"patch"`
}

// Default implements Defaulter.
func (a *PatchAction) Default() {
	if a.Type == "" {
		a.Type = PatchMerge
	}
}

// Validate implements ActionSpec.
func (a *PatchAction) Validate(_ *Scenario, p Problems, path string) {
	a.validate(p, a.Pos, path, true)
	if !slices.Contains([]string{PatchMerge, PatchJSON, PatchStrategic}, a.Type) {
		p.Add(a.Pos.Field("type"), join(path, "type"), "%q: expected merge, json or strategic", a.Type)
	}
	if a.Patch == nil {
		p.Add(a.Pos.Field("patch"), join(path, "patch"), "required: the patch to apply")
	}
}

// Describe implements ActionSpec.
func (a *PatchAction) Describe() string { return fmt.Sprintf("%s patch %s", a.Type, a.ObjectRef) }

func required(p Problems, pos Pos, path, field, value, what string) {
	if strings.TrimSpace(value) == "" {
		p.Add(pos.Field(field), join(path, field), "required: %s", what)
	}
}

func validateKeyEdits(p Problems, pos Pos, path string, set map[string]string, remove []string) {
	if len(set) == 0 && len(remove) == 0 {
		p.Add(pos, path, "nothing to change: expected set and/or remove")
	}
	for _, k := range remove {
		if _, both := set[k]; both {
			p.Add(pos.Field("remove"), join(path, "remove"), "%q is both set and removed", k)
		}
	}
}

func describeEdits(set map[string]string, remove []string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, k+"="+set[k])
	}
	for _, k := range remove {
		parts = append(parts, k+"-")
	}
	return strings.Join(parts, " ")
}
