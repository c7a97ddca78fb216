package meshload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/loadgen"
	"github.com/canarygate/canarygate/meshload/agent"
	"github.com/canarygate/canarygate/timeline"
)

// The ingest benchmarks measure the whole in-mesh results path as a run takes it — the generators' buffers,
// their /results handler and its encoding, HTTP over loopback, Cursor.Pull, the stream's merger and
// schedules, the harness's conversion, the pair record and the aggregate — with the generators in another
// process (this test binary run again as standInAgents), so that what is measured is the ingesting
// process alone: its CPU time (getrusage RUSAGE_SELF, user+system, every goroutine and the GC included),
// the bytes it received and what it allocated, per result.
//
// Time is virtual, so that the merger holds back what it would in a run whatever the machine's speed: the
// stand-ins' results are sent at perPull per generator every DefaultPullInterval, and the n-th round of
// pulls happens, on the puller's clock, one pull interval after the (n-1)-th — so each pull returns one
// interval's results, and the merger keeps the last Timeout (5 s) of them, as in a run. The rounds
// themselves follow one another as fast as the ingesting process can go.

// The helper process's environment.
const (
	envStandIns = "CANARYGATE_BENCH_STAND_INS" // how many generators
	envPerPull  = "CANARYGATE_BENCH_PER_PULL"  // results per generator per pull interval
	envT0       = "CANARYGATE_BENCH_T0"        // the virtual clock's start (Unix ns)
)

const (
	benchIdentity = "spiffe://cluster.local/ns/demo-a/sa/canarygate-gen-a"
	benchURL      = "http://app-b.demo-b.svc.cluster.local:8080/"
	benchRefused  = `Get "http://app-b.demo-b.svc.cluster.local:8080/": dial tcp 10.96.112.14:8080: connect: connection refused`
)

func TestMain(m *testing.M) {
	if os.Getenv(envStandIns) != "" {
		os.Exit(standInAgents())
	}
	os.Exit(m.Run())
}

// synthetic is the seq-th result of generator gen of n, as a generator records it: completed at seq
// intervals, so sent a latency (1–50 ms) earlier and not quite in Seq order; mostly answered with the
// generators' identity, by either revision, a 503 in 97, a refused connection in 1009.
func synthetic(gen, n int, seq uint64, t0 int64, interval time.Duration) agent.Result {
	latency := int64(time.Millisecond) + int64(seq*7919%49_000)*int64(time.Microsecond)
	r := agent.Result{Seq: seq, Sent: t0 + int64(seq)*int64(interval) + int64(gen)*int64(interval)/int64(n) - latency,
		Latency: latency, Code: http.StatusOK, Peer: benchIdentity, Callee: "1-30"}
	if seq/10_000%2 == 0 {
		r.Callee = "1-29"
	}
	switch {
	case seq%1009 == 0:
		r.Code, r.Error, r.Peer, r.Callee = 0, benchRefused, "", ""
	case seq%97 == 0:
		r.Code, r.Error = http.StatusServiceUnavailable, "503 Service Unavailable"
	}
	return r
}

// standInAgents is the helper process: $CANARYGATE_BENCH_STAND_INS generators (agent.Generator: the real
// buffer, handler and encoding), each on its own loopback listener, making synthetic results on the
// virtual clock. It prints their addresses on one line and serves until its standard input closes.
func standInAgents() int {
	n, err1 := strconv.Atoi(os.Getenv(envStandIns))
	perPull, err2 := strconv.Atoi(os.Getenv(envPerPull))
	t0, err3 := strconv.ParseInt(os.Getenv(envT0), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || n <= 0 || perPull <= 0 {
		fmt.Fprintln(os.Stderr, "stand-in agents: bad environment")
		return 2
	}
	interval := DefaultPullInterval / time.Duration(perPull)
	addrs := make([]string, n)
	for i := range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addrs[i] = l.Addr().String()
		g := agent.NewGenerator(fmt.Sprintf("gen-%d", i), 2*perPull)
		g.Revision = "1-29"
		// The generator's clock is the puller's: a pull after N comes when results up to N+perPull are made
		// (and no more: they are made then, before it is answered).
		var now atomic.Int64
		g.Clock = func() time.Time { return time.Unix(0, now.Load()) }
		var mu sync.Mutex
		var seq uint64
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
			mu.Lock()
			for seq < after+uint64(perPull) {
				seq++
				g.Buffer.Add(synthetic(i, n, seq, t0, interval))
			}
			mu.Unlock()
			now.Store(t0 + int64(after+uint64(perPull))*int64(interval))
			g.ServeHTTP(w, r)
		})}
		go func() { _ = srv.Serve(l) }()
	}
	fmt.Println(strings.Join(addrs, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startStandIns runs the helper process and returns its generators' addresses; it stops when the
// benchmark ends.
func startStandIns(b *testing.B, n, perPull int, t0 time.Time) []string {
	exe, err := os.Executable()
	require.NoError(b, err)
	cmd := exec.CommandContext(context.WithoutCancel(b.Context()), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envStandIns+"="+strconv.Itoa(n), envPerPull+"="+strconv.Itoa(perPull),
		envT0+"="+strconv.FormatInt(t0.UnixNano(), 10))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = stdin.Close() // the helper's signal to exit
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(b, err, "the stand-in agents' addresses")
	addrs := strings.Fields(line)
	require.Len(b, addrs, n)
	return addrs
}

// countingConn counts the bytes the ingesting process receives.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakMemory samples the Go heap (runtime/metrics /memory/classes/heap/objects:bytes: live objects and
// garbage not yet swept) every few milliseconds, and resets the kernel's peak RSS (VmHWM) so that the
// process's peak during the measure can be read at its end.
type peakMemory struct {
	heap atomic.Uint64
	stop chan struct{}
	done chan struct{}
	rss  bool
}

func startPeakMemory() *peakMemory {
	debug.FreeOSMemory()
	m := &peakMemory{stop: make(chan struct{}), done: make(chan struct{})}
	// "5" resets the peak resident set size to the current one (Linux ≥ 4.0; proc(5), clear_refs).
	m.rss = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		defer close(m.done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > m.heap.Load() {
				m.heap.Store(v)
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// end returns the peak heap and, where the kernel let it be reset, the peak RSS (0 otherwise).
func (m *peakMemory) end() (heap, rss uint64) {
	close(m.stop)
	<-m.done
	if !m.rss {
		return m.heap.Load(), 0
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m.heap.Load(), 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return m.heap.Load(), rss
}

// ingest is one in-mesh stream's ingestion as a run does it (puller, merger, schedules; the harness's
// pair record and aggregate behind the same two channels), pulling stand-in pods.
type ingest struct {
	p        *puller
	pods     []corev1.Pod
	round    int
	timed    chan Timed
	consumed chan int
	agg      *aggregate.Aggregate
}

func newIngest(addrs []string, perPull int, t0 time.Time, client *http.Client, format string) *ingest {
	in := &ingest{timed: make(chan Timed, 1024), consumed: make(chan int, 1)}
	n := len(addrs)
	spec := Spec{Stream: "in-mesh", Namespace: "demo-a", URL: benchURL, Replicas: int32(n), Timeout: loadgen.DefaultTimeout,
		Rate: vegeta.Rate{Freq: n * perPull, Per: DefaultPullInterval}}
	sources := map[string]Source{}
	for i, addr := range addrs {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gen-%d", i), CreationTimestamp: metav1.NewTime(t0)},
			Status: corev1.PodStatus{PodIP: "127.0.0.1"}}
		in.pods = append(in.pods, pod)
		sources[pod.Name] = HTTPSourceFormat(client, "http://"+addr+"/results", format)
	}
	now := func() time.Time { return t0.Add(time.Duration(in.round+1) * DefaultPullInterval) }
	in.p = &puller{spec: spec, gens: map[string]*generator{}, merger: NewMerger(), share: ShareRate(spec.Rate, n),
		schedules: map[string]*aggregate.Schedule{},
		cfg: streamConfig{pullInterval: DefaultPullInterval, drainWait: DefaultDrainWait, event: func(string) {}, now: now,
			source: func(_ *cluster.Cluster, pod *corev1.Pod) Source { return sources[pod.Name] }}}
	tl := timeline.New()
	tl.Begin("move", timeline.KindStep)
	interval := spec.Rate.Per / time.Duration(spec.Rate.Freq)
	in.agg = aggregate.New(tl, []aggregate.StreamSpec{{Name: spec.Stream, Method: http.MethodGet, URL: spec.URL, Expect: []int{200},
		Interval: interval, AskedRPS: float64(time.Second) / float64(interval)}})
	pairs := aggregate.NewInMeshPairs(tl, spec.Namespace, spec.Identity(), spec.URL, []int{200})
	// The harness: its in-mesh goroutine (pair record, conversion), then the run's consumer (aggregate).
	results := make(chan *vegeta.Result, 1024)
	go func() {
		defer close(results)
		identity := spec.Identity()
		var seq uint64
		for t := range in.timed {
			pairs.Add(t.Call(identity))
			results <- t.VegetaResult(spec.Stream, spec.URL, seq)
			seq++
		}
	}()
	go func() {
		n := 0
		for r := range results {
			in.agg.Add(r)
			n++
		}
		in.consumed <- n
	}()
	return in
}

// pulled is how many results the stream has received.
func (in *ingest) pulled() (n uint64) {
	for _, g := range in.p.gens {
		n += g.cursor.Last
	}
	return n
}

// run pulls rounds until at least n results were received, then flushes the merger as the stream's end
// does; it returns how many results the aggregate took and the most the merger held.
func (in *ingest) run(ctx context.Context, n uint64) (total int, held int, err error) {
	stuck := 0
	for got := in.pulled(); got < n; {
		in.p.pullPods(ctx, in.pods, in.timed)
		in.round++
		held = max(held, in.p.merger.Len())
		if now := in.pulled(); now > got {
			got, stuck = now, 0
		} else if stuck++; stuck == 20 {
			return 0, held, fmt.Errorf("20 rounds without a result (at %d): the stand-in agents do not answer", got)
		}
	}
	for _, t := range in.p.merger.Flush() {
		in.p.emit(t, in.timed)
	}
	close(in.timed)
	return <-in.consumed, held, nil
}

// benchIngest measures ingesting b.N results (at least: whole rounds) from n stand-in generators making
// perPull results per pull interval each, asking for the given format.
func benchIngest(b *testing.B, n, perPull int, format string) {
	t0 := time.Now()
	addrs := startStandIns(b, n, perPull, t0)
	var wire atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: &wire}, nil
		}}}
	b.Cleanup(client.CloseIdleConnections)
	in := newIngest(addrs, perPull, t0, client, format)

	var ms0, ms1 runtime.MemStats
	mem := startPeakMemory()
	b.ReportAllocs()
	b.ResetTimer()
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	total, held, err := in.run(b.Context(), uint64(b.N))
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	b.StopTimer()
	heap, rss := mem.end()
	require.NoError(b, err)

	require.Empty(b, in.p.problems)
	require.EqualValues(b, in.pulled(), total, "every result pulled reached the aggregate once")
	requests, _ := in.agg.Counts()
	require.EqualValues(b, total, requests)
	b.ReportMetric(float64(total)/cpu.Seconds(), "results/cpu-s")
	b.ReportMetric(float64(wire.Load())/float64(total), "wire-B/result")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(total), "allocs/result")
	b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
	if rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
	b.ReportMetric(float64(held), "peak-held")
}

// BenchmarkInMeshIngest: 4 generators at 10 000 results/s each (a full pull, DefaultPullMax, every pull
// interval). Run with -benchtime=Nx: an op is a result.
func BenchmarkInMeshIngest(b *testing.B) {
	for _, format := range []string{agent.FormatJSON, agent.FormatBinary} {
		b.Run(format, func(b *testing.B) { benchIngest(b, 4, agent.DefaultPullMax, format) })
	}
}

// BenchmarkInMeshIngestMany: 50 generators making 200 000 results/s between them (2 000 per pull each):
// the ingesting process's memory must stay bounded by the stream's rate and timeout, not grow with the
// generators or the run.
func BenchmarkInMeshIngestMany(b *testing.B) {
	for _, format := range []string{agent.FormatJSON, agent.FormatBinary} {
		b.Run(format, func(b *testing.B) { benchIngest(b, 50, 2_000, format) })
	}
}
