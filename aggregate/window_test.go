package aggregate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/timeline"
)

// A result counts for its phase and for every disruption window it was sent in — by send time, also when
// it arrives after the window closed (an in-mesh generator's results are pulled later).
func TestResultsCountInTheWindowsTheyWereSentIn(t *testing.T) {
	start := time.Now()
	now := start
	tl := timeline.NewAt(start, func() time.Time { return now })
	tl.Begin("warm-up", timeline.KindWarmup)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	res := func(at time.Duration, code uint16) *vegeta.Result {
		return &vegeta.Result{Attack: "s", Timestamp: start.Add(at), Code: code, Latency: time.Millisecond}
	}
	now = start.Add(time.Second)
	w := tl.OpenWindow(timeline.Window{Name: "down"})
	agg.Add(res(900*time.Millisecond, 200)) // before the window
	agg.Add(res(1000*time.Millisecond, 503))
	now = start.Add(2 * time.Second)
	tl.CloseWindow(w, nil)
	agg.Add(res(1500*time.Millisecond, 200)) // sent in it, arriving after it closed
	agg.Add(res(2000*time.Millisecond, 503)) // sent as it closed: not in it

	snap := agg.Snapshot()
	require.Len(t, snap, 1)
	require.Len(t, snap[0].PerWindow, 1)
	assert.EqualValues(t, 2, snap[0].PerWindow[0].Requests)
	assert.EqualValues(t, 1, snap[0].PerWindow[0].Failures)
	assert.EqualValues(t, 4, snap[0].Totals.Requests)
	assert.EqualValues(t, 4, snap[0].PerPhase[0].Requests, "every one in its phase as well")

	none := New(timeline.NewAt(start, func() time.Time { return now }), []StreamSpec{{Name: "s"}})
	none.Add(res(time.Second, 200))
	assert.Nil(t, none.Snapshot()[0].PerWindow, "no window, no per-window record")
}
