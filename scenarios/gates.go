package scenarios

import (
	"fmt"
	"slices"
	"strings"
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
)

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
