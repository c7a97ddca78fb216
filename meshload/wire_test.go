package meshload

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/meshload/agent"
)

// standIn is a stopped generator holding the given results (numbered by its buffer), its clock at t.
func standIn(name, revision string, t time.Time, rs []agent.Result) *agent.Generator {
	g := agent.NewGenerator(name, len(rs))
	g.Revision, g.Boot = revision, name+"-boot"
	g.Clock = func() time.Time { return t }
	for _, r := range rs {
		g.Buffer.Add(r)
	}
	g.Buffer.Add(agent.Result{Code: 1}) // one too many: overflow, which both formats must carry
	g.Buffer.Stop()
	return g
}

// Two generators' results, pulled in batches of 7 through HTTP as JSON and as binary, come out of the
// merger identical, field by field, to what the generators recorded, placed on the clock and in send order.
func TestBothFormatsMergeToTheSameResults(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) int64 { return t0.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	const me = "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a"
	recorded := map[string][]agent.Result{}
	for g, name := range []string{"gen-a", "gen-b"} {
		for i := range 40 {
			r := agent.Result{Sent: at(1000 - 20*i + g), Latency: int64(i) * int64(time.Millisecond), Code: 200, Peer: me, Callee: "1-30"}
			switch i % 5 {
			case 1:
				r.Callee = "1-29"
			case 2:
				r.Code, r.Error, r.Peer, r.Callee = 0, fmt.Sprintf("Get \"http://app-b\": dial tcp: connection refused (%d)", i), "", ""
			case 3:
				r.Code, r.Error, r.Latency = 503, "503 Service Unavailable ünïcødé\n", math.MaxInt64
			case 4:
				r.Peer, r.Latency = "spiffe://cluster.local/ns/other/sa/x", -1
			}
			recorded[name] = append(recorded[name], r)
		}
	}
	// Expected: each result as recorded, numbered 1.. per generator, on our clock (both clocks agree), in
	// send order (every send time differs).
	var want []Timed
	for name, rs := range recorded {
		rev := map[string]string{"gen-a": "1-29", "gen-b": "1-30"}[name]
		for i, r := range rs {
			r.Seq = uint64(i + 1)
			want = append(want, Timed{Result: r, At: time.Unix(0, r.Sent), Generator: name, Revision: rev})
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].At.Before(want[j].At) })

	merged := map[string][]Timed{}
	for _, format := range []string{agent.FormatJSON, agent.FormatBinary} {
		m := NewMerger()
		for _, name := range []string{"gen-a", "gen-b"} {
			m.Expect(name, t0)
			g := standIn(name, map[string]string{"gen-a": "1-29", "gen-b": "1-30"}[name], t0, recorded[name])
			srv := httptest.NewServer(g)
			t.Cleanup(srv.Close)
			src := HTTPSourceFormat(srv.Client(), srv.URL+"/results", format)
			var c Cursor
			for {
				p, err := c.Pull(context.Background(), src, 7, func() time.Time { return t0 })
				require.NoError(t, err, format)
				require.Equal(t, uint64(1), p.Overflow, format)
				m.Add(name, p.Revision, p.Results, p.Offset, t0)
				if p.Done {
					break
				}
			}
		}
		merged[format] = m.Flush()
		require.Equal(t, want, merged[format], format)
	}
	require.Equal(t, merged[agent.FormatJSON], merged[agent.FormatBinary])
}

// A generator of an older release knows no format parameter and answers JSON: the puller reads it all
// the same.
func TestAGeneratorThatSpeaksOnlyJSONIsStillPulled(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	g := standIn("old", "1-29", t0, []agent.Result{{Sent: 5, Latency: 7, Code: 200, Callee: "1-29"}, {Sent: 6, Code: 0, Error: "EOF"}})
	formats := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		formats <- q.Get(agent.FormatParam)
		q.Del(agent.FormatParam)
		r.URL.RawQuery = q.Encode()
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var c Cursor
	p, err := c.Pull(context.Background(), HTTPSource(srv.Client(), srv.URL+"/results"), 10, time.Now)
	require.NoError(t, err)
	assert.Equal(t, []agent.Result{{Seq: 1, Sent: 5, Latency: 7, Code: 200, Callee: "1-29"}, {Seq: 2, Sent: 6, Error: "EOF"}}, p.Results)
	assert.Equal(t, agent.FormatBinary, <-formats, "the puller asked for binary")
}

// A generator and a puller of different releases fail clearly: a format the generator does not speak is
// refused naming those it does; an answer that is no batch is named as such.
func TestMismatchedGeneratorsFailClearly(t *testing.T) {
	t.Parallel()
	g := standIn("gen", "1-29", time.Now(), nil)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	_, err := HTTPSourceFormat(srv.Client(), srv.URL+"/results", "bin9")(context.Background(), "", 0, 10)
	require.ErrorContains(t, err, `generator answered 400: format="bin9": this generator speaks json and bin1`)

	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(html.Close)
	_, err = HTTPSource(html.Client(), html.URL+"/results")(context.Background(), "", 0, 10)
	require.ErrorIs(t, err, agent.ErrNotABatch)
	assert.ErrorContains(t, err, "is the generators' image canarygate's demo-app?")
}
