package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Gate kinds.
const (
	GateNoUnexpectedStatus     = "noUnexpectedStatus"
	GateMaxErrorRatio          = "maxErrorRatio"
	GateMaxConsecutiveFailures = "maxConsecutiveFailures"
	GateLatencyP99             = "latencyP99"
	GateStepsSucceeded         = "stepsSucceeded"
	GateGatewayAddressStable   = "gatewayAddressStable"
	GateInMeshCalls            = "inMeshCalls"
	GateWebhooksServe          = "webhooksServe"
	GateInjectionUnchanged     = "injectionUnchanged"
)

// RecordInjectionDiff is the kind of the check a namespace move records for each workload it restarted: what
// injection changed between a pod of the old revision and one of the new (information; judged by
// injectionUnchanged).
const RecordInjectionDiff = "injectionDiff"

// InjectionUnchanged fails when a namespace move's injection changed something beyond the revision's name and
// the proxy image (istio.DiffInjection) that Allow does not name: a new native sidecar, a lost lifecycle hook,
// an env var or probe that the upgrade's release notes may not have said.
type InjectionUnchanged struct {
	Pos Pos `yaml:"-" json:"-"`
	// Allow are prefixes of the differences expected (as the report names them: "container istio-proxy env
	// ISTIO_META_", "sidecar", "annotation sidecar.istio.io/status").
	Allow []string `yaml:"allow,omitempty" json:"allow,omitempty"`
}

// Validate implements GateSpec.
func (g *InjectionUnchanged) Validate(s *Scenario, p Problems, path string) {
	for st := range s.AllSteps() {
		if _, ok := st.Action.(*MoveNamespaceAction); ok {
			return
		}
	}
	p.Add(g.Pos, path, "no moveNamespace step: nothing records what injection changed")
}

// Describe implements GateSpec.
func (g *InjectionUnchanged) Describe() string {
	if len(g.Allow) == 0 {
		return "every namespace move's injection unchanged beyond the revision's name and the proxy image"
	}
	return "every namespace move's injection unchanged beyond the revision's name, the proxy image and " + strings.Join(g.Allow, ", ")
}

// WebhooksServe fails when an Istio admission webhook is not served for longer than Grace while traffic runs.
// Istio's webhooks are the Mutating- and ValidatingWebhookConfigurations labelled istio.io/rev: each revision's
// injector and validator, the revision tags, and istiod-default-validator (base chart). Not served means:
//   - the Service it names is gone, whatever its failurePolicy — a revision removed while a webhook still
//     names it (istio/istio#60596: the default validator left on a removed revision); with Ignore, config
//     writes then go unvalidated, with Fail they are refused;
//   - failurePolicy Fail and no ready endpoint behind the Service: every pod creation or config write it
//     matches is refused (a new pod cannot be injected, a rollout stalls).
//
// A webhook created during a step may be unserved until that step ends: the chart creates it with its istiod,
// which then starts. Ignore with no ready endpoint is reported, not failed (requests pass unvalidated, as
// Istio intends before istiod serves: the base chart installs Ignore and istiod patches it to Fail once it
// serves — manifests/charts/base/templates/defaultrevision-validatingwebhookconfiguration.yaml).
type WebhooksServe struct {
	Pos     Pos    `yaml:"-" json:"-"`
	Cluster string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Namespaces are where the webhooks' Services may be (default istio-system); a webhook naming a Service
	// elsewhere is reported as not watched.
	Namespaces []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
	// Grace is how long a webhook may be unserved before it counts (unset or 0: 5s): a Service's endpoints
	// change for a moment when istiod restarts or the revision's Service is replaced.
	Grace Duration `yaml:"grace,omitempty" json:"grace,omitempty"`
}

// DefaultWebhookGrace is WebhooksServe's default Grace.
const DefaultWebhookGrace = Duration(5 * time.Second)

// Default implements Defaulter.
func (g *WebhooksServe) Default() {
	if len(g.Namespaces) == 0 {
		g.Namespaces = []string{"istio-system"}
	}
	if g.Grace == 0 {
		g.Grace = DefaultWebhookGrace
	}
}

// Validate implements GateSpec.
func (g *WebhooksServe) Validate(s *Scenario, p Problems, path string) {
	if len(s.Clusters) == 0 {
		p.Add(g.Pos, path, "needs a cluster: the scenario lists none under clusters")
	} else if g.Cluster != "" && !slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return c.Name == g.Cluster }) {
		p.Add(g.Pos.Field("cluster"), join(path, "cluster"), "no cluster named %q under clusters", g.Cluster)
	}
	if g.Grace < 0 {
		p.Add(g.Pos.Field("grace"), join(path, "grace"), "negative: expected a duration (unset or 0 means the default, 5s)")
	}
}

// Describe implements GateSpec.
func (g *WebhooksServe) Describe() string {
	return fmt.Sprintf("every Istio webhook (istio.io/rev) names a Service that exists and, with failurePolicy Fail, has a ready endpoint — never unserved longer than %s while traffic runs (Services in %s)",
		g.Grace.D(), strings.Join(g.Namespaces, ", "))
}

// InMeshCalls judges in-mesh streams per revision pair: in every phase, each caller revision must have
// called each callee revision present, with no unexpected status and every call seen by the callee's sidecar
// as coming from the generators' own identity (mTLS proven).
type InMeshCalls struct {
	Pos            Pos `yaml:"-" json:"-"`
	StreamSelector `yaml:",inline" json:",inline"`
}

// Validate implements GateSpec.
func (g *InMeshCalls) Validate(s *Scenario, p Problems, path string) {
	g.validate(s, p, g.Pos, path)
	n := 0
	for _, st := range s.Traffic.Streams {
		if st.InMesh != nil && (len(g.Streams) == 0 || slices.Contains(g.Streams, st.Name)) {
			n++
		}
	}
	if n == 0 {
		p.Add(g.Pos, path, "no in-mesh stream to judge: add inMesh to a traffic stream (or name one under streams)")
	}
}

// Describe implements GateSpec.
func (g *InMeshCalls) Describe() string {
	on := "every in-mesh stream"
	if len(g.Streams) > 0 {
		on = "in-mesh streams " + strings.Join(g.Streams, ", ")
	}
	return "every coexisting revision pair called, no unexpected status, every call mTLS from the generators' identity, on " + on
}

// StreamSelector limits a gate to some streams (default: all).
type StreamSelector struct {
	Streams []string `yaml:"streams,omitempty" json:"streams,omitempty"`
}

func (s StreamSelector) validate(sc *Scenario, p Problems, pos Pos, path string) {
	for i, name := range s.Streams {
		if _, ok := sc.StreamByName(name); !ok {
			p.Add(pos.Field("streams"), fmt.Sprintf("%s.streams[%d]", path, i), "no traffic stream named %q", name)
		}
	}
}

func (s StreamSelector) describe() string {
	if len(s.Streams) == 0 {
		return "every stream"
	}
	return "streams " + strings.Join(s.Streams, ", ")
}

// NoUnexpectedStatus fails on any response whose status is not in its stream's expect list (or a transport
// error): the zero-downtime gate.
type NoUnexpectedStatus struct {
	Pos            Pos `yaml:"-" json:"-"`
	StreamSelector `yaml:",inline" json:",inline"`
}

// Validate implements GateSpec.
func (g *NoUnexpectedStatus) Validate(s *Scenario, p Problems, path string) {
	g.validate(s, p, g.Pos, path)
}

// Describe implements GateSpec.
func (g *NoUnexpectedStatus) Describe() string {
	return "zero unexpected statuses on " + g.describe()
}

// MaxErrorRatio fails when failures/requests exceeds Max on a stream.
type MaxErrorRatio struct {
	Pos            Pos `yaml:"-" json:"-"`
	StreamSelector `yaml:",inline" json:",inline"`
	Max            float64 `yaml:"max" json:"max"`
}

// Validate implements GateSpec.
func (g *MaxErrorRatio) Validate(s *Scenario, p Problems, path string) {
	g.validate(s, p, g.Pos, path)
	if g.Max < 0 || g.Max > 1 {
		p.Add(g.Pos.Field("max"), join(path, "max"), "%v is not a ratio: expected 0 to 1 (0.01 = 1%%)", g.Max)
	}
}

// Describe implements GateSpec.
func (g *MaxErrorRatio) Describe() string {
	return fmt.Sprintf("error ratio ≤ %g on %s", g.Max, g.describe())
}

// MaxConsecutiveFailures fails when more than Max failures follow each other on a stream.
type MaxConsecutiveFailures struct {
	Pos            Pos `yaml:"-" json:"-"`
	StreamSelector `yaml:",inline" json:",inline"`
	Max            int `yaml:"max" json:"max"`
}

// Validate implements GateSpec.
func (g *MaxConsecutiveFailures) Validate(s *Scenario, p Problems, path string) {
	g.validate(s, p, g.Pos, path)
	if g.Max < 0 {
		p.Add(g.Pos.Field("max"), join(path, "max"), "%d is negative: expected a count of 0 or more", g.Max)
	}
}

// Describe implements GateSpec.
func (g *MaxConsecutiveFailures) Describe() string {
	return fmt.Sprintf("at most %d consecutive failures on %s", g.Max, g.describe())
}

// LatencyP99 fails when the p99 latency of any selected step (default: every phase) exceeds Max.
type LatencyP99 struct {
	Pos            Pos `yaml:"-" json:"-"`
	StreamSelector `yaml:",inline" json:",inline"`
	Steps          []string `yaml:"steps,omitempty" json:"steps,omitempty"`
	Max            Duration `yaml:"max" json:"max"`
}

// Validate implements GateSpec.
func (g *LatencyP99) Validate(s *Scenario, p Problems, path string) {
	g.validate(s, p, g.Pos, path)
	if g.Max <= 0 {
		p.Add(g.Pos.Field("max"), join(path, "max"), "required: a positive duration such as 500ms")
	}
	for i, name := range g.Steps {
		if _, ok := s.StepByName(name); !ok && name != PhaseWarmup && name != PhaseCooldown {
			p.Add(g.Pos.Field("steps"), fmt.Sprintf("%s.steps[%d]", path, i), "no step named %q (nor %s/%s)", name, PhaseWarmup, PhaseCooldown)
		}
	}
}

// Describe implements GateSpec.
func (g *LatencyP99) Describe() string {
	where := "every phase"
	if len(g.Steps) > 0 {
		where = "steps " + strings.Join(g.Steps, ", ")
	}
	return fmt.Sprintf("p99 latency ≤ %s in %s on %s", g.Max, where, g.describe())
}

// StepsSucceeded fails when any upgrade step (under steps:) failed, timed out, was skipped or interrupted.
// Setup and teardown steps are judged too when IncludeSetupAndTeardown is set.
type StepsSucceeded struct {
	Pos                     Pos  `yaml:"-" json:"-"`
	IncludeSetupAndTeardown bool `yaml:"includeSetupAndTeardown,omitempty" json:"includeSetupAndTeardown,omitempty"`
}

// Validate implements GateSpec.
func (g *StepsSucceeded) Validate(*Scenario, Problems, string) {}

// Describe implements GateSpec.
func (g *StepsSucceeded) Describe() string {
	if g.IncludeSetupAndTeardown {
		return "every step succeeded, setup and teardown included"
	}
	return "every upgrade step succeeded"
}

// Phase names that are not steps: load before the first step and after the last.
const (
	PhaseWarmup   = "warm-up"
	PhaseCooldown = "cool-down"
)

// GatewayAddressStable fails when the ingress Service's address (cluster IP, ports, node ports, load
// balancer ingress) changed at any time between traffic start and stop: clients of a real gateway would
// have lost it. The Service is watched for the whole run.
type GatewayAddressStable struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Namespace string `yaml:"namespace" json:"namespace"`
	Service   string `yaml:"service" json:"service"`
	Cluster   string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
}

// Validate implements GateSpec.
func (g *GatewayAddressStable) Validate(s *Scenario, p Problems, path string) {
	required(p, g.Pos, path, "namespace", g.Namespace, "the ingress Service's namespace")
	required(p, g.Pos, path, "service", g.Service, "the ingress Service's name")
	if len(s.Clusters) == 0 {
		p.Add(g.Pos, path, "needs a cluster: the scenario lists none under clusters")
	} else if g.Cluster != "" && !slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return c.Name == g.Cluster }) {
		p.Add(g.Pos.Field("cluster"), join(path, "cluster"), "no cluster named %q under clusters", g.Cluster)
	}
}

// Describe implements GateSpec.
func (g *GatewayAddressStable) Describe() string {
	return fmt.Sprintf("Service %s/%s keeps one address for the whole run", g.Namespace, g.Service)
}
