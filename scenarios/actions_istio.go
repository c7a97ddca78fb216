package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/canarygate/canarygate/istio"
)

// Istio action kinds.
const (
	ActionMoveNamespace     = "moveNamespace"
	ActionUninstallRevision = "uninstallRevision"
)

// MoveNamespaceAction moves namespaces to a revision (or revision tag): istio.io/rev set and istio-injection
// removed in one update (injection would otherwise win), then every Deployment restarted one at a time.
type MoveNamespaceAction struct {
	Pos        Pos      `yaml:"-" json:"-"`
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	Revision   string   `yaml:"revision,omitempty" json:"revision,omitempty"`
	Tag        string   `yaml:"tag,omitempty" json:"tag,omitempty"`
	// Pacing is how each namespace's Deployments are restarted.
	Pacing `yaml:",inline"`
}

// Target is the revision or tag the namespaces are labelled with.
func (a *MoveNamespaceAction) Target() string {
	if a.Tag != "" {
		return a.Tag
	}
	return a.Revision
}

// Validate implements ActionSpec.
func (a *MoveNamespaceAction) Validate(_ *Scenario, p Problems, path string) {
	if len(a.Namespaces) == 0 {
		p.Add(a.Pos.Field("namespaces"), join(path, "namespaces"), "required: the namespaces to move")
	}
	if (a.Revision == "") == (a.Tag == "") {
		p.Add(a.Pos, path, "expected exactly one of revision or tag")
	}
	a.validate(p, a.Pos, path, 0)
}

// Describe implements ActionSpec.
func (a *MoveNamespaceAction) Describe() string {
	return fmt.Sprintf("move namespace %s to %s (label istio.io/rev=%s, remove istio-injection, restart every Deployment — canarygate's in-mesh generators there too, so they move with it: %s)",
		strings.Join(a.Namespaces, ", "), a.Target(), a.Target(), a.describe(0))
}

// UninstallRevisionAction removes a control plane revision — only when no proxy is attached to it — and
// then any webhook configuration of that revision left behind (a validating webhook pointing at a deleted
// istiod rejects all Istio configuration).
type UninstallRevisionAction struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Revision  string `yaml:"revision" json:"revision"`
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Release is the istiod Helm release (default istiod-<revision>).
	Release string   `yaml:"release,omitempty" json:"release,omitempty"`
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// DrainTimeout is how long to wait for the revision to drain (pods moved off it finish terminating, its
	// istiod reports no connected proxy) before refusing; 0 checks once. Pods restarted by the previous step
	// are typically still terminating (draining) when this step starts.
	DrainTimeout Duration `yaml:"drainTimeout,omitempty" json:"drainTimeout,omitempty"`
	// Skew: what to do, before uninstalling, about proxies that would be left served by an istiod outside the
	// control plane/data plane skew Istio supports (SkewWarn, the default; SkewFail; SkewOff).
	Skew string `yaml:"skew,omitempty" json:"skew,omitempty"`
}

// Skew modes: Istio's supported-releases page allows the control plane one minor ahead of the data plane and
// the data plane never ahead; a step that changes which istiod serves proxies judges them against it.
const (
	SkewWarn = "warn"
	SkewFail = "fail"
	SkewOff  = "off"
)

// validateSkew checks a skew mode.
func validateSkew(p Problems, pos Pos, path, v string) {
	switch v {
	case "", SkewWarn, SkewFail, SkewOff:
	default:
		p.Add(pos.Field("skew"), join(path, "skew"), "expected %s, %s or %s, got %q", SkewWarn, SkewFail, SkewOff, v)
	}
}

// describeSkew is what plan says of a skew mode.
func describeSkew(v string) string {
	switch v {
	case SkewFail:
		return "; refuses if a proxy would be left served by an istiod too far from its version (Istio's skew: the control plane at most one minor ahead, never behind)"
	case SkewOff:
		return ""
	}
	return "; warns of any proxy left served by an istiod too far from its version (Istio's skew: the control plane at most one minor ahead, never behind)"
}

// Default implements Defaulter.
func (a *UninstallRevisionAction) Default() {
	if a.Namespace == "" {
		a.Namespace = "istio-system"
	}
	if a.Release == "" && a.Revision != "" {
		a.Release = "istiod-" + a.Revision
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *UninstallRevisionAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "revision", a.Revision, "the revision to remove, e.g. 1-29")
	if a.DrainTimeout < 0 {
		p.Add(a.Pos.Field("drainTimeout"), join(path, "drainTimeout"), "expected a duration ≥ 0")
	}
	validateSkew(p, a.Pos, path, a.Skew)
}

// Describe implements ActionSpec.
func (a *UninstallRevisionAction) Describe() string {
	wait := ""
	if a.DrainTimeout > 0 {
		wait = " (waiting up to " + a.DrainTimeout.String() + ")"
	}
	return fmt.Sprintf("uninstall revision %s once no proxy is attached%s: helm release %s/%s if it exists (an operator install has none: skipped, said), then the revision's webhooks left behind — also ones no Helm release owns, never another release's%s", a.Revision, wait, a.Namespace, a.Release, describeSkew(a.Skew))
}

// Revision tag action kinds.
const (
	ActionSetTag    = "setTag"
	ActionRemoveTag = "removeTag"
)

// SetTagAction points a revision tag at a revision, as `istioctl tag set TAG --revision REV --overwrite`
// does: a MutatingWebhookConfiguration istio-revision-tag-TAG made from the revision's injector, selecting
// namespaces and pods labelled istio.io/rev=TAG.
type SetTagAction struct {
	Pos      Pos    `yaml:"-" json:"-"`
	Tag      string `yaml:"tag" json:"tag"`
	Revision string `yaml:"revision" json:"revision"`
	// Skew: what to do about proxies whose discovery address is the tag's Service (they follow the tag
	// without a restart) when the revision it now points at is outside the skew Istio supports for them
	// (SkewWarn, the default; SkewFail; SkewOff). Pods injected through the tag point at their revision's
	// own istiod and move only when restarted.
	Skew string `yaml:"skew,omitempty" json:"skew,omitempty"`
}

// Validate implements ActionSpec.
func (a *SetTagAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "tag", a.Tag, "the tag, e.g. prod-canary")
	required(p, a.Pos, path, "revision", a.Revision, "the revision the tag points at, e.g. 1-30")
	if a.Tag != "" && a.Tag == a.Revision {
		p.Add(a.Pos.Field("tag"), join(path, "tag"), "a tag cannot be named like the revision it points at")
	}
	validateSkew(p, a.Pos, path, a.Skew)
}

// Describe implements ActionSpec.
func (a *SetTagAction) Describe() string {
	return fmt.Sprintf("point revision tag %s at %s (MutatingWebhookConfiguration istio-revision-tag-%s)%s", a.Tag, a.Revision, a.Tag, describeSkew(a.Skew))
}

// RemoveTagAction deletes a revision tag's webhook.
type RemoveTagAction struct {
	Pos Pos    `yaml:"-" json:"-"`
	Tag string `yaml:"tag" json:"tag"`
	// IgnoreNotFound accepts a tag that is not set; otherwise that fails the step, as `istioctl tag remove`
	// does (a misspelt tag would otherwise leave the real one in place unnoticed).
	IgnoreNotFound bool `yaml:"ignoreNotFound,omitempty" json:"ignoreNotFound,omitempty"`
}

// Validate implements ActionSpec.
func (a *RemoveTagAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "tag", a.Tag, "the tag to remove")
}

// Describe implements ActionSpec.
func (a *RemoveTagAction) Describe() string {
	return fmt.Sprintf("remove revision tag %s (MutatingWebhookConfiguration istio-revision-tag-%s)", a.Tag, a.Tag)
}

// ActionProxyRevision checks proxies.
const ActionProxyRevision = "proxyRevision"

// ProxyRevisionAction checks that every pod of the namespaces runs the proxy of the revision (sidecar
// status and CA_ADDR, from the pods) and — unless PodsOnly — that the revision's istiod itself lists each of
// those proxies among its live xDS connections (its /debug/connections), and no other revision's istiod does.
type ProxyRevisionAction struct {
	Pos        Pos      `yaml:"-" json:"-"`
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	Revision   string   `yaml:"revision" json:"revision"`
	// IstiodNamespace is where the istiod pods run (default istio-system).
	IstiodNamespace string `yaml:"istiodNamespace,omitempty" json:"istiodNamespace,omitempty"`
	// ConnectWithin bounds the wait for every proxy to show up on the revision's istiod (default 30s): a
	// proxy that just started, or reconnects, may not be listed for a moment.
	ConnectWithin Duration `yaml:"connectWithin,omitempty" json:"connectWithin,omitempty"`
	// PodsOnly judges from the pods alone, without asking istiod: for proxies that open no xDS stream (the
	// offline lab's proxyless agents with no gRPC app).
	PodsOnly bool `yaml:"podsOnly,omitempty" json:"podsOnly,omitempty"`
	// Image, when set, is the proxy image every pod must run, exactly as the pod spec names it; Version the
	// proxy version (the image tag: equal, a release of it — 1.30 matches 1.30.2 — or with a variant suffix).
	// The right revision does not prove the right proxy (sidecar.istio.io/proxyImage, a values override);
	// the seeds verify the image (Banzai: "grep proxyv2:1.7").
	Image   string `yaml:"image,omitempty" json:"image,omitempty"`
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
}

// DefaultConnectWithin is ProxyRevisionAction's default ConnectWithin.
const DefaultConnectWithin = Duration(30 * time.Second)

// Default implements Defaulter.
func (a *ProxyRevisionAction) Default() {
	if a.IstiodNamespace == "" {
		a.IstiodNamespace = "istio-system"
	}
	if a.ConnectWithin == 0 && !a.PodsOnly {
		a.ConnectWithin = DefaultConnectWithin
	}
}

// Validate implements ActionSpec.
func (a *ProxyRevisionAction) Validate(_ *Scenario, p Problems, path string) {
	if len(a.Namespaces) == 0 {
		p.Add(a.Pos.Field("namespaces"), join(path, "namespaces"), "required: the namespaces to check")
	}
	required(p, a.Pos, path, "revision", a.Revision, "the revision every proxy should run, e.g. 1-30")
	if a.ConnectWithin < 0 {
		p.Add(a.Pos.Field("connectWithin"), join(path, "connectWithin"), "expected a duration ≥ 0")
	}
}

// Describe implements ActionSpec.
func (a *ProxyRevisionAction) Describe() string {
	proxy := "the " + a.Revision + " proxy"
	if w := a.Want(); !w.IsZero() {
		proxy += " (" + w.String() + ")"
	}
	istiod := IstiodOf(a.Revision, a.IstiodNamespace)
	if a.PodsOnly {
		return fmt.Sprintf("check every pod in %s runs %s and points at %s (from the pods only)", strings.Join(a.Namespaces, ", "), proxy, istiod)
	}
	return fmt.Sprintf("check every pod in %s runs %s and is connected to %s (istiod's live xDS connections, within %s)", strings.Join(a.Namespaces, ", "), proxy, istiod, a.ConnectWithin)
}

// IstiodOf names a revision's istiod as it exists: Helm installs run istiod-<revision> in ns; operator
// installs (Banzai's, Solo's) name revisions <control plane>.<namespace>, their istiod istiod-<control plane>
// in that namespace (istio.AddressServes reads addresses the same way).
func IstiodOf(revision, ns string) string {
	if cp, cpNS, ok := strings.Cut(revision, "."); ok && cp != "" && cpNS != "" {
		return fmt.Sprintf("istiod-%s in %s (operator revision %s)", cp, cpNS, revision)
	}
	return fmt.Sprintf("istiod-%s in %s", revision, ns)
}

// Want is the proxy image and version asked for beyond the revision.
func (a *ProxyRevisionAction) Want() istio.ProxyWant {
	return istio.ProxyWant{Image: a.Image, Version: a.Version}
}

// ActionCrossRevisionMTLS proves cross-revision calls.
const ActionCrossRevisionMTLS = "crossRevisionMTLS"

// CrossRevisionMTLSAction proves, while revisions coexist, that calls between workloads on different
// revisions succeeded over mutual TLS: it reads every destination sidecar's istio_requests_total in the
// namespaces and builds the revision × revision matrix. Every pair of different revisions with calls must
// be all mTLS and all 2xx, and at least one cross-revision pair must have calls.
type CrossRevisionMTLSAction struct {
	Pos        Pos      `yaml:"-" json:"-"`
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	// Window is how long calls are watched: the proxies' counters are read at its start and its end, and
	// only the calls in between are judged (default 20s).
	Window Duration `yaml:"window" json:"window"`
	// Settle bounds the wait, before the window, for every workload to be on one revision with no pod
	// terminating (default 2m).
	Settle Duration `yaml:"settle" json:"settle"`
}

// Default window and settle of crossRevisionMTLS.
const (
	DefaultMTLSWindow = Duration(20 * time.Second)
	DefaultMTLSSettle = Duration(2 * time.Minute)
)

// Default implements Defaulter.
func (a *CrossRevisionMTLSAction) Default() {
	if a.Window == 0 {
		a.Window = DefaultMTLSWindow
	}
	if a.Settle == 0 {
		a.Settle = DefaultMTLSSettle
	}
}

// DefaultTimeout implements ActionDefaulter: the settle, the window and a minute to read the proxies.
func (a *CrossRevisionMTLSAction) DefaultTimeout() Duration {
	return max(a.Window, DefaultMTLSWindow) + max(a.Settle, DefaultMTLSSettle) + Duration(time.Minute)
}

// Validate implements ActionSpec.
func (a *CrossRevisionMTLSAction) Validate(_ *Scenario, p Problems, path string) {
	if len(a.Namespaces) == 0 {
		p.Add(a.Pos.Field("namespaces"), join(path, "namespaces"), "required: the namespaces whose workloads call each other")
	}
	if a.Window <= 0 {
		p.Add(a.Pos.Field("window"), join(path, "window"), "%s: expected a positive duration such as 20s", a.Window)
	}
	if a.Settle < 0 {
		p.Add(a.Pos.Field("settle"), join(path, "settle"), "%s is negative: expected a duration such as 2m", a.Settle)
	}
}

// Describe implements ActionSpec.
func (a *CrossRevisionMTLSAction) Describe() string {
	return fmt.Sprintf("prove calls between revisions in %s succeed over mTLS in a %s window (the proxies' istio_requests_total read at its start and end)", strings.Join(a.Namespaces, ", "), a.Window)
}

// Revision lifecycle action kinds.
const (
	ActionInstallRevision = "installRevision"
	ActionMigrateGateway  = "migrateGateway"
	ActionRollback        = "rollback"
)

// DefaultIstioRepo is Istio's official Helm chart repository.
const DefaultIstioRepo = "https://istio-release.storage.googleapis.com/charts"

// InstallRevisionAction installs istiod as a revision beside the running one: Helm release istiod-<revision>
// of the istiod chart with value revision=<revision>.
type InstallRevisionAction struct {
	Pos       Pos            `yaml:"-" json:"-"`
	Revision  string         `yaml:"revision" json:"revision"`
	Version   string         `yaml:"version,omitempty" json:"version,omitempty"`
	Repo      string         `yaml:"repo,omitempty" json:"repo,omitempty"`
	Chart     string         `yaml:"chart,omitempty" json:"chart,omitempty"`
	Namespace string         `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Values    map[string]any `yaml:"values,omitempty" json:"values,omitempty"`
	Timeout   Duration       `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Default implements Defaulter.
func (a *InstallRevisionAction) Default() {
	if a.Chart == "" {
		a.Chart = "istiod"
	}
	if a.Repo == "" && !strings.ContainsAny(a.Chart, "/.") {
		a.Repo = DefaultIstioRepo
	}
	if a.Namespace == "" {
		a.Namespace = "istio-system"
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *InstallRevisionAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "revision", a.Revision, "the new revision, e.g. 1-30")
	a.Helm().checkLocal(p, a.Pos, path)
}

// Helm is the helmInstall this action performs.
func (a *InstallRevisionAction) Helm() *HelmAction {
	h := NewHelmInstall()
	h.Release, h.Namespace, h.Chart, h.Repo, h.Version, h.Timeout = "istiod-"+a.Revision, a.Namespace, a.Chart, a.Repo, a.Version, a.Timeout
	h.Values = map[string]any{}
	for k, v := range a.Values {
		h.Values[k] = v
	}
	h.Values["revision"] = a.Revision
	return h
}

// Describe implements ActionSpec.
func (a *InstallRevisionAction) Describe() string {
	return fmt.Sprintf("install revision %s beside the running one: %s", a.Revision, a.Helm().Describe())
}

// MigrateGatewayAction moves the ingress gateway to a revision: the gateway release of the new revision is
// installed (its pods join the same stable Service by a shared label) and ready before the old revision's
// release is removed, so the Service's address never changes and always has endpoints.
type MigrateGatewayAction struct {
	Pos       Pos    `yaml:"-" json:"-"`
	From      string `yaml:"from" json:"from"`
	To        string `yaml:"to" json:"to"`
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// ReleasePrefix names the releases: <prefix><revision> (default istio-ingress-).
	ReleasePrefix string         `yaml:"releasePrefix,omitempty" json:"releasePrefix,omitempty"`
	Version       string         `yaml:"version,omitempty" json:"version,omitempty"`
	Repo          string         `yaml:"repo,omitempty" json:"repo,omitempty"`
	Chart         string         `yaml:"chart,omitempty" json:"chart,omitempty"`
	Values        map[string]any `yaml:"values,omitempty" json:"values,omitempty"`
	Timeout       Duration       `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// KeepOld leaves the old revision's gateway running (both serve until a later step removes it).
	KeepOld bool `yaml:"keepOld,omitempty" json:"keepOld,omitempty"`
}

// Default implements Defaulter.
func (a *MigrateGatewayAction) Default() {
	if a.Namespace == "" {
		a.Namespace = "istio-ingress"
	}
	if a.ReleasePrefix == "" {
		a.ReleasePrefix = "istio-ingress-"
	}
	if a.Chart == "" {
		a.Chart = "gateway"
	}
	if a.Repo == "" && !strings.ContainsAny(a.Chart, "/.") {
		a.Repo = DefaultIstioRepo
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *MigrateGatewayAction) Validate(_ *Scenario, p Problems, path string) {
	required(p, a.Pos, path, "from", a.From, "the revision the gateway runs now")
	required(p, a.Pos, path, "to", a.To, "the revision to move it to")
	a.Helm().checkLocal(p, a.Pos, path)
}

// Helm is the helmInstall of the new gateway release.
func (a *MigrateGatewayAction) Helm() *HelmAction {
	h := NewHelmInstall()
	h.Release, h.Namespace, h.Chart, h.Repo, h.Version, h.Timeout = a.ReleasePrefix+a.To, a.Namespace, a.Chart, a.Repo, a.Version, a.Timeout
	h.Values = map[string]any{}
	for k, v := range a.Values {
		h.Values[k] = v
	}
	h.Values["revision"] = a.To
	return h
}

// Describe implements ActionSpec.
func (a *MigrateGatewayAction) Describe() string {
	d := fmt.Sprintf("move the gateway from %s to %s: install release %s/%s%s, wait", a.From, a.To, a.Namespace, a.ReleasePrefix, a.To)
	if !a.KeepOld {
		d += fmt.Sprintf(", then uninstall %s/%s%s", a.Namespace, a.ReleasePrefix, a.From)
	}
	return d
}

// RollbackAction undoes a canary: namespaces move back to the old revision (or tag) and restart, then the
// new revision is removed once no proxy is attached to it.
type RollbackAction struct {
	Pos        Pos      `yaml:"-" json:"-"`
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	// To is the revision (or tag) the namespaces go back to.
	To string `yaml:"to" json:"to"`
	// Tags are re-pointed first, tag → revision (AKS rolls back by pointing prod-stable, and default, back at
	// the old revision); namespaces labelled with a tag then restart onto it.
	Tags map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// Remove is the revision uninstalled afterwards (empty: keep it).
	Remove    string   `yaml:"remove,omitempty" json:"remove,omitempty"`
	Namespace string   `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Timeout   Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Default implements Defaulter.
func (a *RollbackAction) Default() {
	if a.Namespace == "" {
		a.Namespace = "istio-system"
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultHelmTimeout
	}
}

// Validate implements ActionSpec.
func (a *RollbackAction) Validate(_ *Scenario, p Problems, path string) {
	if len(a.Namespaces) == 0 {
		p.Add(a.Pos.Field("namespaces"), join(path, "namespaces"), "required: the namespaces to move back")
	}
	required(p, a.Pos, path, "to", a.To, "the revision or tag to go back to")
}

// Describe implements ActionSpec.
func (a *RollbackAction) Describe() string {
	d := ""
	if len(a.Tags) > 0 {
		var tags []string
		for t, rev := range a.Tags {
			tags = append(tags, t+" → "+rev)
		}
		sort.Strings(tags)
		d = "re-point tags " + strings.Join(tags, ", ") + ", then "
	}
	d += fmt.Sprintf("roll back %s to %s (relabel, restart each Deployment)", strings.Join(a.Namespaces, ", "), a.To)
	if a.Remove != "" {
		d += ", then uninstall revision " + a.Remove + " once drained"
	}
	return d
}

// ActionGatewaysServe proves that the gateways of every revision serve while they coexist.
const ActionGatewaysServe = "gatewaysServe"

// GatewaysServeAction proves, while the gateways of two revisions stand behind one Service, that each of
// them served requests: every gateway pod's istio_requests_total is read at the start and the end of a
// window, and each revision's pods must have counted some in between. A kept-alive client pinned to the old
// gateway, or a new gateway that is Ready but not in the Service's endpoints, fails it.
type GatewaysServeAction struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Namespace string `yaml:"namespace" json:"namespace"`
	// Selector picks the gateway pods of every revision (default istio=ingressgateway).
	Selector string   `yaml:"selector" json:"selector"`
	Window   Duration `yaml:"window" json:"window"`
}

// Defaults of gatewaysServe.
const (
	DefaultGatewayNamespace = "istio-ingress"
	DefaultGatewaySelector  = "istio=ingressgateway"
)

// Default implements Defaulter.
func (a *GatewaysServeAction) Default() {
	if a.Namespace == "" {
		a.Namespace = DefaultGatewayNamespace
	}
	if a.Selector == "" {
		a.Selector = DefaultGatewaySelector
	}
	if a.Window == 0 {
		a.Window = DefaultMTLSWindow
	}
}

// DefaultTimeout implements ActionDefaulter: the window and a minute to read the gateways.
func (a *GatewaysServeAction) DefaultTimeout() Duration {
	return max(a.Window, DefaultMTLSWindow) + Duration(time.Minute)
}

// Validate implements ActionSpec.
func (a *GatewaysServeAction) Validate(_ *Scenario, p Problems, path string) {
	if _, err := labels.Parse(a.Selector); err != nil {
		p.Add(a.Pos.Field("selector"), join(path, "selector"), "%q: expected a label selector such as istio=ingressgateway (%v)", a.Selector, err)
	}
	if a.Window <= 0 {
		p.Add(a.Pos.Field("window"), join(path, "window"), "%s: expected a positive duration such as 20s", a.Window)
	}
}

// Describe implements ActionSpec.
func (a *GatewaysServeAction) Describe() string {
	return fmt.Sprintf("prove the gateways of every revision (%s in %s) serve in a %s window (each gateway's istio_requests_total read at its start and end)", a.Selector, a.Namespace, a.Window)
}
