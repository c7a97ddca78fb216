package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestAttackRunsAtTheRateUntilCancelledAndLosesNoResult(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		assert.Equal(t, "app.example", r.Host, "the Host header selects the virtual host")
		w.WriteHeader(200)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h := http.Header{"Host": []string{"app.example"}}
	results := Attack(ctx, []Target{
		{Name: "a", Method: "GET", URL: srv.URL, Header: h, Rate: vegeta.Rate{Freq: 50, Per: time.Second}},
		{Name: "b", Method: "GET", URL: srv.URL, Header: h, Rate: vegeta.Rate{Freq: 20, Per: time.Second}},
	})
	counts := map[string]int{}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for r := range results {
		counts[r.Attack]++
		if first[r.Attack].IsZero() {
			first[r.Attack] = r.Timestamp
		}
		if r.Timestamp.After(last[r.Attack]) {
			last[r.Attack] = r.Timestamp
		}
		assert.EqualValues(t, 200, r.Code)
	}
	// The rate comes from the requests' own send times, not from this test's clock: on a busy machine the
	// attack may stop a little late, but it never sends faster than asked.
	rate := func(name string) float64 {
		require.Greater(t, counts[name], 10, name)
		return float64(counts[name]-1) / last[name].Sub(first[name]).Seconds()
	}
	assert.InEpsilon(t, 50, rate("a"), 0.05)
	assert.InEpsilon(t, 20, rate("b"), 0.05)
	assert.EqualValues(t, served.Load(), counts["a"]+counts["b"], "every request sent has its result")
}

// BenchmarkAttackRate measures the achieved rate at 1000 rps for 10 s against a loopback server, from the
// results' own send times. Run with: go test ./loadgen -run '^$' -bench AttackRate -benchtime 1x
func BenchmarkAttackRate(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	const rate, dur = 1000, 10 * time.Second
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		var n, fail int
		var first, last time.Time
		for r := range Attack(ctx, []Target{{Name: "bench", Method: "GET", URL: srv.URL, Rate: vegeta.Rate{Freq: rate, Per: time.Second}}}) {
			n++
			if r.Code != 200 {
				fail++
			}
			if first.IsZero() || r.Timestamp.Before(first) {
				first = r.Timestamp
			}
			if r.Timestamp.After(last) {
				last = r.Timestamp
			}
		}
		cancel()
		b.ReportMetric(float64(n-1)/last.Sub(first).Seconds(), "achieved-rps")
		b.ReportMetric(float64(n), "requests")
		b.ReportMetric(float64(fail), "failures")
	}
}
