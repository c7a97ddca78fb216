package scenarios

import (
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/canarygate/canarygate/loadgen"
)

// Defaults filled in by Parse; plan shows the result. Constants: no test or caller changes what a scenario
// defaults to (a per-run choice is a scenario field).
const (
	DefaultWarmup   = Duration(5 * time.Second)
	DefaultCooldown = Duration(5 * time.Second)
	DefaultMethod   = "GET"
	// DefaultConnections is vegeta's idle connections per host.
	DefaultConnections = 10000
	// DefaultMaxWorkersCap bounds the default worker cap of a stream (each worker is a goroutine and, when
	// busy, a connection): a target slow enough to need more makes the run an error, not a false verdict.
	DefaultMaxWorkersCap = 256
	DefaultTimeout       = Duration(5 * time.Second)
	DefaultStepTimeout   = Duration(10 * time.Minute)
	DefaultReportDir     = "canarygate-report"
)

// DefaultRate is a stream's rate when it names none: 10/s.
func DefaultRate() Rate { return Rate{Freq: 10, Per: time.Second} }

// DefaultExpect is a stream's success statuses when it names none: exactly 200.
func DefaultExpect() []int { return []int{200} }

// DefaultGates are the gates of a scenario that names none: the zero-downtime verdict.
func DefaultGates() []Gate {
	return []Gate{
		{Name: GateNoUnexpectedStatus, Kind: GateNoUnexpectedStatus, Spec: &NoUnexpectedStatus{}},
		{Name: GateStepsSucceeded, Kind: GateStepsSucceeded, Spec: &StepsSucceeded{}},
	}
}

// applyDefaults fills in what the user left out. It runs before validation so that validation sees what will run.
func (s *Scenario) applyDefaults() {
	switch {
	case s.Traffic.None && !has(s.Traffic.Pos, "warmup"):
		s.Traffic.Warmup = 0 // no baseline to take
	case s.Traffic.Pos.Fields == nil || !has(s.Traffic.Pos, "warmup"):
		s.Traffic.Warmup = DefaultWarmup
	}
	switch {
	case s.Traffic.None && !has(s.Traffic.Pos, "cooldown"):
		s.Traffic.Cooldown = 0
	case !has(s.Traffic.Pos, "cooldown"):
		s.Traffic.Cooldown = DefaultCooldown
	}
	for i := range s.Traffic.Streams {
		s.Traffic.Streams[i].applyDefaults()
	}
	for st := range s.AllSteps() {
		st.applyDefaults()
	}
	if len(s.Checks) == 0 && !has(s.Pos, "checks") && !s.RecordOnly {
		s.Checks = DefaultGates()
		if s.Traffic.None {
			// Nothing to count responses of: the steps are what is judged.
			s.Checks = slices.DeleteFunc(s.Checks, func(g Gate) bool { return JudgesTraffic(g.Kind) })
		}
	}
	for i := range s.Checks {
		if d, ok := s.Checks[i].Spec.(Defaulter); ok {
			d.Default()
		}
		if s.Checks[i].Name == "" {
			s.Checks[i].Name = s.Checks[i].Kind
		}
	}
	if s.Report.Dir == "" {
		s.Report.Dir = DefaultReportDir
	}
	if len(s.Report.Formats) == 0 {
		s.Report.Formats = slices.Clone(AllFormats)
	}
	if len(s.Clusters) > 0 {
		// A step that names no cluster acts on the first one.
		for st := range s.AllSteps() {
			if st.Cluster == "" {
				st.Cluster = s.Clusters[0].Name
			}
		}
	}
}

func (st *Stream) applyDefaults() {
	if st.Method == "" {
		st.Method = DefaultMethod
	}
	if !has(st.Pos, "rate") {
		st.Rate = DefaultRate()
	}
	if !has(st.Pos, "timeout") {
		st.Timeout = DefaultTimeout
	}
	if !has(st.Pos, "maxWorkers") {
		st.MaxWorkers = DefaultMaxWorkers(st.Rate, st.Timeout)
	}
	if !has(st.Pos, "connections") {
		st.Connections = DefaultConnections
	}
	if !has(st.Pos, "expect") {
		st.Expect = DefaultExpect()
	}
	if im := st.InMesh; im != nil {
		if !has(im.Pos, "replicas") {
			im.Replicas = 1
		}
		if im.Image == "" {
			im.Image = DefaultGeneratorImage
		}
	}
}

func (st *Step) applyDefaults() {
	if d, ok := st.Action.(Defaulter); ok {
		d.Default()
	}
	if !has(st.Pos, "timeout") {
		st.Timeout = DefaultStepTimeout
		if d, ok := st.Action.(ActionDefaulter); ok {
			st.Timeout = d.DefaultTimeout()
		}
	}
	if h, ok := st.Action.(*HTTPAction); ok {
		if h.Method == "" {
			h.Method = DefaultMethod
		}
		if len(h.Expect) == 0 {
			h.Expect = DefaultExpect()
		}
	}
}

// DefaultMaxWorkers is a stream's default worker cap: enough workers for every request of one timeout's
// worth to be in flight at once (a target that hangs until the timeout still gets the rate asked, and its
// timeouts are its own failures), plus vegeta's initial 10, at most DefaultMaxWorkersCap.
func DefaultMaxWorkers(r Rate, timeout Duration) int {
	if r.Max() {
		return loadgen.DefaultMaxRateWorkers
	}
	n := int(math.Ceil(r.PerSecond()*timeout.D().Seconds())) + 10
	return min(n, DefaultMaxWorkersCap)
}

func has(p Pos, key string) bool { _, ok := p.Fields[key]; return ok }

// validate records every semantic problem of a decoded scenario, section by section (in file order, so
// problems are listed as a reader meets them).
func (s *Scenario) validate(p Problems) {
	s.validateTop(p)
	seenStream := map[string]bool{}
	for i := range s.Traffic.Streams {
		s.validateStream(p, i, seenStream)
	}
	if len(s.Steps) == 0 {
		p.Add(s.Pos.Field("steps"), "steps", "required: at least one step (a name and one action of %v)", ActionKinds())
	}
	clusterNames := s.validateClusters(p)
	seenStep := map[string]bool{PhaseWarmup: true, PhaseCooldown: true}
	earlier := map[string]*Step{}
	for _, group := range []struct {
		key   string
		steps []Step
	}{{"setup", s.Setup}, {"steps", s.Steps}, {"teardown", s.Teardown}} {
		for i := range group.steps {
			st := &group.steps[i]
			path := fmt.Sprintf("%s[%d]", group.key, i)
			s.validateStep(p, st, path, seenStep, clusterNames)
			validateWhen(p, st, path, earlier)
			if _, dup := earlier[st.Name]; !dup {
				earlier[st.Name] = st
			}
		}
	}
	for i, g := range s.Checks {
		if g.Spec != nil {
			g.Spec.Validate(s, p, fmt.Sprintf("checks[%d].%s", i, g.Kind))
		}
	}
	s.validateDisruptions(p)
	s.validateTail(p)
}

// validateTop checks the scenario's own fields and its traffic section.
func (s *Scenario) validateTop(p Problems) {
	if strings.TrimSpace(s.Name) == "" {
		p.Add(s.Pos.Field("name"), "name", "required: a name for the scenario")
	}
	switch {
	case len(s.Checks) == 0 && !s.RecordOnly:
		p.Add(s.Pos.Field("checks"), "checks", "no gate: the run would pass whatever happened; list checks (leave checks out for noUnexpectedStatus and stepsSucceeded), or set recordOnly: true to only measure")
	case len(s.Checks) > 0 && s.RecordOnly && has(s.Pos, "checks"):
		p.Add(s.Pos.Field("recordOnly"), "recordOnly", "recordOnly: true with checks listed: expected one or the other")
	}
	if !has(s.Pos, "traffic") {
		p.Add(s.Pos, "traffic", "required: at least one traffic stream under traffic.streams, or traffic: {none: true}")
	}
	if s.Traffic.Warmup < 0 {
		p.Add(s.Traffic.Pos.Field("warmup"), "traffic.warmup", "%s is negative: expected a duration of 0 or more", s.Traffic.Warmup)
	}
	if s.Traffic.Cooldown < 0 {
		p.Add(s.Traffic.Pos.Field("cooldown"), "traffic.cooldown", "%s is negative: expected a duration of 0 or more", s.Traffic.Cooldown)
	}
	switch {
	case s.Traffic.None && len(s.Traffic.Streams) > 0:
		p.Add(s.Traffic.Pos.Field("none"), "traffic.none", "none: true with streams listed: expected one or the other")
	case s.Traffic.None:
		for i, g := range s.Checks {
			if JudgesTraffic(g.Kind) {
				p.Add(g.Pos, fmt.Sprintf("checks[%d].%s", i, g.Kind), "%s judges traffic, and this scenario has none (traffic: {none: true})", g.Kind)
			}
		}
		for st := range s.AllSteps() {
			if c, ok := st.Action.(*CheckAction); ok && c.Spec != nil && JudgesTraffic(c.Kind) {
				p.Add(st.Pos, "steps."+st.Name, "check %s judges traffic, and this scenario has none (traffic: {none: true})", c.Kind)
			}
		}
	case has(s.Pos, "traffic") && len(s.Traffic.Streams) == 0:
		p.Add(s.Traffic.Pos.Field("streams"), "traffic.streams", "required: at least one traffic stream (or none: true, for a scenario that puts no load on purpose)")
	}
}

// JudgesTraffic reports whether a gate kind judges the streams' responses: meaningless without traffic.
func JudgesTraffic(kind string) bool {
	switch kind {
	case GateNoUnexpectedStatus, GateMaxErrorRatio, GateMaxConsecutiveFailures, GateInMeshCalls:
		return true
	}
	return false
}

func (s *Scenario) validateStream(p Problems, i int, seen map[string]bool) {
	st := &s.Traffic.Streams[i]
	path := fmt.Sprintf("traffic.streams[%d]", i)
	switch {
	case strings.TrimSpace(st.Name) == "":
		p.Add(st.Pos.Field("name"), path+".name", "required: a name for the stream")
	case seen[st.Name]:
		p.Add(st.Pos.Field("name"), path+".name", "duplicate stream name %q: names must be unique", st.Name)
	}
	seen[st.Name] = true
	if loadgen.IsXDS(st.URL) {
		st.validateXDS(p, path)
	} else {
		validateURL(p, st.Pos, path, st.URL)
	}
	validateMethod(p, st.Pos, path, st.Method)
	if st.Timeout <= 0 {
		p.Add(st.Pos.Field("timeout"), path+".timeout", "%s: expected a positive duration such as 5s", st.Timeout)
	}
	if st.MaxWorkers <= 0 {
		p.Add(st.Pos.Field("maxWorkers"), path+".maxWorkers", "%d: expected a positive number of workers", st.MaxWorkers)
	}
	if st.Connections <= 0 {
		p.Add(st.Pos.Field("connections"), path+".connections", "%d: expected a positive number of connections", st.Connections)
	}
	if st.MaxConnections < 0 {
		p.Add(st.Pos.Field("maxConnections"), path+".maxConnections", "%d: expected 0 (no limit) or more", st.MaxConnections)
	}
	if len(st.Expect) == 0 {
		p.Add(st.Pos.Field("expect"), path+".expect", "empty: expected at least one status code, such as [200]")
	}
	validateCodes(p, st.Pos, path, st.Expect)
	if st.InMesh != nil {
		s.validateInMesh(p, st, path)
	}
	if st.Duration < 0 {
		p.Add(st.Pos.Field("duration"), path+".duration", "%s is negative: expected a duration such as 900s", st.Duration)
	}
	if st.InMesh != nil && st.OnOwnClock() {
		p.Add(st.Pos.Field("from"), path, "from and duration apply to streams from this machine; in-mesh generators run from the warm-up to the cool-down")
	}
	if st.From != "" && !slices.ContainsFunc(s.Steps, func(x Step) bool { return x.Name == st.From }) {
		p.Add(st.Pos.Field("from"), path+".from", "no step named %q under steps: a stream starts with one of the steps", st.From)
	}
}

// validateXDS checks a proxyless-gRPC stream (url xds:///host:port): only in-mesh generators can make such
// calls (they need the pod's xDS bootstrap and workload certificate), and each generator pod is the xDS
// client of exactly this one target and nothing else — pilot-agent serves one xDS stream per pod, a second
// one closes the first (istio/istio#53532, pkg/istio-agent/xds_proxy.go), so a generator is never also an
// xDS server and never calls two targets.
func (st *Stream) validateXDS(p Problems, path string) {
	if _, _, err := loadgen.ParseXDSTarget(st.URL); err != nil {
		p.Add(st.Pos.Field("url"), path+".url", "%v", err)
	}
	if st.InMesh == nil {
		p.Add(st.Pos.Field("url"), path+".url", "an xds:/// target is called over proxyless gRPC from inside the mesh: add inMesh (generator pods with Istio's grpc-agent injection)")
		return
	}
	if st.InMesh.Annotations["inject.istio.io/templates"] != "grpc-agent" {
		p.Add(st.InMesh.Pos.Field("annotations"), path+".inMesh.annotations", "an xds:/// stream's generators need Istio's proxyless injection: annotations: {inject.istio.io/templates: grpc-agent} (it writes the xDS bootstrap and the workload certificate the calls use)")
	}
	if st.Method != "" && st.Method != http.MethodGet {
		p.Add(st.Pos.Field("method"), path+".method", "%q: an xds:/// stream makes one gRPC Echo call per request; leave method unset", st.Method)
	}
}

func (s *Scenario) validateInMesh(p Problems, st *Stream, path string) {
	im, ipath := st.InMesh, path+".inMesh"
	if im.Namespace == "" {
		p.Add(im.Pos.Field("namespace"), ipath+".namespace", "required: the namespace the generators run in (its revision is theirs)")
	}
	if im.Replicas < 1 {
		p.Add(im.Pos.Field("replicas"), ipath+".replicas", "%d: expected at least 1 generator", im.Replicas)
	}
	if len(s.Clusters) == 0 {
		p.Add(im.Pos, ipath, "an in-mesh stream needs a cluster: add one under clusters")
	} else if im.Cluster != "" && !slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return c.Name == im.Cluster }) {
		p.Add(im.Pos.Field("cluster"), ipath+".cluster", "%q: no cluster of that name under clusters", im.Cluster)
	}
	if st.Rate.Freq == 0 {
		p.Add(st.Pos.Field("rate"), path+".rate", "an in-mesh stream needs a fixed rate (not max)")
	}
}

// validateClusters checks the clusters and returns their names.
func (s *Scenario) validateClusters(p Problems) map[string]bool {
	names := map[string]bool{}
	for i, c := range s.Clusters {
		path := fmt.Sprintf("clusters[%d]", i)
		switch {
		case c.Name == "":
			p.Add(c.Pos.Field("name"), path+".name", "required: a name for the cluster")
		case names[c.Name]:
			p.Add(c.Pos.Field("name"), path+".name", "duplicate cluster name %q", c.Name)
		}
		names[c.Name] = true
		if !slices.Contains(providerNames, c.Provider) {
			p.Add(c.Pos.Field("provider"), path+".provider", "%q: expected one of %s", c.Provider, strings.Join(providerNames, ", "))
		}
	}
	return names
}

func (s *Scenario) validateStep(p Problems, st *Step, path string, seen, clusterNames map[string]bool) {
	switch {
	case strings.TrimSpace(st.Name) == "":
		p.Add(st.Pos.Field("name"), path+".name", "required: a name for the step")
	case seen[st.Name]:
		p.Add(st.Pos.Field("name"), path+".name", "duplicate step name %q: step names must be unique (and not %s/%s)", st.Name, PhaseWarmup, PhaseCooldown)
	}
	seen[st.Name] = true
	if st.Timeout <= 0 {
		p.Add(st.Pos.Field("timeout"), path+".timeout", "%s: expected a positive duration such as 5m", st.Timeout)
	}
	if st.Cluster != "" && !clusterNames[st.Cluster] {
		p.Add(st.Pos.Field("cluster"), path+".cluster", "no cluster named %q under clusters", st.Cluster)
	}
	if st.Action != nil {
		st.Action.Validate(s, p, join(path, st.Kind))
	}
}

// validateWhen checks a step's condition: exactly one of passed and failed, naming an earlier step (the
// outcome must be known when the step's turn comes), which is then marked as deciding.
func validateWhen(p Problems, st *Step, path string, earlier map[string]*Step) {
	w := st.When
	if w == nil {
		return
	}
	switch {
	case (w.Passed == "") == (w.Failed == ""):
		p.Add(w.Pos, path+".when", "expected exactly one of passed: STEP or failed: STEP")
	case w.Step() == st.Name:
		p.Add(w.Pos, path+".when", "a step cannot depend on its own outcome")
	case earlier[w.Step()] == nil:
		p.Add(w.Pos, path+".when", "no earlier step named %q: a condition names a step that runs before this one", w.Step())
	default:
		earlier[w.Step()].Decides = true
	}
}

// validateTail checks the sections after the steps and gates: report, policy, compare.
func (s *Scenario) validateTail(p Problems) {
	if s.Report.Dir != "" && filepath.Clean(s.Report.Dir) == "/" {
		p.Add(s.Report.Pos.Field("dir"), "report.dir", "refusing to write reports into /")
	}
	if pol := s.Policy; pol != nil && (pol.MaxMinorJump < 1 || pol.MaxMinorJump > 2) {
		p.Add(pol.Pos.Field("maxMinorJump"), "policy.maxMinorJump", "%d: expected 1 or 2 (Istio supports canary upgrades across at most two minor versions; --allow-skip goes beyond)", pol.MaxMinorJump)
	}
	if c := s.Compare; c != nil {
		for _, r := range []struct {
			key string
			v   float64
		}{{"p99Ratio", c.P99Ratio}, {"durationRatio", c.DurationRatio}} {
			if r.v != 0 && r.v < 1 {
				p.Add(c.Pos.Field(r.key), "compare."+r.key, "%g: expected a ratio of 1 or more (1.5 = 50%% worse)", r.v)
			}
		}
		if c.P99Increase < 0 || c.DurationIncrease < 0 {
			p.Add(c.Pos, "compare", "increases must not be negative")
		}
	}
	for i, f := range s.Report.Formats {
		if !slices.Contains(AllFormats, f) {
			p.Add(s.Report.Pos.Field("formats"), fmt.Sprintf("report.formats[%d]", i), "unknown format %q: expected some of %v", f, AllFormats)
		}
	}
}
