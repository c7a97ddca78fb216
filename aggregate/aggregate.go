// Package aggregate folds a rehearsal's request results, as they stream in, into the run record's bounded
// statistics: per stream, per phase of the timeline (by the time each request was sent) and per second;
// runs of failures in send order; failures grouped by step and message. Memory grows with the run's length
// in seconds and the number of distinct failures, never with requests. The load generator (loadgen) knows
// nothing of it: the harness feeds it.
package aggregate

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Bounds on the evidence an Aggregate keeps, so memory does not grow with failures either.
const (
	MaxFirstFailures  = 20
	MaxDistinctErrors = 50
	// MaxFailureGroups bounds the (phase, message) groups of a stream; later ones join "(other errors)".
	MaxFailureGroups   = 200
	MaxFailureBodySize = 256
	otherErrors        = "(other errors)"
)

// StreamSpec describes a stream to the Aggregate: what counts as success, and what the summary says of it.
type StreamSpec struct {
	Name   string
	Method string
	URL    string
	Rate   string
	// Expect lists the status codes that are successes; empty means exactly 200.
	Expect []int
	// Interval is the schedule's time between two requests (0: no schedule, rate max); AskedRPS the rate.
	Interval time.Duration
	AskedRPS float64
}

// Aggregate folds results into bounded statistics per stream: totals, per phase of the timeline (by the time
// each request was sent) and per second. It is safe for concurrent use: results are added by the consumer of
// the attack while check steps take snapshots.
type Aggregate struct {
	tl *timeline.Timeline

	mu      sync.Mutex
	streams []*streamAgg
	byName  map[string]*streamAgg
	closed  bool
	winBuf  []int
}

type stats struct {
	requests, successes, failures int64
	codes                         map[uint16]int64
	hist                          histogram
	// bursts: failures in a row in send order, and how long they lasted by send time.
	bursts burstTracker
	// late and local count what the generator spoiled in this span (not counted as requests).
	late, local int64
}

func (s *stats) add(r *vegeta.Result, failed bool) {
	s.requests++
	if failed {
		s.failures++
	} else {
		s.successes++
	}
	if s.codes == nil {
		s.codes = map[uint16]int64{}
	}
	s.codes[r.Code]++
	s.hist.add(r.Latency)
}

type second struct {
	requests, failures int64
	hist               histogram
}

type streamAgg struct {
	spec   StreamSpec
	expect map[uint16]bool
	total  stats
	phases []*stats
	// windows are per window of the timeline (a disruption), by send time like phases.
	windows []*stats
	seconds []*second
	order   sendOrder
	gen     generator
	// lastPhase is the phase of the last result seen in send order (-1: none).
	lastPhase int
	first     []summary.Failure
	errors    map[string]int64
	groups    []*summary.FailureGroup
	byGroup   map[groupKey]*summary.FailureGroup
}

// New prepares an aggregate over the timeline's phases for the given streams.
func New(tl *timeline.Timeline, streams []StreamSpec) *Aggregate {
	a := &Aggregate{tl: tl, byName: map[string]*streamAgg{}}
	for _, s := range streams {
		a.stream(s)
	}
	return a
}

func (a *Aggregate) stream(spec StreamSpec) *streamAgg {
	if s, ok := a.byName[spec.Name]; ok {
		return s
	}
	s := &streamAgg{spec: spec, expect: map[uint16]bool{}, errors: map[string]int64{}, lastPhase: -1, byGroup: map[groupKey]*summary.FailureGroup{},
		gen: generator{interval: spec.Interval, tolerance: LagTolerance(spec.Interval)}}
	if len(spec.Expect) == 0 {
		s.expect[200] = true
	}
	for _, c := range spec.Expect {
		s.expect[uint16(c)] = true
	}
	a.streams = append(a.streams, s)
	a.byName[spec.Name] = s
	return s
}

// Failed reports whether r is a failure for a stream expecting the given codes: a transport error, or a status
// that is not expected.
func Failed(r *vegeta.Result, expect map[uint16]bool) bool {
	return r.Code == 0 || !expect[r.Code]
}

// failureMessage names a failure the way the report groups them.
func failureMessage(r *vegeta.Result) string {
	if r.Code == 0 {
		if r.Error == "" {
			return "no response"
		}
		return r.Error
	}
	msg := "HTTP " + strconv.Itoa(int(r.Code))
	if text := http.StatusText(int(r.Code)); text != "" {
		msg = fmt.Sprintf("HTTP %d %s", r.Code, text)
	}
	// vegeta records a bad status as its status line; a line that says more than the code and its text (a
	// gRPC call's status, carried by grpcecho.Transport: "503 Service Unavailable (grpc Unavailable: …
	// handshake failed …)") says why, and the report keeps it.
	if rest, ok := strings.CutPrefix(r.Error, strconv.Itoa(int(r.Code))+" "+http.StatusText(int(r.Code))); ok && strings.TrimSpace(rest) != "" {
		msg += " " + strings.TrimSpace(rest)
	}
	return msg
}

// Add folds one result in. Results after Close are ignored.
func (a *Aggregate) Add(r *vegeta.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	s, ok := a.byName[r.Attack]
	if !ok {
		s = a.stream(StreamSpec{Name: r.Attack, Method: r.Method, URL: r.URL})
	}
	phase, ok := a.tl.PhaseAt(r.Timestamp)
	phaseIdx := -1
	if ok {
		for len(s.phases) <= phase {
			s.phases = append(s.phases, &stats{})
		}
		phaseIdx = phase
	}
	if r.Code == 0 && LocalError(r.Error) {
		// The generator's machine ran out of something: the target never saw this request.
		s.gen.localError(r.Error)
		s.total.local++
		if ok {
			s.phases[phase].local++
		}
		s.order.add(sent{seq: r.Seq, at: r.Timestamp, phase: phaseIdx, local: true}, s.inSendOrder)
		return
	}
	failed := Failed(r, s.expect)
	s.total.add(r, failed)
	if ok {
		s.phases[phase].add(r, failed)
	}
	a.winBuf = a.tl.WindowsAt(a.winBuf[:0], r.Timestamp)
	for _, w := range a.winBuf {
		for len(s.windows) <= w {
			s.windows = append(s.windows, &stats{})
		}
		s.windows[w].add(r, failed)
	}
	sec := int(a.tl.Offset(r.Timestamp) / time.Second)
	if sec < 0 {
		sec = 0
	}
	for len(s.seconds) <= sec {
		s.seconds = append(s.seconds, nil)
	}
	if s.seconds[sec] == nil {
		s.seconds[sec] = &second{}
	}
	s.seconds[sec].requests++
	s.seconds[sec].hist.add(r.Latency)

	s.order.add(sent{seq: r.Seq, at: r.Timestamp, failed: failed, phase: phaseIdx}, s.inSendOrder)

	if !failed {
		return
	}
	s.seconds[sec].failures++
	msg := failureMessage(r)
	countBounded(s.errors, msg)
	s.group(phaseIdx, msg, r, a.tl)
	if len(s.first) < MaxFirstFailures {
		f := summary.Failure{
			Stream: s.spec.Name,
			AtMs:   summary.Ms(a.tl.Offset(r.Timestamp)),
			Code:   r.Code,
			Error:  msg,
			Body:   trimBody(r.Body),
		}
		if ok {
			f.Phase = a.tl.Phase(phase).Name
		}
		s.first = append(s.first, f)
	}
}

type groupKey struct {
	phase int
	msg   string
}

// group counts a failure in its (phase, message) group.
func (s *streamAgg) group(phase int, msg string, r *vegeta.Result, tl *timeline.Timeline) {
	k := groupKey{phase, msg}
	g, ok := s.byGroup[k]
	if !ok {
		if len(s.groups) >= MaxFailureGroups {
			k.msg = otherErrors
			g, ok = s.byGroup[k]
		}
		if !ok {
			g = &summary.FailureGroup{Stream: s.spec.Name, Code: r.Code, Error: k.msg, FirstMs: summary.Ms(tl.Offset(r.Timestamp)), Body: trimBody(r.Body)}
			if phase >= 0 {
				g.Phase = tl.Phase(phase).Name
			}
			s.byGroup[k] = g
			s.groups = append(s.groups, g)
		}
	}
	g.Count++
	at := summary.Ms(tl.Offset(r.Timestamp))
	g.FirstMs = min(g.FirstMs, at)
	g.LastMs = max(g.LastMs, at)
}

// inSendOrder sees every result once, in the order the requests were sent: runs of failures are counted
// here, never in completion order (a fast success that completes before earlier timeouts must not split
// their run).
func (s *streamAgg) inSendOrder(r sent) {
	if s.gen.schedule(r.seq, r.at) {
		s.total.late++
		if r.phase >= 0 {
			s.phases[r.phase].late++
		}
	}
	if r.local {
		return // neither a success nor a failure of the target: it does not break or extend a run
	}
	s.total.bursts.add(r)
	if s.lastPhase != r.phase && s.lastPhase >= 0 {
		// A run of failures within a phase ends where the phase does.
		s.phases[s.lastPhase].bursts.end(r.at)
	}
	s.lastPhase = r.phase
	if r.phase >= 0 {
		s.phases[r.phase].bursts.add(r)
	}
}

// Close marks the aggregate complete: later results are ignored, and results still waiting for an earlier
// one (which never came) are counted in send order.
func (a *Aggregate) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.closed = true
	for _, s := range a.streams {
		s.order.flush(s.inSendOrder)
	}
}

func trimBody(b []byte) string {
	if len(b) > MaxFailureBodySize {
		b = b[:MaxFailureBodySize]
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// Snapshot returns the statistics so far, per stream, with PerPhase aligned to the timeline's phases and
// PerWindow to its windows.
func (a *Aggregate) Snapshot() []summary.Stream {
	phases := a.tl.Phases()
	windows := len(a.tl.Windows())
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]summary.Stream, 0, len(a.streams))
	for _, s := range a.streams {
		st := summary.Stream{
			Name: s.spec.Name, Method: s.spec.Method, URL: s.spec.URL, Rate: s.spec.Rate,
			Expect:                 expectList(s),
			Totals:                 s.total.summary(),
			PerPhase:               make([]summary.Stats, len(phases)),
			MaxConsecutiveFailures: s.total.bursts.longestRun,
			Generator:              s.gen.summary(s.spec.AskedRPS),
			FirstFailures:          append([]summary.Failure(nil), s.first...),
		}
		for _, g := range s.groups {
			st.FailureGroups = append(st.FailureGroups, *g)
		}
		for i := range phases {
			if i < len(s.phases) {
				st.PerPhase[i] = s.phases[i].summary()
			}
		}
		if windows > 0 {
			st.PerWindow = make([]summary.Stats, windows)
			for i := range min(windows, len(s.windows)) {
				st.PerWindow[i] = s.windows[i].summary()
			}
		}
		for t, sec := range s.seconds {
			if sec == nil {
				continue
			}
			q := sec.hist.quantiles(0.5, 0.99)
			st.Series = append(st.Series, summary.Second{T: int64(t), Requests: sec.requests, Failures: sec.failures, P50Ms: summary.Ms(q[0]), P99Ms: summary.Ms(q[1])})
		}
		st.Errors = errorCounts(s.errors)
		out = append(out, st)
	}
	return out
}

// countBounded counts msg in m, keeping at most MaxDistinctErrors messages: later ones are counted as
// "(other errors)", so memory does not grow with distinct failures.
func countBounded(m map[string]int64, msg string) {
	if _, known := m[msg]; known || len(m) < MaxDistinctErrors {
		m[msg]++
	} else {
		m[otherErrors]++
	}
}

// errorCounts lists message counts, most frequent first (then by message, so reports are stable).
func errorCounts(m map[string]int64) []summary.ErrorCount {
	var out []summary.ErrorCount
	for msg, n := range m {
		out = append(out, summary.ErrorCount{Message: msg, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Message < out[j].Message
	})
	return out
}

func expectList(s *streamAgg) []int {
	out := make([]int, 0, len(s.expect))
	for c := range s.expect {
		out = append(out, int(c))
	}
	sort.Ints(out)
	return out
}

func (s *stats) summary() summary.Stats {
	out := summary.Stats{Requests: s.requests, Successes: s.successes, Failures: s.failures,
		MaxConsecutiveFailures: s.bursts.longestRun, LongestBurstMs: summary.Ms(s.bursts.longestSpan()),
		SentLate: s.late, LocalErrors: s.local}
	if len(s.codes) > 0 {
		out.Codes = make(map[string]int64, len(s.codes))
		for c, n := range s.codes {
			out.Codes[strconv.Itoa(int(c))] = n
		}
	}
	if s.hist.count > 0 {
		q := s.hist.quantiles(0.5, 0.9, 0.95, 0.99)
		out.Latency = summary.Latency{
			Min: summary.Ms(s.hist.min), Mean: summary.Ms(s.hist.mean()), P50: summary.Ms(q[0]), P90: summary.Ms(q[1]), P95: summary.Ms(q[2]), P99: summary.Ms(q[3]), Max: summary.Ms(s.hist.max),
		}
	}
	return out
}

// Counts returns the requests and failures so far over every stream (the live status line).
func (a *Aggregate) Counts() (requests, failures int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.streams {
		requests += s.total.requests
		failures += s.total.failures
	}
	return requests, failures
}
