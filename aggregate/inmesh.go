package aggregate

import (
	"maps"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/canarygate/canarygate/loadgen"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// InMeshCall is one in-mesh result as the pair record needs it.
type InMeshCall struct {
	// At is the send time on the run's clock; From the caller's revision, To the callee's.
	At       time.Time
	From, To string
	Code     uint16
	// Peer is the caller identity the callee reported ("" for none: plaintext); MTLS whether that proves
	// the call mutual TLS from the generators (agent.Result.MTLSFrom, the one place that rule lives).
	Peer string
	MTLS bool
}

// InMeshPairs counts an in-mesh stream's calls per phase, caller revision and callee revision, and the
// caller identities the callee reported. It is safe for concurrent use.
type InMeshPairs struct {
	tl        *timeline.Timeline
	namespace string
	identity  string
	via       string
	callee    string
	expect    []int
	mu        sync.Mutex
	counts    map[pairKey]*summary.InMeshPair
	peers     map[string]int64
}

type pairKey struct {
	phase    int
	from, to string
}

// NewInMeshPairs starts the record of a stream whose generators (in namespace, with SPIFFE identity) call
// url: the identity comes from the callee's own TLS handshake for an xds:/// target, from its sidecar's
// X-Forwarded-Client-Cert otherwise. expect are the statuses that count as answered.
func NewInMeshPairs(tl *timeline.Timeline, namespace, identity, target string, expect []int) *InMeshPairs {
	p := &InMeshPairs{tl: tl, namespace: namespace, identity: identity, expect: expect, via: summary.IdentityViaXFCC,
		counts: map[pairKey]*summary.InMeshPair{}, peers: map[string]int64{}}
	if host, _, err := loadgen.ParseXDSTarget(target); err == nil {
		p.via, p.callee = summary.IdentityViaTLS, host
	} else if u, err := url.Parse(target); err == nil {
		p.callee = u.Hostname()
	}
	return p
}

// Add counts one call: unexpected status is a failure; an answered call without the generators' identity is
// not mTLS (a failed call proves nothing either way).
func (p *InMeshPairs) Add(c InMeshCall) {
	phase, ok := p.tl.PhaseAt(c.At)
	if !ok {
		phase = -1
	}
	failed := !slices.Contains(p.expect, int(c.Code))
	if failed && c.To == "" {
		// Nobody answered: not "a callee without a proxy" — the callee is unknown.
		c.To = summary.NoAnswer
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pairKey{phase, c.From, c.To}
	rec, ok := p.counts[k]
	if !ok {
		rec = &summary.InMeshPair{From: c.From, To: c.To}
		p.counts[k] = rec
	}
	rec.Requests++
	if c.Peer != "" {
		p.peers[c.Peer]++
	}
	switch {
	case failed:
		rec.Failures++
	case !c.MTLS:
		rec.NotMTLS++
	}
}

// Record is the stream's InMesh record, phases named as in the run.
func (p *InMeshPairs) Record(phases []summary.Phase) *summary.InMesh {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &summary.InMesh{Namespace: p.namespace, Identity: p.identity, Via: p.via, Callee: p.callee}
	if len(p.peers) > 0 {
		out.Peers = maps.Clone(p.peers)
	}
	keys := slices.Collect(maps.Keys(p.counts))
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.phase != b.phase {
			return a.phase < b.phase
		}
		if a.from != b.from {
			return a.from < b.from
		}
		return a.to < b.to
	})
	for _, k := range keys {
		rec := *p.counts[k]
		if k.phase >= 0 && k.phase < len(phases) {
			rec.Phase = phases[k.phase].Name
		}
		out.Pairs = append(out.Pairs, rec)
	}
	return out
}
