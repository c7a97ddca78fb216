package meshload

import (
	"context"
	"errors"
	"github.com/canarygate/canarygate/meshload/agent"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/demoapp"
	"github.com/canarygate/canarygate/loadgen"
)

// target is a loopback server counting the requests it answered.
func target(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &n
}

// perSecond is a rate in requests per second.
func perSecond(r vegeta.Rate) float64 { return float64(r.Freq) / r.Per.Seconds() }

func TestShareRateSumsExactly(t *testing.T) {
	for _, c := range []struct {
		rate vegeta.Rate
		n    int
		want vegeta.Rate
	}{
		{vegeta.Rate{Freq: 100, Per: time.Second}, 3, vegeta.Rate{Freq: 100, Per: 3 * time.Second}},
		{vegeta.Rate{Freq: 600, Per: time.Minute}, 4, vegeta.Rate{Freq: 600, Per: 4 * time.Minute}},
		{vegeta.Rate{Freq: 10, Per: time.Second}, 0, vegeta.Rate{Freq: 10, Per: time.Second}},
	} {
		got := ShareRate(c.rate, c.n)
		assert.Equal(t, c.want, got)
		assert.InDelta(t, perSecond(c.rate), float64(max(c.n, 1))*perSecond(got), 1e-9, "the shares sum to the rate exactly")
	}
}

// Three generators share 150/s as a stream's replicas do: each one's achieved rate, from its results' send
// times, and their sum match what was asked (vegeta paces by the clock, so a busy machine sends late, not
// fewer).
func TestSharedGeneratorsSumToTheAskedRate(t *testing.T) {
	srv, _ := target(t)
	const replicas, asked = 3, 150.0
	share := ShareRate(vegeta.Rate{Freq: 150, Per: time.Second}, replicas)
	// Each attack stops itself once it has sent 3 s of its share.
	n := int(perSecond(share) * 3)
	var wg sync.WaitGroup
	gens := make([]*agent.Generator, replicas)
	for i := range gens {
		gens[i] = agent.NewGenerator("gen", 10_000)
		ctx, cancel := context.WithCancel(context.Background())
		wg.Add(1)
		go func(g *agent.Generator) {
			defer wg.Done()
			g.Run(ctx, loadgen.Target{Name: "share", Method: http.MethodGet, URL: srv.URL, Rate: share, Timeout: 2 * time.Second})
		}(gens[i])
		go func(g *agent.Generator) {
			for g.Buffer.Len() < n {
				<-g.Buffer.Changed()
			}
			cancel()
		}(gens[i])
	}
	wg.Wait()
	sum := 0.0
	for i, g := range gens {
		b := g.Buffer.Pull(0, 1_000_000)
		require.GreaterOrEqual(t, len(b.Results), n)
		sent := make([]int64, len(b.Results))
		for j, r := range b.Results {
			sent[j] = r.Sent
		}
		sort.Slice(sent, func(a, b int) bool { return sent[a] < sent[b] })
		// Requests are sent at i/rate from the attack's start: the rate is (n-1) over the first to last span.
		span := time.Duration(sent[n-1] - sent[0]).Seconds()
		got := float64(n-1) / span
		assert.InEpsilon(t, perSecond(share), got, 0.05, "generator %d", i)
		sum += got
	}
	assert.InEpsilon(t, asked, sum, 0.05)
}

func TestBufferKeepsAtMostItsCapacityAndCountsTheRest(t *testing.T) {
	b := agent.NewBuffer(50)
	for i := 0; i < 80; i++ {
		b.Add(agent.Result{Code: 200})
	}
	assert.Equal(t, 50, b.Len())
	batch := b.Pull(0, 10)
	assert.Len(t, batch.Results, 10)
	assert.Equal(t, uint64(1), batch.Results[0].Seq)
	assert.Equal(t, uint64(50), batch.Produced)
	assert.Equal(t, uint64(30), batch.Overflow, "the 30 that did not fit are counted, not dropped silently")
	// Acknowledging makes room again.
	batch = b.Pull(50, 10)
	assert.Empty(t, batch.Results)
	assert.Equal(t, 0, b.Len())
	b.Add(agent.Result{Code: 200})
	batch = b.Pull(50, 10)
	require.Len(t, batch.Results, 1)
	assert.Equal(t, uint64(51), batch.Results[0].Seq)
	assert.False(t, b.Drained())
	b.Stop()
	assert.False(t, b.Drained(), "stopped but not yet acknowledged")
	b.Pull(51, 10)
	assert.True(t, b.Drained(), "the answer to the pull that acknowledged the last result said so")
}

// lossy loses every third answer after the generator has acted on the request (as a pod proxy request that
// times out on the way back would): the results in it must come again with the next pull.
func lossy(src Source) Source {
	var n atomic.Int64
	return func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error) {
		b, err := src(ctx, boot, after, max)
		if err == nil && n.Add(1)%3 == 0 {
			return agent.Batch{}, errors.New("answer lost")
		}
		return b, err
	}
}

// The pull protocol under load: a generator attacks a loopback server; its answers are lost one in three;
// the pull loop is stopped and started again halfway (keeping only its cursor, as canarygate would); the
// generator is then terminated (its attack stops) and keeps serving until everything is pulled. Every result
// arrives exactly once, numbered 1..N with N what the generator made, none overflowed.
func TestPullLosesNothingAcrossAKilledGeneratorAndARestartedPullLoop(t *testing.T) {
	srv, answered := target(t)
	g := agent.NewGenerator("app-a-gen-0", 100_000)
	gsrv := httptest.NewServer(g)
	t.Cleanup(gsrv.Close)
	src := lossy(HTTPSource(gsrv.Client(), gsrv.URL+"/results"))

	attack, kill := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run(attack, loadgen.Target{Name: "a", Method: http.MethodGet, URL: srv.URL, Rate: vegeta.Rate{Freq: 300, Per: time.Second}, Timeout: 2 * time.Second})
	}()

	var cursor Cursor
	var got []agent.Result
	var done2 bool
	pull := func(ctx context.Context, until func() bool) {
		for !until() {
			p, err := cursor.Pull(ctx, src, 97, time.Now)
			if err == nil {
				got = append(got, p.Results...)
				require.Zero(t, p.Overflow)
				done2 = p.Done
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	// First pull loop until 200 results, then it "restarts" (a new loop with the same cursor).
	pull(context.Background(), func() bool { return len(got) >= 200 })
	pull(context.Background(), func() bool { return len(got) >= 400 })
	kill() // SIGTERM: the attack stops; the generator keeps its buffer for the pulls
	<-done
	pull(context.Background(), func() bool { return done2 })

	require.NotEmpty(t, got)
	for i, r := range got {
		require.Equal(t, uint64(i+1), r.Seq, "every result once, in order")
	}
	final := g.Buffer.Pull(cursor.Last, 1)
	assert.Equal(t, final.Produced, uint64(len(got)), "all the generator made")
	assert.True(t, g.Buffer.Drained())
	assert.Zero(t, cursor.Lost)
	ok := 0
	for _, r := range got {
		if r.Code == 200 {
			ok++
		}
	}
	assert.LessOrEqual(t, int64(ok), answered.Load(), "no 200 the server did not send")
	assert.GreaterOrEqual(t, ok, 400)
}

// A generator whose process restarts (a new boot on the same address) starts numbering again: the cursor
// notices, counts what the old boot made and was never pulled as lost, and does not let its old sequence
// number acknowledge the new boot's results.
func TestARestartedGeneratorIsNoticedAndItsUnpulledResultsCounted(t *testing.T) {
	old := agent.NewGenerator("gen", 100)
	for i := 0; i < 10; i++ {
		old.Buffer.Add(agent.Result{Code: 200})
	}
	current := old
	var mu sync.Mutex
	gsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		g := current
		mu.Unlock()
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(gsrv.Close)
	src := HTTPSource(gsrv.Client(), gsrv.URL+"/results")

	var c Cursor
	p, err := c.Pull(context.Background(), src, 4, time.Now)
	require.NoError(t, err)
	require.Len(t, p.Results, 4)
	// Six more were made and never pulled; then the process restarts with fresh results 1..3.
	fresh := agent.NewGenerator("gen", 100)
	for i := 0; i < 3; i++ {
		fresh.Buffer.Add(agent.Result{Code: 503})
	}
	mu.Lock()
	current = fresh
	mu.Unlock()
	p, err = c.Pull(context.Background(), src, 10, time.Now)
	require.NoError(t, err)
	assert.Equal(t, 1, c.Restarts)
	assert.Equal(t, uint64(6), c.Lost)
	require.Len(t, p.Results, 3, "after=4 of the old boot acknowledged none of the new boot's results")
	assert.Equal(t, uint16(503), p.Results[0].Code)
}

// The generator's clock is placed on ours: a generator 5 s ahead is seen 5 s ahead, within the bound (half
// the pull's round trip).
func TestPullEstimatesTheGeneratorsClockOffset(t *testing.T) {
	g := agent.NewGenerator("gen", 10)
	g.Clock = func() time.Time { return time.Now().Add(5 * time.Second) }
	gsrv := httptest.NewServer(g)
	t.Cleanup(gsrv.Close)
	var c Cursor
	p, err := c.Pull(context.Background(), HTTPSource(gsrv.Client(), gsrv.URL+"/results"), 10, time.Now)
	require.NoError(t, err)
	diff := p.Offset - 5*time.Second
	assert.LessOrEqual(t, diff.Abs(), p.Bound+time.Millisecond, "offset %s, bound %s", p.Offset, p.Bound)
}

func TestResultsEndpointRefusesBadNumbers(t *testing.T) {
	g := agent.NewGenerator("gen", 10)
	for _, q := range []string{"after=x", "max=0", "max=-3"} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/results?"+q, nil))
		assert.Equal(t, http.StatusBadRequest, rec.Code, q)
	}
}

// The demo app echoes the X-Forwarded-Client-Cert its sidecar added; the generator keeps the caller identity
// of the last hop, and a call is mTLS-proven only when that identity is the generator's own. The header here
// is in the layout of Envoy's x-forwarded-client-cert documentation, as Istio's sidecar sets it (see
// istio/istio_test.go): By= the callee, URI= the caller.
func TestTheCallersIdentityComesBackFromTheCallee(t *testing.T) {
	app := httptest.NewServer(demoapp.New(demoapp.Config{Name: "app-b"}).Handler())
	t.Cleanup(app.Close)
	const self = "spiffe://cluster.local/ns/demo-a/sa/app-a-gen"
	xfcc := `By=spiffe://cluster.local/ns/demo-b/sa/app-b;Hash=2a2c5bd1bd1a3e4f0c2ab1b2f0e8a5c7d9b3e1f4a6c8d0e2f4a6b8c0d2e4f6a8;Subject="";URI=` + self
	run := func(h http.Header) agent.Result {
		g := agent.NewGenerator("gen", 100)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-g.Buffer.Changed()
			cancel()
		}()
		g.Run(ctx, loadgen.Target{Name: "id", Method: http.MethodGet, URL: app.URL, Header: h, Rate: vegeta.Rate{Freq: 50, Per: time.Second}, Timeout: 2 * time.Second})
		b := g.Buffer.Pull(0, 1)
		require.NotEmpty(t, b.Results)
		return b.Results[0]
	}
	r := run(http.Header{"X-Forwarded-Client-Cert": {xfcc}})
	assert.Equal(t, uint16(200), r.Code)
	assert.Equal(t, self, r.Peer)
	assert.True(t, r.MTLSFrom(self))
	assert.False(t, r.MTLSFrom("spiffe://cluster.local/ns/demo-b/sa/app-b-gen"), "another identity is no proof")

	r = run(nil)
	assert.Empty(t, r.Peer, "plaintext: no header, no identity")
	assert.False(t, r.MTLSFrom(self))
}

// A generator pod told to stop (SIGTERM) stops its attack, turns unready and keeps serving what it holds
// until all of it is pulled, then returns by itself.
func TestAgentServesItsResultsAfterSIGTERMUntilPulled(t *testing.T) {
	srv, _ := target(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, sigterm := context.WithCancel(context.Background())
	drain, stopDrain := context.WithTimeout(context.Background(), time.Minute)
	defer stopDrain()
	cfg := agent.AgentConfig{Pod: "app-a-gen-1", Revision: "1-29", Buffer: 10_000,
		Target: loadgen.Target{Name: "in-mesh", Method: http.MethodGet, URL: srv.URL, Rate: vegeta.Rate{Freq: 200, Per: time.Second}, Timeout: 2 * time.Second}}
	returned := make(chan error, 1)
	go func() { returned <- agent.RunAgent(ctx, drain, l, cfg) }()
	base := "http://" + l.Addr().String()
	src := HTTPSource(http.DefaultClient, base+"/results")

	var c Cursor
	var got []agent.Result
	for len(got) < 100 {
		p, err := c.Pull(context.Background(), src, 1000, time.Now)
		require.NoError(t, err)
		got = append(got, p.Results...)
		time.Sleep(10 * time.Millisecond)
	}
	sigterm()
	// Unready at once, still serving.
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-returned:
		t.Fatalf("returned before its results were pulled: %v", err)
	default:
	}
	for {
		p, err := c.Pull(context.Background(), src, 1000, time.Now)
		if err != nil {
			select {
			case rerr := <-returned:
				t.Fatalf("pull: %v; agent returned: %v", err, rerr)
			case <-time.After(time.Second):
				t.Fatalf("pull: %v; agent still running", err)
			}
		}
		got = append(got, p.Results...)
		if p.Done {
			break
		}
	}
	// The answer that said Done was the last it owed: it returns on its own.
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("did not return once everything was pulled")
	}
	for i, r := range got {
		require.Equal(t, uint64(i+1), r.Seq)
	}
	assert.Equal(t, c.Produced, uint64(len(got)))
}

func TestAgentConfigFromEnv(t *testing.T) {
	t.Setenv(agent.EnvURL, "")
	_, ok, err := agent.AgentConfigFromEnv()
	require.NoError(t, err)
	assert.False(t, ok, "no LOAD_URL: not load mode")

	t.Setenv(agent.EnvURL, "http://app-b.demo-b.svc.cluster.local:8080/")
	t.Setenv(agent.EnvRate, "100/3s")
	t.Setenv(agent.EnvTimeout, "2s")
	t.Setenv(agent.EnvPod, "canarygate-gen-a-1")
	t.Setenv(agent.EnvIstioStatus, `{"initContainers":null,"containers":["istio-proxy"],"volumes":[],"imagePullSecrets":null,"revision":"1-30"}`)
	cfg, ok, err := agent.AgentConfigFromEnv()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, vegeta.Rate{Freq: 100, Per: 3 * time.Second}, cfg.Target.Rate)
	assert.Equal(t, 2*time.Second, cfg.Target.Timeout)
	assert.Equal(t, "1-30", cfg.Revision, "from the downward API's injection status")
	assert.Equal(t, "canarygate-gen-a-1", cfg.Pod)

	t.Setenv(agent.EnvRate, "fast")
	_, _, err = agent.AgentConfigFromEnv()
	require.ErrorContains(t, err, `LOAD_RATE: "fast" is not a rate: expected requests per interval`, "the one rate grammar (loadgen.ParseRate)")
}

// Two generators' results interleave by send time: a result is held back while the other generator may
// still deliver an earlier one, and released in send order once both watermarks have passed it.
func TestMergerReleasesInSendOrderBehindTheLowestWatermark(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) int64 { return t0.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	m := NewMerger()
	m.Expect("gen-a", t0)
	m.Expect("gen-b", t0)
	// gen-a's clock is 2 s ahead: its send times come back 2 s earlier on ours.
	m.Add("gen-a", "1-29", []agent.Result{{Seq: 2, Sent: at(2300)}, {Seq: 1, Sent: at(2100)}}, 2*time.Second, t0.Add(250*time.Millisecond))
	assert.Empty(t, m.Ready(), "gen-b, expected but not yet pulled, may still deliver earlier results")
	m.Add("gen-b", "1-30", []agent.Result{{Seq: 1, Sent: at(150)}}, 0, t0.Add(200*time.Millisecond))
	got := m.Ready()
	require.Len(t, got, 2, "up to 200 ms: a1 (100) and b1 (150)")
	assert.Equal(t, []string{"gen-a", "gen-b"}, []string{got[0].Generator, got[1].Generator})
	assert.Equal(t, t0.Add(100*time.Millisecond), got[0].At)
	assert.Equal(t, "1-30", got[1].Revision)
	assert.Equal(t, 1, m.Len(), "a2 (300 ms) waits for gen-b's watermark")
	m.Done("gen-b")
	assert.Empty(t, m.Ready(), "a2 (300 ms) is past gen-a's own watermark (250 ms)")
	m.Add("gen-a", "1-29", []agent.Result{{Seq: 3, Sent: at(2900)}}, 2*time.Second, t0.Add(500*time.Millisecond))
	got = m.Ready()
	require.Len(t, got, 1, "a2 released by gen-a's new watermark; a3 (900 ms) still past it")
	assert.Equal(t, uint64(2), got[0].Seq)
	got = m.Flush()
	require.Len(t, got, 1)
	assert.Zero(t, m.Len())
}
