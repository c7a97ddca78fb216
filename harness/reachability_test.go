package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// An API server that stops answering /readyz for a while is one outage window on the timeline, from its
// first failed probe to its first answer again, with the wall-clock span; a single failed probe is not one.
func TestAnAPIServerOutageIsAWindowOnTheTimeline(t *testing.T) {
	defer func(i time.Duration) { ReachabilityInterval = i }(ReachabilityInterval)
	ReachabilityInterval = 5 * time.Millisecond
	var probes atomic.Int64
	enough := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := probes.Add(1)
		if n == 30 {
			close(enough)
		}
		// Probe 3 fails alone (a blip); 6 to 10 fail in a row (an outage).
		if r.URL.Path != "/readyz" || n == 3 || (n >= 6 && n <= 10) {
			http.Error(w, "etcd not ready", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c, err := cluster.New("lab", &rest.Config{Host: srv.URL})
	require.NoError(t, err)
	tl := timeline.New()
	tl.Begin("warmup", timeline.KindWarmup)
	stop := watchReachability(context.Background(), tl, cluster.NewSet(c))
	select {
	case <-enough:
	case <-time.After(time.Minute):
		t.Fatal("fewer than 30 probes in a minute")
	}
	stop()
	ws := tl.Windows()
	require.Len(t, ws, 1, "the blip is no outage")
	w := ws[0]
	assert.Equal(t, summary.WindowKindOutage, w.Kind)
	assert.Equal(t, "API server of lab unreachable", w.Name)
	assert.False(t, w.Open)
	assert.True(t, w.Restored, "it answered again")
	assert.Regexp(t, regexp.MustCompile(`^API server of cluster lab unreachable \d\d:\d\d:\d\d–\d\d:\d\d:\d\d$`), w.What)
	require.Len(t, w.Events, 2)
	assert.Contains(t, w.Events[0], "etcd not ready")
	assert.Contains(t, w.Events[1], "answered /readyz again")
	assert.Less(t, w.Start, w.End)
}

// A step that failed while its cluster's API server was unreachable is an error — canarygate was blind, the
// verdict would lie — while a step that failed with its API server answering stays a failure, and another
// cluster's outage says nothing of it.
func TestAStepThatFailedWhileItsAPIServerWasUnreachableIsAnError(t *testing.T) {
	sc := &scenarios.Scenario{Clusters: []scenarios.Cluster{{Name: "east"}, {Name: "west"}},
		Steps: scenarios.StepList{{Name: "restart-east"}, {Name: "restart-west", Cluster: "west"}, {Name: "later-east"}}}
	run := &summary.Run{
		Phases: []summary.Phase{
			{Name: "restart-east", Kind: "step", StartMs: 1000, EndMs: 5000, Outcome: summary.OutcomeTimedOut, Error: "deployment demo/a did not roll out"},
			{Name: "restart-west", Kind: "step", StartMs: 5000, EndMs: 9000, Outcome: summary.OutcomeFailed, Error: "watch broken"},
			{Name: "later-east", Kind: "step", StartMs: 9000, EndMs: 12000, Outcome: summary.OutcomeFailed, Error: "boom"},
		},
		Windows: []summary.Window{{Name: "API server of east unreachable", Kind: summary.WindowKindOutage, What: "API server of cluster east unreachable 12:00:02–12:00:06", StartMs: 2000, EndMs: 6000}},
	}
	err := unobserved(sc, run)
	require.Error(t, err)
	assert.Equal(t, "step restart-east: not judged: API server of cluster east unreachable 12:00:02–12:00:06 while it ran, so its outcome could not be observed", err.Error())
	assert.Equal(t, summary.OutcomeError, run.Phases[0].Outcome)
	assert.Contains(t, run.Phases[0].Error, "did not roll out — not judged")
	assert.Equal(t, summary.OutcomeFailed, run.Phases[1].Outcome, "west's API server answered throughout")
	assert.Equal(t, summary.OutcomeFailed, run.Phases[2].Outcome, "east answered again before it began")
	assert.NoError(t, unobserved(sc, &summary.Run{Phases: run.Phases[1:]}), "no outage, nothing changes")
}
