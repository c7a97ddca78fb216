package harness

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// SourceFor returns how to pull one generator pod (Options.GeneratorSource).
type SourceFor = meshload.SourceFor

// ObservationGenerators is the observation key, per stream, of its generator pods' lifecycle.
func ObservationGenerators(stream string) string { return "generators/" + stream }

// startInMesh starts every in-mesh stream; their results come on the returned channel, closed when every
// stream has stopped (ctx ended) and drained; done then yields their errors.
func (r *rehearsal) startInMesh(ctx context.Context) (<-chan *vegeta.Result, <-chan error) {
	done := make(chan error, 1)
	if len(r.inMeshStreams) == 0 {
		done <- nil
		return nil, done
	}
	out := make(chan *vegeta.Result, 1024)
	errs := make(chan error, len(r.inMeshStreams))
	var wg sync.WaitGroup
	for _, st := range r.inMeshStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.inMesh(ctx, st, out)
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
	return out, done
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

// inMesh runs one in-mesh stream until ctx ends (meshload.Start: the generators deployed, pulled, removed
// and drained) and hands its results to out as the stream's, tallied per revision pair.
func (r *rehearsal) inMesh(ctx context.Context, st scenarios.Stream, out chan<- *vegeta.Result) error {
	im := st.InMesh
	c, err := r.clusters.Get(im.Cluster)
	if err != nil {
		return err
	}
	spec := meshload.Spec{Stream: st.Name, Namespace: im.Namespace, Image: im.Image, URL: st.URL,
		Rate: vegeta.Rate{Freq: st.Rate.Freq, Per: st.Rate.Per}, Replicas: int32(im.Replicas), Timeout: st.Timeout.D(), Annotations: im.Annotations}
	key := ObservationGenerators(st.Name)
	opts := append([]meshload.Option{meshload.WithEvents(func(e string) { r.observed.record(key, e) })}, r.opts.InMeshOptions...)
	if r.opts.GeneratorSource != nil {
		opts = append(opts, meshload.WithSource(r.opts.GeneratorSource))
	}
	stream := meshload.Start(ctx, c, spec, opts...)
	pairs := r.inMeshPairs(st, spec)
	var seq uint64
	for t := range stream.Results() {
		pairs.add(t)
		out <- &vegeta.Result{Attack: st.Name, Seq: seq, Code: t.Code, Timestamp: t.At, Latency: time.Duration(t.Latency),
			Error: t.Error, Method: http.MethodGet, URL: st.URL}
		seq++
	}
	return stream.Err()
}
