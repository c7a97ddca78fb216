package aggregate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/timeline"
)

// The case that used to pass wrongly: 600 requests sent back to back all time out (500 ms timeout against a
// server that hangs), while the requests sent after them succeed at once. Results arrive in completion order
// — the successes sent up to 500 ms later land before the last timeouts — yet in send order the 600 failures
// follow each other.
func TestConsecutiveFailuresAreCountedInSendOrderNotCompletionOrder(t *testing.T) {
	start := time.Now()
	tl := timeline.NewAt(start, func() time.Time { return start })
	tl.Begin("upgrade", timeline.KindStep)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	const interval = time.Millisecond // 1000/s
	const timeout = 500 * time.Millisecond
	type arrival struct {
		done time.Time
		r    *vegeta.Result
	}
	var arrivals []arrival
	for seq := uint64(0); seq < 1300; seq++ {
		sentAt := start.Add(time.Duration(seq) * interval)
		r := &vegeta.Result{Attack: "s", Seq: seq, Timestamp: sentAt, Code: 200, Latency: time.Millisecond}
		done := sentAt.Add(time.Millisecond)
		if seq >= 100 && seq < 700 {
			r.Code, r.Error, r.Latency = 0, "Get \"http://127.0.0.1/\": context deadline exceeded", timeout
			done = sentAt.Add(timeout)
		}
		arrivals = append(arrivals, arrival{done, r})
	}
	// Deliver in completion order, as vegeta's results channel does.
	for i := 1; i < len(arrivals); i++ {
		for j := i; j > 0 && arrivals[j].done.Before(arrivals[j-1].done); j-- {
			arrivals[j], arrivals[j-1] = arrivals[j-1], arrivals[j]
		}
	}
	completionRun, longestCompletionRun := 0, 0
	for _, a := range arrivals {
		if a.r.Code != 200 {
			completionRun++
			longestCompletionRun = max(longestCompletionRun, completionRun)
		} else {
			completionRun = 0
		}
		agg.Add(a.r)
	}
	require.Less(t, longestCompletionRun, 600, "the test feeds results in an order that splits the run")

	live := agg.Snapshot()[0]
	assert.EqualValues(t, 600, live.MaxConsecutiveFailures, "every result has arrived: the live view already counts 600")
	agg.Close()
	s := agg.Snapshot()[0]
	assert.EqualValues(t, 600, s.Totals.Failures)
	assert.EqualValues(t, 600, s.MaxConsecutiveFailures)
	assert.EqualValues(t, 600, s.PerPhase[0].MaxConsecutiveFailures)
	assert.InDelta(t, 600.0, s.PerPhase[0].LongestBurstMs, 0.001, "first failure sent at 100 ms, first success after it at 700 ms")
}

// A 3 s outage inside a step is one 3 s burst charged to that step — not 4 whole seconds, and nothing to the
// step before it, even though the outage starts in the middle of a second.
func TestABurstIsMeasuredBySendTimeAndChargedOnlyToItsStep(t *testing.T) {
	start := time.Now()
	now := start
	tl := timeline.NewAt(start, func() time.Time { return now })
	tl.Begin("prepare", timeline.KindStep)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	const interval = 20 * time.Millisecond // 50/s
	seq := uint64(0)
	send := func(until time.Duration, code uint16) {
		for ; now.Sub(start) < until; now = now.Add(interval) {
			agg.Add(&vegeta.Result{Attack: "s", Seq: seq, Timestamp: now, Code: code, Latency: time.Millisecond})
			seq++
		}
	}
	send(2300*time.Millisecond, 200)
	tl.Begin("upgrade", timeline.KindStep)
	send(2500*time.Millisecond, 200)
	send(5500*time.Millisecond, 503) // 2.5 s … 5.5 s: a 3 s outage that starts mid-second
	send(7000*time.Millisecond, 200)
	tl.Begin("cool-down", timeline.KindCooldown)
	send(8000*time.Millisecond, 200)
	agg.Close()

	s := agg.Snapshot()[0]
	assert.EqualValues(t, 150, s.Totals.Failures)
	assert.Zero(t, s.PerPhase[0].Failures)
	assert.Zero(t, s.PerPhase[0].LongestBurstMs, "nothing is charged to the step before")
	assert.InDelta(t, 3000.0, s.PerPhase[1].LongestBurstMs, 0.001)
	assert.EqualValues(t, 150, s.PerPhase[1].MaxConsecutiveFailures)
	assert.Zero(t, s.PerPhase[2].LongestBurstMs)
}

// A run of failures that crosses into the next step is split at the boundary: each step is charged its part.
func TestABurstAcrossAStepBoundaryIsSplitAtTheBoundary(t *testing.T) {
	start := time.Now()
	now := start
	tl := timeline.NewAt(start, func() time.Time { return now })
	tl.Begin("a", timeline.KindStep)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	const interval = 100 * time.Millisecond
	seq := uint64(0)
	send := func(n int, code uint16) {
		for i := 0; i < n; i++ {
			agg.Add(&vegeta.Result{Attack: "s", Seq: seq, Timestamp: now, Code: code})
			seq++
			now = now.Add(interval)
		}
	}
	send(5, 200)
	send(10, 503) // 0.5 s … 1.5 s in a
	tl.Begin("b", timeline.KindStep)
	send(5, 503) // 1.5 s … 2.0 s in b
	send(5, 200)
	agg.Close()
	s := agg.Snapshot()[0]
	assert.EqualValues(t, 15, s.MaxConsecutiveFailures, "over the run it is one burst")
	assert.EqualValues(t, 10, s.PerPhase[0].MaxConsecutiveFailures)
	assert.InDelta(t, 1000.0, s.PerPhase[0].LongestBurstMs, 0.001)
	assert.EqualValues(t, 5, s.PerPhase[1].MaxConsecutiveFailures)
	assert.InDelta(t, 500.0, s.PerPhase[1].LongestBurstMs, 0.001)
	assert.InDelta(t, 1500.0, s.Totals.LongestBurstMs, 0.001)
}

// Results that never arrive (the attack stopped) do not hold the rest back at Close.
func TestCloseCountsResultsStillWaitingForAnEarlierOne(t *testing.T) {
	tl := timeline.New()
	tl.Begin("a", timeline.KindStep)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	for _, seq := range []uint64{1, 2, 3} { // seq 0 never arrives
		agg.Add(&vegeta.Result{Attack: "s", Seq: seq, Timestamp: tl.Start().Add(time.Duration(seq) * time.Millisecond), Code: 500})
	}
	assert.Zero(t, agg.Snapshot()[0].MaxConsecutiveFailures, "live: waiting for request 0")
	agg.Close()
	assert.EqualValues(t, 3, agg.Snapshot()[0].MaxConsecutiveFailures)
}
