package meshload

import (
	"net/http"
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
// results up to the lowest watermark of the generators still running are released, sorted by send time.
type Merger struct {
	queue      []Timed
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
	for _, r := range rs {
		m.queue = append(m.queue, Timed{Result: r, At: time.Unix(0, r.Sent).Add(-offset), Generator: gen, Revision: revision})
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
	first := true
	for _, w := range m.watermarks {
		if first || w.Before(low) {
			low, first = w, false
		}
	}
	sort.SliceStable(m.queue, func(i, j int) bool { return m.queue[i].At.Before(m.queue[j].At) })
	n := len(m.queue)
	if !first {
		n = sort.Search(len(m.queue), func(i int) bool { return m.queue[i].At.After(low) })
	}
	out := append([]Timed(nil), m.queue[:n]...)
	m.queue = append(m.queue[:0:0], m.queue[n:]...)
	return out
}

// Flush returns everything still held, in send order (the end of the stream).
func (m *Merger) Flush() []Timed {
	m.watermarks = map[string]time.Time{}
	return m.Ready()
}

// Len is the number of results held back.
func (m *Merger) Len() int { return len(m.queue) }
