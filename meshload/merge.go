package meshload

import (
	"net/http"
	"slices"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/meshload/agent"
)

// Timed is a pulled result placed on the local clock.
type Timed struct {
	agent.Result
	// At is the send time on canarygate's clock (the generator's, less its estimated offset).
	At time.Time
	// Generator is the pod that sent it; Revision that pod's proxy revision.
	Generator, Revision string
}

// Call is the result as a stream's pair record counts it (aggregate.InMeshPairs); identity is the
// generators' own (Spec.Identity).
func (t Timed) Call(identity string) aggregate.InMeshCall {
	return aggregate.InMeshCall{At: t.At, From: t.Revision, To: t.Callee, Code: t.Code, Peer: t.Peer, MTLS: t.MTLSFrom(identity)}
}

// VegetaResult is the result as the run's aggregate and results file take it: the seq-th result of the
// stream named attack, whose generators call url.
func (t Timed) VegetaResult(attack, url string, seq uint64) *vegeta.Result {
	return &vegeta.Result{Attack: attack, Seq: seq, Code: t.Code, Timestamp: t.At, Latency: time.Duration(t.Latency),
		Error: t.Error, Method: http.MethodGet, URL: url}
}

// Merger puts the results of one stream's generators into one send order. Results arrive per generator, in
// batches, in the order they completed; a result can be emitted once no generator can still deliver an
// earlier one: each generator has a watermark — every request it sent before it has been received — and
// results up to the lowest watermark of the generators still running are released, sorted by send time
// (results sent at the same time in the order they were added).
//
// It holds a stream's last Timeout of results (a million at 200 000/s), so nothing is done to all of them at
// every release: what was added since the last release is sorted into a run of its own, and a release
// merges the runs' heads up to the watermark — sorting and copying each result once, however long it waits.
type Merger struct {
	// added are the results added since the last release, in the order they came.
	added []Timed
	// runs are the earlier ones still held, each sorted by send time, the oldest run first.
	runs [][]Timed
	// lastRun is the size of the last run: the next one's likely size, allocated at once rather than grown.
	lastRun    int
	watermarks map[string]time.Time
}

// NewMerger returns an empty merger.
func NewMerger() *Merger { return &Merger{watermarks: map[string]time.Time{}} }

// Expect registers a generator before its first pull: until then it holds back everything sent after since
// (its pod's start).
func (m *Merger) Expect(gen string, since time.Time) {
	if _, ok := m.watermarks[gen]; !ok {
		m.watermarks[gen] = since
	}
}

// Add takes a generator's newly pulled results: their send times move to the local clock by the offset,
// and the generator's watermark to upTo (everything it sent before upTo is now received).
func (m *Merger) Add(gen, revision string, rs []agent.Result, offset time.Duration, upTo time.Time) {
	if m.added == nil {
		m.added = make([]Timed, 0, max(m.lastRun+m.lastRun/8, len(rs)))
	}
	m.added = slices.Grow(m.added, len(rs))
	for _, r := range rs {
		m.added = append(m.added, Timed{Result: r, At: time.Unix(0, r.Sent).Add(-offset), Generator: gen, Revision: revision})
	}
	if w, ok := m.watermarks[gen]; !ok || upTo.After(w) {
		m.watermarks[gen] = upTo
	}
}

// Done says a generator will deliver nothing more: it no longer holds results back.
func (m *Merger) Done(gen string) { delete(m.watermarks, gen) }

// Ready returns, in send order, the results no running generator can still precede.
func (m *Merger) Ready() []Timed {
	var low time.Time
	all := true
	for _, w := range m.watermarks {
		if all || w.Before(low) {
			low, all = w, false
		}
	}
	if len(m.added) > 0 {
		slices.SortStableFunc(m.added, func(a, b Timed) int { return a.At.Compare(b.At) })
		m.runs = append(m.runs, m.added)
		m.lastRun, m.added = len(m.added), nil
	}
	// Each run's head up to the watermark; what is left of a run stays where it is.
	heads := make([][]Timed, 0, len(m.runs))
	total := 0
	kept := m.runs[:0]
	for _, r := range m.runs {
		n := len(r)
		if !all {
			n = sort.Search(len(r), func(i int) bool { return r[i].At.After(low) })
		}
		if n > 0 {
			heads = append(heads, r[:n])
			total += n
		}
		if rest := r[n:]; len(rest) > 0 {
			if n > 0 && len(rest) < cap(r)/4 {
				// Its few stragglers no longer keep the run's whole array (and what it points to) alive.
				rest = slices.Clone(rest)
			}
			kept = append(kept, rest)
		}
	}
	clear(m.runs[len(kept):])
	m.runs = kept
	return mergeRuns(heads, total)
}

// mergeRuns merges sorted runs into one send order; of results sent at the same time, the earlier run's come
// first (they were added first). Few runs have a head to release (a release's results were mostly pulled
// in the same round), so the earliest head is looked for among them in turn.
func mergeRuns(runs [][]Timed, total int) []Timed {
	if len(runs) == 0 {
		return nil
	}
	out := make([]Timed, 0, total)
	for len(runs) > 1 {
		best := 0
		for i := 1; i < len(runs); i++ {
			if runs[i][0].At.Before(runs[best][0].At) {
				best = i
			}
		}
		out = append(out, runs[best][0])
		if runs[best] = runs[best][1:]; len(runs[best]) == 0 {
			runs = slices.Delete(runs, best, best+1)
		}
	}
	return append(out, runs[0]...)
}

// Flush returns everything still held, in send order (the end of the stream).
func (m *Merger) Flush() []Timed {
	m.watermarks = map[string]time.Time{}
	return m.Ready()
}

// Len is the number of results held back.
func (m *Merger) Len() int {
	n := len(m.added)
	for _, r := range m.runs {
		n += len(r)
	}
	return n
}
