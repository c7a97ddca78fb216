package harness

import (
	"context"
	"errors"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
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
			run.Streams[i].InMesh = t.Record(run.Phases)
		} else {
			run.Streams[i].InMesh = &summary.InMesh{Namespace: st.InMesh.Namespace}
		}
	}
}

func (r *rehearsal) inMeshPairs(st scenarios.Stream, spec meshload.Spec) *aggregate.InMeshPairs {
	t := aggregate.NewInMeshPairs(r.tl, st.InMesh.Namespace, spec.Identity(), st.URL, st.Expect)
	r.mu.Lock()
	if r.inMeshTallies == nil {
		r.inMeshTallies = map[string]*aggregate.InMeshPairs{}
	}
	r.inMeshTallies[st.Name] = t
	r.mu.Unlock()
	return t
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
		Rate: vegeta.Rate{Freq: st.Rate.Freq, Per: st.Rate.Per}, Replicas: int32(im.Replicas), Timeout: st.Timeout.D(), Annotations: im.Annotations,
		Run: r.runID}
	key := ObservationGenerators(st.Name)
	opts := append([]meshload.Option{meshload.WithEvents(func(e string) { r.observed.record(key, e) })}, r.opts.InMeshOptions...)
	if r.opts.GeneratorSource != nil {
		opts = append(opts, meshload.WithSource(r.opts.GeneratorSource))
	}
	stream := meshload.Start(ctx, c, spec, opts...)
	pairs := r.inMeshPairs(st, spec)
	identity := spec.Identity()
	var seq uint64
	for t := range stream.Results() {
		pairs.Add(t.Call(identity))
		out <- t.VegetaResult(st.Name, st.URL, seq)
		seq++
	}
	return stream.Err()
}
