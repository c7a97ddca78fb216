package aggregate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// The pair record of a proxyless-gRPC stream: per phase and revision pair, calls answered with the
// generators' identity are proven, answered without it are not mTLS, failed ones are failures (and prove
// nothing either way); every identity the callee reported is counted.
func TestInMeshPairsCountProvenPlaintextAndFailedCallsApart(t *testing.T) {
	t.Parallel()
	tl := timeline.New()
	tl.Begin("move", timeline.KindStep)
	const me = "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a"
	p := NewInMeshPairs(tl, "demo-a", me, "xds:///app-b.demo-b.svc.cluster.local:7070", []int{200})
	at := time.Now()
	for _, c := range []InMeshCall{
		{At: at, From: "old", To: "new", Code: 200, Peer: me, MTLS: true},
		{At: at, From: "old", To: "new", Code: 200, Peer: me, MTLS: true},
		{At: at, From: "old", To: "new", Code: 200},                                           // plaintext
		{At: at, From: "old", To: "new", Code: 200, Peer: "spiffe://cluster.local/ns/x/sa/y"}, // someone else
		{At: at, From: "old", To: "old", Code: 503},                                           // failed
		{At: at, From: "old", Code: 503},                                                      // no answer
		{At: at, From: "old", Code: 200, Peer: me, MTLS: true},                                // answered, no proxy
	} {
		p.Add(c)
	}
	r := p.Record([]summary.Phase{{Name: "move"}})
	assert.Equal(t, summary.IdentityViaTLS, r.Via)
	assert.Equal(t, "app-b.demo-b.svc.cluster.local", r.Callee)
	assert.Equal(t, map[string]int64{me: 3, "spiffe://cluster.local/ns/x/sa/y": 1}, r.Peers)
	assert.Equal(t, []summary.InMeshPair{
		{Phase: "move", From: "old", To: "", Requests: 1},
		{Phase: "move", From: "old", To: summary.NoAnswer, Requests: 1, Failures: 1},
		{Phase: "move", From: "old", To: "new", Requests: 4, NotMTLS: 2},
		{Phase: "move", From: "old", To: "old", Requests: 1, Failures: 1},
	}, r.Pairs, "a failed call nobody answered is to an unknown callee, not to one without a proxy")
	assert.Equal(t, int64(2), r.Pairs[2].Proven())

	http := NewInMeshPairs(tl, "demo-a", me, "http://app-b.demo-b.svc.cluster.local:8080/", []int{200}).Record(nil)
	assert.Equal(t, summary.IdentityViaXFCC, http.Via)
	assert.Equal(t, "app-b.demo-b.svc.cluster.local", http.Callee)
}
