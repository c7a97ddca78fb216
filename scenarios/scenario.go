package scenarios

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"

	yaml "go.yaml.in/yaml/v3"
)

// Scenario is one upgrade rehearsal: traffic that runs for the whole rehearsal, steps that carry out the
// upgrade, gates that judge the timeline afterwards, and where the reports go.
type Scenario struct {
	Pos Pos `yaml:"-" json:"-"`
	// File is where the scenario was read from (a path, or scenarios/NAME.yaml for a shipped one).
	File string `yaml:"-" json:"file,omitempty"`
	// NotRunnable lists what keeps this valid scenario from running on this machine (a step's command not on
	// PATH): validate warns about it, run refuses before anything starts.
	NotRunnable []FieldError `yaml:"-" json:"-"`

	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Vars declares the variables the scenario needs that have no default, each with a one-line
	// description of what it is and who sets it: validate and plan then check the rest with them unset,
	// and run's error names the description.
	Vars map[string]string `yaml:"vars,omitempty" json:"vars,omitempty"`
	// UnsetVars lists the declared variables validate or plan left unset (placeholders ${NAME} remain).
	UnsetVars []string `yaml:"-" json:"-"`
	// Clusters the steps act on; a step names one with its cluster field (the first is the default).
	Clusters []Cluster `yaml:"clusters,omitempty" json:"clusters,omitempty"`
	Traffic  Traffic   `yaml:"traffic" json:"traffic"`
	// Setup steps run before traffic starts (install the old revision, deploy the apps); when one fails,
	// the rehearsal does not start and teardown runs.
	Setup StepList `yaml:"setup,omitempty" json:"setup,omitempty"`
	Steps StepList `yaml:"steps" json:"steps"`
	// Teardown steps always run, after the steps, whatever happened to them.
	Teardown StepList `yaml:"teardown,omitempty" json:"teardown,omitempty"`
	Checks   []Gate   `yaml:"checks,omitempty" json:"checks,omitempty"`
	// RecordOnly says the scenario judges nothing on purpose (checks: [] is refused otherwise): the run
	// only measures and reports, and its verdict says no gate was applied.
	RecordOnly bool   `yaml:"recordOnly,omitempty" json:"recordOnly,omitempty"`
	Report     Report `yaml:"report" json:"report"`
	// Compare holds how much worse than a baseline this scenario's runs may get (canarygate compare, trend).
	Compare *CompareThresholds `yaml:"compare,omitempty" json:"compare,omitempty"`
	// Policy tightens the version rules Istio documents (package policy) for this scenario.
	Policy *UpgradePolicy `yaml:"policy,omitempty" json:"policy,omitempty"`
}

// UpgradePolicy tightens Istio's own version rules: the AKS add-on, for instance, moves one minor at a time
// even on canary upgrades, where Istio allows two.
type UpgradePolicy struct {
	Pos Pos `yaml:"-" json:"-"`
	// MaxMinorJump is the most minor versions one istiod upgrade may cross (1 or 2; Istio allows 2 for a
	// canary revision, 1 in place — the smaller of the two applies).
	MaxMinorJump int `yaml:"maxMinorJump" json:"maxMinorJump"`
}

// CompareThresholds: a step's p99 (or duration) regresses when it grows by more than the ratio AND the
// increase. Any new unexpected response is always a regression.
type CompareThresholds struct {
	Pos              Pos      `yaml:"-" json:"-"`
	P99Ratio         float64  `yaml:"p99Ratio,omitempty" json:"p99Ratio,omitempty"`
	P99Increase      Duration `yaml:"p99Increase,omitempty" json:"p99Increase,omitempty"`
	DurationRatio    float64  `yaml:"durationRatio,omitempty" json:"durationRatio,omitempty"`
	DurationIncrease Duration `yaml:"durationIncrease,omitempty" json:"durationIncrease,omitempty"`
}

// Cluster is a Kubernetes cluster the steps act on.
type Cluster struct {
	Pos  Pos    `yaml:"-" json:"-"`
	Name string `yaml:"name" json:"name"`
	// Provider is "existing" (a kubeconfig) or "kind" (created for the run).
	Provider   string `yaml:"provider" json:"provider"`
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	Context    string `yaml:"context,omitempty" json:"context,omitempty"`
	// NodeImage and Config apply to provider kind. Config is a kind configuration file, or the name of one
	// canarygate embeds ("config", the default; "lab", for the offline node image of hack/kind-node-image.sh).
	NodeImage string `yaml:"nodeImage,omitempty" json:"nodeImage,omitempty"`
	Config    string `yaml:"config,omitempty" json:"config,omitempty"`
	// AllowDisruption lets disrupt steps act on a cluster of provider existing (with the run's
	// --allow-disruption): a staging cluster is never disrupted by surprise.
	AllowDisruption bool `yaml:"allowDisruption,omitempty" json:"allowDisruption,omitempty"`
}

// Traffic is the load that runs for the whole rehearsal.
type Traffic struct {
	Pos Pos `yaml:"-" json:"-"`
	// Warmup is load before the first step: the baseline.
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// Cooldown is load after the last step, before traffic stops: late failures show here.
	Cooldown Duration `yaml:"cooldown" json:"cooldown"`
	Streams  []Stream `yaml:"streams" json:"streams"`
	// None says the scenario puts no load on purpose (the istioctl, Banzai and AKS documents run none): no
	// streams, warm-up and cool-down 0 unless given, and no gate that judges traffic.
	None bool `yaml:"none,omitempty" json:"none,omitempty"`
}

// Stream is one constant-rate flow of identical requests.
type Stream struct {
	Pos    Pos    `yaml:"-" json:"-"`
	Name   string `yaml:"name" json:"name"`
	Method string `yaml:"method" json:"method"`
	URL    string `yaml:"url" json:"url"`
	// Headers are sent with every request; "Host" sets the Host header (virtual hosts behind an ingress).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"`
	Rate    Rate              `yaml:"rate" json:"rate"`
	// Timeout bounds each request.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Expect lists the status codes that count as success (default exactly 200).
	Expect []int `yaml:"expect" json:"expect"`
	// MaxWorkers caps the stream's concurrent requests (vegeta -max-workers). Default: enough for the rate
	// with every request taking the whole timeout (rate × timeout + 10), at most DefaultMaxWorkersCap; 64
	// with rate: max. A generator that hits the cap falls behind its schedule: the run is an error, not a
	// verdict on the target.
	MaxWorkers int `yaml:"maxWorkers" json:"maxWorkers"`
	// Connections is the idle connections kept per host (vegeta -connections; default 10000), MaxConnections
	// the open connections per host (vegeta -max-connections; default 0, no limit).
	Connections    int `yaml:"connections" json:"connections"`
	MaxConnections int `yaml:"maxConnections,omitempty" json:"maxConnections,omitempty"`
	// KeepAlive reuses connections (default true). false opens one per request: behind a Service, each
	// request may then reach another pod (a new gateway as well as the old one).
	KeepAlive *bool `yaml:"keepAlive,omitempty" json:"keepAlive,omitempty"`
	// InMesh runs the stream from inside a cluster: generator pods in a namespace — so on that namespace's
	// revision, moving with it — call the URL (cluster DNS), and canarygate pulls their results through the
	// API server. Without it the stream runs from this machine.
	InMesh *InMesh `yaml:"inMesh,omitempty" json:"inMesh,omitempty"`
	// From starts the stream when that step begins instead of with the warm-up; Duration runs it that long
	// from its start and then stops it, whatever the steps do (Solo: "vegeta attack -duration=900s" beside
	// the upgrade) — the run's cool-down lasts until every such stream that started has ended.
	From     string   `yaml:"from,omitempty" json:"from,omitempty"`
	Duration Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
}

// OnOwnClock reports whether the stream keeps a clock of its own (a start step or a fixed duration).
func (st Stream) OnOwnClock() bool { return st.From != "" || st.Duration > 0 }

// InMesh places a stream's generators in a cluster (package meshload).
type InMesh struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Namespace string `yaml:"namespace" json:"namespace"`
	// Replicas share the stream's rate exactly (default 1).
	Replicas int `yaml:"replicas" json:"replicas"`
	// Image is the demo app's image, run in load mode (default DefaultGeneratorImage).
	Image string `yaml:"image" json:"image"`
	// Cluster names the cluster (default the first).
	Cluster string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Annotations go on the generator pods (e.g. inject.istio.io/templates in the offline lab).
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

// DefaultGeneratorImage is the demo app's image, which kind loads from its image archive.
const DefaultGeneratorImage = "docker.io/canarygate/demo-app:dev"

// KeepsAlive reports whether the stream reuses connections.
func (s Stream) KeepsAlive() bool { return s.KeepAlive == nil || *s.KeepAlive }

// Step is a name plus exactly one action.
type Step struct {
	Pos             Pos      `yaml:"-" json:"-"`
	Name            string   `yaml:"name" json:"name"`
	Timeout         Duration `yaml:"timeout" json:"timeout"`
	ContinueOnError bool     `yaml:"continueOnError,omitempty" json:"continueOnError,omitempty"`
	// Cluster names the cluster the action works on (default: the first one).
	Cluster string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// When makes the step conditional on an earlier step's outcome: one scenario rehearses "complete if
	// healthy, else roll back" (AKS). A step not taken is skipped, with the reason, never failed.
	When *StepCondition `yaml:"when,omitempty" json:"when,omitempty"`
	// Decides is set (by validation) on a step a later step's when names: its failure is a decision — the
	// run goes on down the branch that asked for it — rather than the end of the run.
	Decides bool `yaml:"-" json:"decides,omitempty"`
	// Kind is the action's kind ("run", "soak", ...), the key under which it was written.
	Kind   string     `yaml:"-" json:"kind"`
	Action ActionSpec `yaml:"-" json:"action"`
}

// StepCondition names an earlier step (a check step, typically) whose outcome decides whether a step runs:
// exactly one of Passed (it passed) and Failed (it failed or timed out).
type StepCondition struct {
	Pos    Pos    `yaml:"-" json:"-"`
	Passed string `yaml:"passed,omitempty" json:"passed,omitempty"`
	Failed string `yaml:"failed,omitempty" json:"failed,omitempty"`
}

// Step returns the step the condition names.
func (c *StepCondition) Step() string { return c.Passed + c.Failed }

// OnFailure reports whether the step runs when the named step failed (a rollback branch).
func (c *StepCondition) OnFailure() bool { return c.Failed != "" }

// Outcome is the outcome the condition asks of its step: "failed" or "passed".
func (c *StepCondition) Outcome() string {
	if c.OnFailure() {
		return "failed"
	}
	return "passed"
}

// String is "failed: NAME" or "passed: NAME".
func (c *StepCondition) String() string {
	if c.OnFailure() {
		return "failed: " + c.Failed
	}
	return "passed: " + c.Passed
}

// Gate is one check of the finished (or, in a check step, the running) timeline.
type Gate struct {
	Pos Pos `yaml:"-" json:"-"`
	// Name defaults to the kind.
	Name string   `yaml:"name,omitempty" json:"name"`
	Kind string   `yaml:"-" json:"kind"`
	Spec GateSpec `yaml:"-" json:"spec"`
}

// Report says where reports go and which are written.
type Report struct {
	Pos     Pos      `yaml:"-" json:"-"`
	Dir     string   `yaml:"dir" json:"dir"`
	Formats []string `yaml:"formats" json:"formats"`
}

// Report formats.
const (
	FormatHTML     = "html"
	FormatJUnit    = "junit"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
	FormatVegeta   = "vegeta"
)

// AllFormats lists every registered report format, in registration order: the default. Filled by
// report.Register (through RegisterFormat), never by hand.
var AllFormats []string

// RegisterFormat makes a report format known to the parser. Call report.Register instead, which registers
// the format's writer with it.
func RegisterFormat(name string) {
	if slices.Contains(AllFormats, name) {
		panic("scenarios: report format registered twice: " + name)
	}
	AllFormats = append(AllFormats, name)
}

// ActionSpec is the parameters of one action kind. Implementations live beside their kind's registration.
type ActionSpec interface {
	// Validate records problems with the spec; path is the field path of the spec ("steps[1].run").
	Validate(s *Scenario, p Problems, path string)
	// Describe says in one line what the action will do and which objects it touches (shown by plan).
	Describe() string
}

// GateSpec is the parameters of one gate kind.
type GateSpec interface {
	Validate(s *Scenario, p Problems, path string)
	Describe() string
}

// Defaulter is implemented by specs (actions, gates) with defaults of their own. Defaults are filled in one
// pass before validation; Validate only reports.
type Defaulter interface {
	Default()
}

// ActionDefaulter is implemented by actions whose step timeout default depends on the action (a soak).
type ActionDefaulter interface {
	DefaultTimeout() Duration
}

var (
	actionKinds = map[string]func() ActionSpec{}
	gateKinds   = map[string]func() GateSpec{}
)

// RegisterAction makes an action kind known to the parser. Call runner.Register instead, which registers the
// executor with it: a kind registered here alone would validate and then fail at run time. It panics on a
// duplicate kind: that is a
// programming error found by any test.
func RegisterAction(kind string, newSpec func() ActionSpec) {
	if _, dup := actionKinds[kind]; dup {
		panic("scenarios: action kind registered twice: " + kind)
	}
	actionKinds[kind] = newSpec
}

// RegisterGate makes a gate kind known to the parser. Call checks.Register instead, which registers the
// evaluator (and observer) with it.
func RegisterGate(kind string, newSpec func() GateSpec) {
	if _, dup := gateKinds[kind]; dup {
		panic("scenarios: gate kind registered twice: " + kind)
	}
	gateKinds[kind] = newSpec
}

// RegisterProvider makes a cluster provider known to the parser. Call cluster.RegisterProvider instead, which
// registers the provider itself with it.
func RegisterProvider(name string) {
	if slices.Contains(providerNames, name) {
		panic("scenarios: provider registered twice: " + name)
	}
	providerNames = append(providerNames, name)
	sort.Strings(providerNames)
}

// ProviderNames lists the registered cluster providers, sorted.
func ProviderNames() []string { return slices.Clone(providerNames) }

var providerNames []string

// ActionKinds lists the registered action kinds, sorted.
func ActionKinds() []string { return slices.Sorted(maps.Keys(actionKinds)) }

// GateKinds lists the registered gate kinds, sorted.
func GateKinds() []string { return slices.Sorted(maps.Keys(gateKinds)) }

// decodeOneOf decodes a mapping that holds the struct's own fields plus exactly one key naming a registered
// kind. It is shared by steps (actions) and gates (checks).
func decodeOneOf[T any](dec *decoder, n *yaml.Node, path string, v any, what string, kinds map[string]func() T, set func(kind string, spec T)) {
	found := 0
	var kindsSeen []string
	dec.decodeStruct(n, path, reflectValue(v), func(key string, kn, vn *yaml.Node) bool {
		newSpec, ok := kinds[key]
		if !ok {
			return false
		}
		found++
		kindsSeen = append(kindsSeen, key)
		spec := newSpec()
		sv := reflectValue(spec)
		if resolve(vn) != nil && resolve(vn).Tag == "!!null" {
			// "stepsSucceeded:" with nothing after it: a kind without parameters.
		} else {
			dec.decode(vn, join(path, key), sv)
		}
		set(key, spec)
		return true
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	switch {
	case found == 0:
		dec.add(n, path, "no %s given: expected exactly one of %v", what, slices.Sorted(maps.Keys(kinds)))
	case found > 1:
		dec.add(n, path, "more than one %s given (%v): expected exactly one", what, kindsSeen)
	}
}

func (s *Step) decodeNode(dec *decoder, n *yaml.Node, path string) {
	decodeOneOf(dec, n, path, s, "action", actionKinds, func(kind string, spec ActionSpec) {
		s.Kind, s.Action = kind, spec
	})
}

func (g *Gate) decodeNode(dec *decoder, n *yaml.Node, path string) {
	decodeOneOf(dec, n, path, g, "check", gateKinds, func(kind string, spec GateSpec) {
		g.Kind, g.Spec = kind, spec
	})
}

// MarshalYAML writes a step back in the form it is written in (plan shows this).
func (s Step) MarshalYAML() (any, error) {
	m := yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v any) {
		var vn yaml.Node
		_ = vn.Encode(v)
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &vn)
	}
	add("name", s.Name)
	add("timeout", s.Timeout)
	if s.ContinueOnError {
		add("continueOnError", true)
	}
	if s.Cluster != "" {
		add("cluster", s.Cluster)
	}
	add(s.Kind, s.Action)
	return &m, nil
}

// MarshalYAML writes a gate back in the form it is written in.
func (g Gate) MarshalYAML() (any, error) {
	return map[string]any{"name": g.Name, g.Kind: g.Spec}, nil
}

// AllSteps yields every step in run order — setup, steps, teardown — as pointers into the scenario.
func (s *Scenario) AllSteps() iter.Seq[*Step] {
	return func(yield func(*Step) bool) {
		for _, list := range []StepList{s.Setup, s.Steps, s.Teardown} {
			for i := range list {
				if !yield(&list[i]) {
					return
				}
			}
		}
	}
}

// StepByName finds a setup, upgrade or teardown step.
func (s *Scenario) StepByName(name string) (*Step, bool) {
	for st := range s.AllSteps() {
		if st.Name == name {
			return st, true
		}
	}
	return nil, false
}

// StreamByName finds a traffic stream.
func (s *Scenario) StreamByName(name string) (*Stream, bool) {
	for i := range s.Traffic.Streams {
		if s.Traffic.Streams[i].Name == name {
			return &s.Traffic.Streams[i], true
		}
	}
	return nil, false
}

func (s *Scenario) String() string { return fmt.Sprintf("scenario %q (%s)", s.Name, s.File) }
