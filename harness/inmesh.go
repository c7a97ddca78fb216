package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/meshload/agent"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// SourceFor returns how to pull one generator pod.
type SourceFor func(c *cluster.Cluster, pod *corev1.Pod) meshload.Source

// In-mesh pulling cadence and the wait for stopping generators.
var (
	PullInterval = 500 * time.Millisecond
	// DrainWait bounds pulling what terminating generators still hold after the traffic stopped.
	DrainWait = 90 * time.Second
)

// ObservationGenerators is the observation key, per stream, of its generator pods' lifecycle.
func ObservationGenerators(stream string) string { return "generators/" + stream }

// startInMesh starts every in-mesh stream; their results come on the returned channel (closed when all are
// done), they stop when stop is closed, and done then yields their errors.
func (r *rehearsal) startInMesh(ctx context.Context) (<-chan *vegeta.Result, chan struct{}, <-chan error) {
	stop := make(chan struct{})
	done := make(chan error, 1)
	if len(r.inMeshStreams) == 0 {
		done <- nil
		return nil, stop, done
	}
	out := make(chan *vegeta.Result, 1024)
	errs := make(chan error, len(r.inMeshStreams))
	var wg sync.WaitGroup
	for _, st := range r.inMeshStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.inMesh(ctx, stop, st, out)
		}()
	}
	go func() {
		wg.Wait()
		close(out)
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		done <- errors.Join(all...)
	}()
	return out, stop, done
}

// fillInMesh puts each in-mesh stream's revision pairs into the run record.
func (r *rehearsal) fillInMesh(run *summary.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range run.Streams {
		st, ok := r.sc.StreamByName(run.Streams[i].Name)
		if !ok || st.InMesh == nil {
			continue
		}
		if t := r.inMeshTallies[st.Name]; t != nil {
			run.Streams[i].InMesh = t.record(st.InMesh.Namespace, run.Phases)
		} else {
			run.Streams[i].InMesh = &summary.InMesh{Namespace: st.InMesh.Namespace}
		}
	}
}

// pairTally counts an in-mesh stream's calls per phase, caller revision and callee revision.
type pairTally struct {
	tl       *timeline.Timeline
	identity string
	expect   []int
	mu       sync.Mutex
	counts   map[pairKey]*summary.InMeshPair
}

type pairKey struct {
	phase    int
	from, to string
}

func (r *rehearsal) inMeshPairs(st scenarios.Stream, spec meshload.Spec) *pairTally {
	t := &pairTally{tl: r.tl, identity: spec.Identity(), expect: st.Expect, counts: map[pairKey]*summary.InMeshPair{}}
	r.mu.Lock()
	if r.inMeshTallies == nil {
		r.inMeshTallies = map[string]*pairTally{}
	}
	r.inMeshTallies[st.Name] = t
	r.mu.Unlock()
	return t
}

func (t *pairTally) add(res meshload.Timed) {
	phase, ok := t.tl.PhaseAt(res.At)
	if !ok {
		phase = -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := pairKey{phase, res.Revision, res.Callee}
	c, ok := t.counts[k]
	if !ok {
		c = &summary.InMeshPair{From: res.Revision, To: res.Callee}
		t.counts[k] = c
	}
	c.Requests++
	if !slices.Contains(t.expect, int(res.Code)) {
		c.Failures++
	}
	if !res.MTLSFrom(t.identity) {
		c.NotMTLS++
	}
}

// record fills a stream's InMesh record (phases named as in the run).
func (t *pairTally) record(namespace string, phases []summary.Phase) *summary.InMesh {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &summary.InMesh{Namespace: namespace, Identity: t.identity}
	keys := make([]pairKey, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.phase != b.phase {
			return a.phase < b.phase
		}
		if a.from != b.from {
			return a.from < b.from
		}
		return a.to < b.to
	})
	for _, k := range keys {
		p := *t.counts[k]
		if k.phase >= 0 && k.phase < len(phases) {
			p.Phase = phases[k.phase].Name
		}
		out.Pairs = append(out.Pairs, p)
	}
	return out
}

// inMesh runs one in-mesh stream until stop closes: its generators are deployed, pulled every PullInterval
// through the API server, their results merged into send order and handed to out as the stream's results;
// then the generators are removed and what the terminating ones still hold is pulled. Lost or overflowed
// results spoil the measurement: an error, not a verdict.
func (r *rehearsal) inMesh(ctx context.Context, stop <-chan struct{}, st scenarios.Stream, out chan<- *vegeta.Result) error {
	im := st.InMesh
	c, err := r.clusters.Get(im.Cluster)
	if err != nil {
		return err
	}
	source := SourceFor(func(c *cluster.Cluster, pod *corev1.Pod) meshload.Source { return meshload.PodProxySource(c, pod) })
	if r.opts.GeneratorSource != nil {
		source = r.opts.GeneratorSource
	}
	spec := meshload.Spec{Stream: st.Name, Namespace: im.Namespace, Image: im.Image, URL: st.URL,
		Rate: vegeta.Rate{Freq: st.Rate.Freq, Per: st.Rate.Per}, Replicas: int32(im.Replicas), Timeout: st.Timeout.D(), Annotations: im.Annotations}
	if err := meshload.Deploy(ctx, c, spec); err != nil {
		return err
	}
	key := ObservationGenerators(st.Name)
	type gen struct {
		cursor meshload.Cursor
		// started: the pod got an address, so it may have sent requests.
		started, done bool
		// offset and bound: the clock offset estimated by the pull with the shortest round trip so far (the
		// tightest bound), as NTP keeps its best sample.
		offset, bound time.Duration
		sampled       bool
	}
	gens := map[string]*gen{}
	merger := meshload.NewMerger()
	var seq uint64
	var problems []error
	pairs := r.inMeshPairs(st, spec)
	// Each generator's schedule, judged as the harness judges its own streams: a pod starved of CPU or
	// workers that fell behind its share of the rate sent fewer, later requests — a gap that would hide an
	// outage, so the run is an error, not a verdict. The merged results come in send order, so a
	// generator's n-th result here is its n-th request.
	share := meshload.ShareRate(spec.Rate, int(spec.Replicas))
	shareRPS := float64(share.Freq) / share.Per.Seconds()
	schedules := map[string]*aggregate.Schedule{}
	emit := func(ts []meshload.Timed) {
		for _, t := range ts {
			sch, ok := schedules[t.Generator]
			if !ok {
				sch = aggregate.NewSchedule(share.Per / time.Duration(share.Freq))
				schedules[t.Generator] = sch
			}
			sch.Sent(t.At)
			pairs.add(t)
			out <- &vegeta.Result{Attack: st.Name, Seq: seq, Code: t.Code, Timestamp: t.At, Latency: time.Duration(t.Latency),
				Error: t.Error, Method: http.MethodGet, URL: st.URL}
			seq++
		}
	}
	round := func() (allDone bool) {
		pods, err := meshload.Pods(ctx, c, spec)
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		allDone = true
		for i := range pods {
			p := &pods[i]
			seen[p.Name] = true
			g, ok := gens[p.Name]
			if !ok {
				g = &gen{}
				gens[p.Name] = g
				merger.Expect(p.Name, p.CreationTimestamp.Time)
				r.observed.record(key, fmt.Sprintf("%s created", p.Name))
			}
			if g.done {
				continue
			}
			allDone = false
			if p.Status.PodIP == "" {
				continue // not started yet: nothing sent
			}
			g.started = true
			pulled, err := g.cursor.Pull(ctx, source(c, p), agent.DefaultPullMax, time.Now)
			if err != nil {
				continue // not listening yet, or a lost answer: asked again next round
			}
			if g.cursor.Restarts > 0 && g.cursor.Lost > 0 {
				problems = append(problems, fmt.Errorf("in-mesh stream %s: generator %s restarted and lost %d results", st.Name, p.Name, g.cursor.Lost))
				g.cursor.Lost = 0
			}
			if pulled.Overflow > 0 {
				problems = append(problems, fmt.Errorf("in-mesh stream %s: generator %s could not keep %d results (buffer full)", st.Name, p.Name, pulled.Overflow))
			}
			if !g.sampled || pulled.Bound < g.bound {
				g.offset, g.bound, g.sampled = pulled.Offset, pulled.Bound, true
			}
			upTo := time.Now().Add(-spec.Timeout - g.bound)
			merger.Add(p.Name, pulled.Revision, pulled.Results, g.offset, upTo)
			if pulled.Done {
				g.done = true
				merger.Done(p.Name)
				r.observed.record(key, fmt.Sprintf("%s stopped: %d results pulled (revision %s, clock offset %s ± %s)", p.Name, g.cursor.Last, pulled.Revision, g.offset.Round(time.Millisecond), g.bound.Round(time.Millisecond)))
			}
		}
		// A generator that vanished before it said it was done lost what it had not handed over.
		for name, g := range gens {
			if !seen[name] && !g.done {
				g.done = true
				merger.Done(name)
				// An agent exits only after saying it handed everything over: gone without that, whatever it
				// sent since the last pull is lost.
				if g.started {
					problems = append(problems, fmt.Errorf("in-mesh stream %s: generator %s went away with results never pulled (%d received, of %d it had made at the last pull; those since are unknown)", st.Name, name, g.cursor.Last, g.cursor.Produced))
				}
				r.observed.record(key, fmt.Sprintf("%s gone", name))
			}
		}
		emit(merger.Ready())
		return allDone
	}
	tick := time.NewTicker(PullInterval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			round()
		}
	}
	// Traffic over: the generators stop (SIGTERM) and are pulled until each has handed over everything.
	rmCtx := context.WithoutCancel(ctx)
	if err := meshload.Remove(rmCtx, c, spec); err != nil {
		problems = append(problems, err)
	}
	deadline := time.Now().Add(DrainWait)
	for !round() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-tick.C:
		}
	}
	for name, g := range gens {
		switch {
		case g.done:
		case !g.started:
			problems = append(problems, fmt.Errorf("in-mesh stream %s: generator %s never started (no pod address)", st.Name, name))
		default:
			problems = append(problems, fmt.Errorf("in-mesh stream %s: generator %s still held results after %s (%d of %d received)", st.Name, name, DrainWait, g.cursor.Last, g.cursor.Produced))
		}
	}
	emit(merger.Flush())
	for _, name := range slices.Sorted(maps.Keys(schedules)) {
		g := schedules[name].Summary(shareRPS)
		if g.Saturated {
			problems = append(problems, fmt.Errorf("%w: in-mesh stream %s: generator %s fell behind its share of the rate: %s", aggregate.ErrSaturated, st.Name, name, aggregate.Shortfall(g)))
			r.observed.record(key, fmt.Sprintf("%s fell behind: %s", name, aggregate.Shortfall(g)))
			continue
		}
		r.observed.record(key, fmt.Sprintf("%s kept its schedule: %d requests at %.4g/s, worst %s late", name, g.Sent, shareRPS, time.Duration(g.MaxLagMs*float64(time.Millisecond)).Round(time.Millisecond)))
	}
	if seq == 0 {
		// The load this stream stands for never happened: nothing may be concluded from its silence.
		problems = append(problems, fmt.Errorf("in-mesh stream %s: no generator sent a request (%d pod(s) seen)", st.Name, len(gens)))
	}
	return errors.Join(problems...)
}
