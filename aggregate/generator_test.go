package aggregate

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/timeline"
)

func feed(t *testing.T, sendAt func(seq uint64) time.Duration, n int, result func(seq uint64, r *vegeta.Result)) *Aggregate {
	t.Helper()
	start := time.Now()
	tl := timeline.NewAt(start, func() time.Time { return start })
	tl.Begin("upgrade", timeline.KindStep)
	agg := New(tl, []StreamSpec{{Name: "s", Interval: 10 * time.Millisecond, AskedRPS: 100}})
	for seq := uint64(0); seq < uint64(n); seq++ {
		r := &vegeta.Result{Attack: "s", Seq: seq, Timestamp: start.Add(sendAt(seq)), Code: 200, Latency: time.Millisecond}
		if result != nil {
			result(seq, r)
		}
		agg.Add(r)
	}
	agg.Close()
	return agg
}

func TestAGeneratorOnScheduleIsNotSaturated(t *testing.T) {
	// 100/s, each request sent on time give or take a few milliseconds of jitter.
	agg := feed(t, func(seq uint64) time.Duration {
		return time.Duration(seq+1)*10*time.Millisecond + time.Duration(seq%7)*time.Millisecond
	}, 1000, nil)
	require.NoError(t, agg.Saturation())
	g := agg.Snapshot()[0].Generator
	assert.False(t, g.Saturated)
	assert.Zero(t, g.Late)
	assert.InDelta(t, 100, g.AchievedRPS, 1)
}

// Workers capped (or CPU starved): from request 500 on, the generator manages only 20/s of the 100/s asked;
// the requests go out later and later. The run is the generator's failure, named with the step and rates.
func TestAGeneratorFallingBehindIsSaturated(t *testing.T) {
	agg := feed(t, func(seq uint64) time.Duration {
		if seq < 500 {
			return time.Duration(seq+1) * 10 * time.Millisecond
		}
		return 5*time.Second + time.Duration(seq-499)*50*time.Millisecond
	}, 1000, nil)
	err := agg.Saturation()
	require.ErrorIs(t, err, ErrSaturated)
	assert.Contains(t, err.Error(), `stream s during "upgrade": achieved`)
	assert.Contains(t, err.Error(), "of 100/s asked")
	assert.Contains(t, err.Error(), "requests sent more than 50ms late")
	g := agg.Snapshot()[0].Generator
	assert.True(t, g.Saturated)
	assert.Greater(t, g.Late, int64(400))
	assert.Greater(t, g.MaxLagMs, 10_000.0)
	assert.Equal(t, g.Late, agg.Snapshot()[0].PerPhase[0].SentLate)
}

// A local resource error never reached the target: it is not a request, not a failure — and it makes the
// run an error.
func TestLocalResourceErrorsAreTheGeneratorsNotTheTargets(t *testing.T) {
	agg := feed(t, func(seq uint64) time.Duration { return time.Duration(seq+1) * 10 * time.Millisecond }, 100, func(seq uint64, r *vegeta.Result) {
		if seq%10 == 0 {
			r.Code, r.Error = 0, `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:0->127.0.0.1:8080: bind: address already in use`
		}
	})
	s := agg.Snapshot()[0]
	assert.EqualValues(t, 90, s.Totals.Requests, "only requests that reached the target")
	assert.Zero(t, s.Totals.Failures)
	assert.Zero(t, s.MaxConsecutiveFailures)
	assert.EqualValues(t, 10, s.Generator.LocalErrors)
	assert.EqualValues(t, 100, s.Generator.Sent)
	assert.Zero(t, s.Generator.Late, "sent on schedule: a local error is not a late request")
	err := agg.Saturation()
	require.True(t, errors.Is(err, ErrSaturated))
	assert.Contains(t, err.Error(), "10 local resource errors")
	assert.Contains(t, err.Error(), "bind: address already in use")
}

func TestLocalErrorClassification(t *testing.T) {
	for msg, local := range map[string]bool{
		"dial tcp: bind: address already in use":             true,
		"dial tcp 127.0.0.1:80: socket: too many open files": true,
		"connect: cannot assign requested address":           true,
		"connect: connection refused":                        false,
		"read: connection reset by peer":                     false,
		"context deadline exceeded":                          false,
	} {
		assert.Equal(t, local, LocalError(msg), msg)
	}
}

// A shared machine holds the generator back now and then: 4% of the requests go out 150–300 ms late, but every
// one goes out and the asked rate is kept. That is a delay the run reports (late count, worst lag), not
// saturation: the requests were measured when they were really sent.
func TestAGeneratorDelayedByTheSchedulerIsNotSaturated(t *testing.T) {
	agg := feed(t, func(seq uint64) time.Duration {
		on := time.Duration(seq+1) * 10 * time.Millisecond
		if seq%25 == 0 && seq > 0 {
			return on + 150*time.Millisecond + time.Duration(seq%4)*50*time.Millisecond
		}
		return on
	}, 1000, nil)
	require.NoError(t, agg.Saturation())
	g := agg.Snapshot()[0].Generator
	assert.False(t, g.Saturated)
	assert.EqualValues(t, 39, g.Late)
	assert.InDelta(t, 300, g.MaxLagMs, 1)
	assert.InDelta(t, 100, g.AchievedRPS, 1)
}

// Late by more than MaxJitter is behind, even when the rate averages out: a second's gap in the load.
func TestAGeneratorLateBeyondJitterIsSaturated(t *testing.T) {
	agg := feed(t, func(seq uint64) time.Duration {
		on := time.Duration(seq+1) * 10 * time.Millisecond
		if seq >= 500 && seq < 520 {
			return on + 1200*time.Millisecond
		}
		return on
	}, 1000, nil)
	require.ErrorIs(t, agg.Saturation(), ErrSaturated)
}
