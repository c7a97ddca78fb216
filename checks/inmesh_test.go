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
	assert.Equal(t, "mTLS proven for 200 in-mesh calls from the callees' X-Forwarded-Client-Cert: 1-29→1-29 100, 1-30→1-29 60, 1-30→1-30 40", c.Summary)
}

// No sidecar saw the generators' identity (the offline lab has no Envoy): not proven, a failure.
func TestInMeshCallsWithoutCallerIdentityAreNotProven(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		for i := range im.Pairs {
			im.Pairs[i].NotMTLS = im.Pairs[i].Requests
		}
	}))
	assert.False(t, c.Passed)
	assert.Contains(t, c.Summary, "not proven: none of 200 in-mesh calls carried the generators' identity")
	assert.Equal(t, []string{"prepare", "upgrade"}, c.Steps)
}

// One pair's calls failed and some lacked the identity: the gate fails naming the pair and the step.
func TestInMeshCallsFailsOnAFailingPair(t *testing.T) {
	t.Parallel()
	c := Evaluate(inMeshGate(), inMeshRun(func(im *summary.InMesh) {
		im.Pairs[1].Failures, im.Pairs[1].NotMTLS = 7, 3
	}))
	assert.False(t, c.Passed)
	assert.Equal(t, "7 of 200 in-mesh calls unexpected, 3 without the generators' identity", c.Summary)
	assert.Contains(t, c.Evidence, "ingress, upgrade: 1-30→1-29 60 calls, 7 unexpected, 3 without the generators' identity")
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
