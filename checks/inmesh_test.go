package checks

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// inMeshRun: generators in demo-a called app-b while both moved from 1-29 to 1-30: in "prepare" all on
// 1-29; in "upgrade" the generators are on 1-30 and app-b on both, every pair called, all mTLS.
func inMeshRun(change func(*summary.InMesh)) *summary.Run {
	return run(func(r *summary.Run) {
		im := &summary.InMesh{Namespace: "demo-a", Identity: "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a", Pairs: []summary.InMeshPair{
			{Phase: "prepare", From: "1-29", To: "1-29", Requests: 100},
			{Phase: "upgrade", From: "1-30", To: "1-29", Requests: 60},
			{Phase: "upgrade", From: "1-30", To: "1-30", Requests: 40},
		}}
		if change != nil {
			change(im)
		}
		r.Streams[0].InMesh = im
	})
}

func inMeshGate() scenarios.Gate { return gate(scenarios.GateInMeshCalls, &scenarios.InMeshCalls{}) }

func TestInMeshCallsPassesWhenEveryPairCalledOverMTLS(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(nil))
	assert.True(t, c.Passed, c.Summary)
	assert.Equal(t, "mTLS proven for 200 in-mesh calls (ingress: identity from the X-Forwarded-Client-Cert the callee's sidecar added): 1-29→1-29 100, 1-30→1-29 60, 1-30→1-30 40", c.Summary)
}

// Proxyless gRPC: the callee's own handshake saw the generators' identity; the evidence says per phase and
// pair how many calls were proven, where the identity came from and which identities the callee saw.
func TestInMeshCallsOverProxylessGRPCNameTheHandshakeAndTheCallers(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Via, im.Callee = summary.IdentityViaTLS, "app-b.demo-b.svc.cluster.local"
		im.Peers = map[string]int64{im.Identity: 200}
	}))
	assert.True(t, c.Passed, c.Summary)
	assert.Contains(t, c.Summary, "identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC)")
	assert.Contains(t, c.Evidence, "ingress, upgrade: 1-30→1-29 60 calls, 60 mTLS-proven, 0 unexpected, 0 answered without the generators' identity (not mTLS)")
	assert.Contains(t, c.Evidence, "ingress: caller identities identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC): spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a (200 calls); the generators' own is spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a")
}

// Plaintext (PeerAuthentication PERMISSIVE, no DestinationRule: every call answered, no TLS peer): not mTLS,
// a failure naming the pairs and the steps, even though nothing failed.
func TestInMeshCallsAnsweredInPlaintextAreNotMTLS(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Via, im.Callee = summary.IdentityViaTLS, "app-b.demo-b.svc.cluster.local"
		for i := range im.Pairs {
			im.Pairs[i].NotMTLS = im.Pairs[i].Requests
		}
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, "not mTLS: 200 of 200 in-mesh calls answered without the generators' identity (plaintext or another identity; ingress: identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC)), 0 unexpected", c.Summary)
	assert.Contains(t, c.Evidence, "ingress, prepare: 1-29→1-29 100 calls, 0 mTLS-proven, 0 unexpected, 100 answered without the generators' identity (not mTLS)")
	assert.Contains(t, c.Evidence, "ingress: the callee reported no caller identity for any call (identity from the TLS handshake seen by app-b.demo-b.svc.cluster.local (proxyless gRPC))")
	assert.Equal(t, []string{"prepare", "upgrade"}, c.Steps)
}

// One pair's calls failed: the gate fails naming the pair and the step.
func TestInMeshCallsFailsOnAFailingPair(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Pairs[1].Failures = 7
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, "7 of 200 in-mesh calls unexpected or not proven", c.Summary)
	assert.Contains(t, c.Evidence, "ingress, upgrade: 1-30→1-29 60 calls, 53 mTLS-proven, 7 unexpected, 0 answered without the generators' identity (not mTLS)")
	assert.Equal(t, []string{"upgrade"}, c.Steps)
}

// Calls nobody answered (a trust break: every handshake refused) fail under their own callee, "(no answer)",
// named with the step; that callee is no revision the others must have called: no "coexisted but made no
// call" for it.
func TestInMeshCallsNobodyAnsweredFailAsTheirOwnPair(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Pairs = append(im.Pairs, summary.InMeshPair{Phase: "upgrade", From: "1-30", To: summary.NoAnswer, Requests: 12, Failures: 12})
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, "12 of 212 in-mesh calls unexpected or not proven", c.Summary)
	assert.Contains(t, c.Evidence, "ingress, upgrade: 1-30→(no answer) 12 calls, 0 mTLS-proven, 12 unexpected, 0 answered without the generators' identity (not mTLS)")
	for _, e := range c.Evidence {
		assert.NotContains(t, e, "coexisted but made no call")
	}
	assert.Equal(t, []string{"upgrade"}, c.Steps)
}

// During "upgrade" 1-30 callers and 1-29 callees coexisted, yet 1-30→1-29 made no call (clients pinned to
// new pods): the cross-revision path is not proven.
func TestInMeshCallsFailsWhenACoexistingPairNeverCalled(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Pairs = append(im.Pairs, summary.InMeshPair{Phase: "upgrade", From: "1-29", To: "1-30", Requests: 10})
	}))
	assert.False(t, c.Passed)
	assert.Contains(t, c.Evidence, "ingress, upgrade: 1-29→1-29 coexisted but made no call: not proven")
	assert.Equal(t, []string{"upgrade"}, c.Steps)
}

func TestInMeshCallsFailsWithNoCalls(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) { im.Pairs = nil }))
	assert.False(t, c.Passed)
	assert.Equal(t, "no in-mesh calls were measured: not proven", c.Summary)
	c = Evaluate(inMeshGate(), run(nil))
	assert.False(t, c.Passed)
	assert.Equal(t, "no in-mesh stream in the run: nothing proven", c.Summary)
}
