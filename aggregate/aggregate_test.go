package aggregate

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/timeline"
)

func TestHistogramQuantilesAreWithinTwoPercent(t *testing.T) {
	var h histogram
	// 1..10000 µs uniformly: the q-quantile is q*10 ms.
	for i := 1; i <= 10000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	q := h.quantiles(0.5, 0.9, 0.99, 1)
	for i, want := range []time.Duration{5 * time.Millisecond, 9 * time.Millisecond, 9900 * time.Microsecond, 10 * time.Millisecond} {
		assert.InEpsilon(t, float64(want), float64(q[i]), 0.021, "quantile %d", i)
	}
	assert.Equal(t, time.Microsecond, h.min)
	assert.Equal(t, 10*time.Millisecond, h.max)
	assert.InDelta(t, float64(5000500*time.Nanosecond), float64(h.mean()), float64(time.Microsecond))
	assert.Less(t, len(h.buckets), 500, "sparse: buckets grow with the latency range's log, not with samples")
	var empty histogram
	assert.Equal(t, []time.Duration{0}, empty.quantiles(0.5))
}

func TestAggregateAttributesBySendTimeAndCountsFailures(t *testing.T) {
	start := time.Now()
	now := start
	tl := timeline.NewAt(start, func() time.Time { return now })
	tl.Begin("warm-up", timeline.KindWarmup)
	agg := New(tl, []StreamSpec{{Name: "s", Expect: []int{200, 204}}})
	res := func(at time.Duration, code uint16, err string) *vegeta.Result {
		return &vegeta.Result{Attack: "s", Timestamp: start.Add(at), Code: code, Error: err, Latency: 10 * time.Millisecond}
	}
	agg.Add(res(100*time.Millisecond, 200, ""))
	agg.Add(res(200*time.Millisecond, 204, ""))
	now = start.Add(time.Second)
	tl.Begin("upgrade", timeline.KindStep)
	// Sent during warm-up, received after the step began: still warm-up's.
	agg.Add(res(900*time.Millisecond, 503, "503 Service Unavailable"))
	agg.Add(res(1100*time.Millisecond, 0, "connection reset by peer"))
	agg.Add(res(1200*time.Millisecond, 201, ""))
	agg.Add(res(1300*time.Millisecond, 200, ""))

	snap := agg.Snapshot()
	require.Len(t, snap, 1)
	s := snap[0]
	assert.EqualValues(t, 6, s.Totals.Requests)
	assert.EqualValues(t, 3, s.Totals.Failures, "503, a transport error and an unexpected 201")
	assert.EqualValues(t, 3, s.PerPhase[0].Requests)
	assert.EqualValues(t, 1, s.PerPhase[0].Failures)
	assert.EqualValues(t, 3, s.PerPhase[1].Requests)
	assert.EqualValues(t, 2, s.PerPhase[1].Failures)
	assert.EqualValues(t, 3, s.MaxConsecutiveFailures, "503, reset, 201 in a row")
	require.Len(t, s.Series, 2)
	assert.EqualValues(t, 1, s.Series[0].Failures)
	assert.EqualValues(t, 2, s.Series[1].Failures)
	require.Len(t, s.FirstFailures, 3)
	assert.Equal(t, "warm-up", s.FirstFailures[0].Phase)
	assert.Equal(t, "HTTP 503 Service Unavailable", s.FirstFailures[0].Error)
	assert.Equal(t, "upgrade", s.FirstFailures[1].Phase)
	assert.Equal(t, "connection reset by peer", s.FirstFailures[1].Error)
	assert.Equal(t, map[string]int64{"200": 1, "204": 1, "503": 1}, s.PerPhase[0].Codes)

	agg.Close()
	agg.Add(res(1400*time.Millisecond, 500, ""))
	req, _ := agg.Counts()
	assert.EqualValues(t, 6, req, "nothing is added after Close")
}

func TestAggregateBoundsItsEvidence(t *testing.T) {
	tl := timeline.New()
	tl.Begin("warm-up", timeline.KindWarmup)
	agg := New(tl, []StreamSpec{{Name: "s"}})
	for i := 0; i < 1000; i++ {
		agg.Add(&vegeta.Result{Attack: "s", Timestamp: tl.Start(), Error: fmt.Sprintf("distinct error %d", i), Body: make([]byte, 4096)})
	}
	s := agg.Snapshot()[0]
	assert.Len(t, s.FirstFailures, MaxFirstFailures)
	assert.LessOrEqual(t, len(s.FirstFailures[0].Body), MaxFailureBodySize)
	assert.Len(t, s.Errors, MaxDistinctErrors+1)
	var total int64
	for _, e := range s.Errors {
		total += e.Count
	}
	assert.EqualValues(t, 1000, total, "errors past the distinct limit are still counted, as other errors")
}

// BenchmarkAggregate100k measures the heap an Aggregate holds after 100 000 results spread over 100 s, and
// the cost per result. Run with: go test ./aggregate -run '^$' -bench Aggregate -benchmem
func BenchmarkAggregate100k(b *testing.B) {
	const n = 100_000
	start := time.Now()
	results := make([]vegeta.Result, 1000)
	for i := range results {
		results[i] = vegeta.Result{Attack: "s", Code: 200, Latency: time.Duration(1+i%97) * 137 * time.Microsecond}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tl := timeline.NewAt(start, time.Now)
		tl.Begin("load", timeline.KindStep)
		agg := New(tl, []StreamSpec{{Name: "s"}})
		for j := 0; j < n; j++ {
			r := results[j%len(results)]
			r.Timestamp = start.Add(time.Duration(j) * time.Millisecond) // 1000 rps for 100 s
			if j%5000 == 0 {
				r.Code = 503
			}
			agg.Add(&r)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1024, "heap-KiB/100k-results")
		runtime.KeepAlive(agg)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/result")
}

// A failed status is named by its code; a status line that says more (a gRPC call's status, as
// grpcecho.Transport carries it) keeps what it says: why, not only that, a call failed.
func TestFailureMessageKeepsWhatTheStatusLineSays(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "HTTP 503 Service Unavailable", failureMessage(&vegeta.Result{Code: 503, Error: "503 Service Unavailable"}))
	assert.Equal(t, `HTTP 503 Service Unavailable (grpc Unavailable: connection error: desc = "transport: authentication handshake failed: x509: certificate signed by unknown authority")`,
		failureMessage(&vegeta.Result{Code: 503, Error: `503 Service Unavailable (grpc Unavailable: connection error: desc = "transport: authentication handshake failed: x509: certificate signed by unknown authority")`}))
	assert.Equal(t, "HTTP 599", failureMessage(&vegeta.Result{Code: 599, Error: "599 "}))
	assert.Equal(t, "dial tcp: connection refused", failureMessage(&vegeta.Result{Error: "dial tcp: connection refused"}))
}
