package meshload

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/meshload/agent"
)

// SourceFor returns how to pull one generator pod.
type SourceFor func(c *cluster.Cluster, pod *corev1.Pod) Source

// Defaults of a stream.
const (
	// DefaultPullInterval is how often every generator is pulled.
	DefaultPullInterval = 500 * time.Millisecond
	// DefaultDrainWait bounds pulling what stopping generators still hold once the load stopped: above a
	// generator's own grace (55 s), so a generator that keeps its promise is always waited for.
	DefaultDrainWait = 90 * time.Second
)

type streamConfig struct {
	pullInterval, drainWait time.Duration
	source                  SourceFor
	event                   func(string)
	now                     func() time.Time
}

// Option configures a stream.
type Option func(*streamConfig)

// WithPullInterval sets how often generators are pulled.
func WithPullInterval(d time.Duration) Option { return func(c *streamConfig) { c.pullInterval = d } }

// WithDrainWait bounds the pulls after the load stopped.
func WithDrainWait(d time.Duration) Option { return func(c *streamConfig) { c.drainWait = d } }

// WithSource replaces how generator pods are pulled (tests: loopback stand-ins, as a test control plane's pod
// addresses lead off the machine). By default: through the API server's pod proxy.
func WithSource(s SourceFor) Option { return func(c *streamConfig) { c.source = s } }

// WithEvents receives the generators' lifecycle as it happens ("… created", "… stopped: 229 results
// pulled", "… kept its schedule …"), for the run's observations.
func WithEvents(fn func(string)) Option { return func(c *streamConfig) { c.event = fn } }

// Stream is one in-mesh stream at work: its generators deployed in the cluster, pulled, their results merged
// into send order.
type Stream struct {
	spec    Spec
	results chan Timed
	done    chan struct{}
	err     error
}

// Start deploys the stream's generators and pulls their results until ctx ends — the end of the traffic, or
// an interrupt. Then it removes the generators and pulls what the stopping ones still hold, on a context of
// its own bounded by the drain wait, so that an interrupt still collects every result; then Results closes.
// As with loadgen.Attack, nothing measured is lost by stopping.
func Start(ctx context.Context, c *cluster.Cluster, spec Spec, opts ...Option) *Stream {
	cfg := streamConfig{pullInterval: DefaultPullInterval, drainWait: DefaultDrainWait, event: func(string) {}, now: time.Now,
		source: func(c *cluster.Cluster, pod *corev1.Pod) Source { return PodProxySource(c, pod) }}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Stream{spec: spec, results: make(chan Timed, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.results)
		s.err = s.run(ctx, c, cfg)
	}()
	return s
}

// Results are the stream's results in send order; the channel closes when the stream is over.
func (s *Stream) Results() <-chan Timed { return s.results }

// Err waits for the stream to end and says what spoiled it: results lost or overflowed, a generator that
// fell behind its share of the rate (aggregate.ErrSaturated), or no request sent at all. Any of those makes
// the stream's silence meaningless: an error, never a verdict on the target.
func (s *Stream) Err() error {
	<-s.done
	return s.err
}

// generator is what the stream keeps per generator pod.
type generator struct {
	cursor Cursor
	// started: the pod got an address, so it may have sent requests.
	started, done bool
	// offset and bound: the clock offset estimated by the pull with the shortest round trip so far (the
	// tightest bound), as NTP keeps its best sample.
	offset, bound time.Duration
	sampled       bool
	// lastPull is when the last answer came: what it made after that is unknown if it vanishes. startedAt is
	// when it may have begun sending (its pod's start, or when it was first seen with an address): the
	// bound for one that vanishes before any answer.
	lastPull, startedAt time.Time
	// pullLag is the worst time a result waited in the generator, from its answer to the pull that brought
	// it: what an ingest that cannot keep up shows first (the lab's scale figure).
	pullLag time.Duration
}

// puller is one stream's pull loop state.
type puller struct {
	spec     Spec
	cfg      streamConfig
	c        *cluster.Cluster
	gens     map[string]*generator
	merger   *Merger
	problems []error
	// share is each generator's part of the stream's rate.
	share vegeta.Rate
	// schedules judge each generator's send times against its share of the rate: a pod starved of CPU or
	// workers that fell behind sent fewer, later requests — a gap that would hide an outage. A generator has
	// one from its first result on, so none at all means nothing was sent.
	schedules map[string]*aggregate.Schedule
}

func (s *Stream) run(ctx context.Context, c *cluster.Cluster, cfg streamConfig) error {
	if err := Deploy(ctx, c, s.spec); err != nil {
		return err
	}
	p := &puller{spec: s.spec, cfg: cfg, c: c, gens: map[string]*generator{}, merger: NewMerger(),
		share: ShareRate(s.spec.Rate, int(s.spec.Replicas)), schedules: map[string]*aggregate.Schedule{}}
	tick := time.NewTicker(cfg.pullInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			p.round(ctx, s.results)
		}
	}
	// Load over (or interrupted): the generators stop (SIGTERM) and are pulled until each has handed over
	// everything — on a context that the end of ctx does not end, or an interrupt would lose every result
	// the generators still hold.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.drainWait)
	defer cancel()
	if err := Remove(dctx, c, s.spec); err != nil {
		p.problems = append(p.problems, err)
	}
	start := cfg.now()
	for !p.round(dctx, s.results) && dctx.Err() == nil {
		select {
		case <-dctx.Done():
		case <-tick.C:
		}
	}
	p.finish(cfg.now().Sub(start))
	for _, t := range p.merger.Flush() {
		p.emit(t, s.results)
	}
	// Every result is in; the stream ends when its generators are gone too, so that a run leaves nothing of
	// canarygate's behind in the cluster (bounded by the same wait: a Deployment still being deleted then is
	// said, not waited for).
	if !waitGone(dctx, c, s.spec, tick.C) {
		cfg.event(fmt.Sprintf("generators' Deployment %s/%s still being deleted after %s", s.spec.Namespace, s.spec.Name(), cfg.drainWait))
	}
	return p.judge()
}

// round pulls every generator once and releases what is in send order; it reports whether every generator
// is done.
func (p *puller) round(ctx context.Context, out chan<- Timed) (allDone bool) {
	pods, err := Pods(ctx, p.c, p.spec)
	if err != nil {
		// Not knowing the pods this round is not losing their results: the next round asks again, and a
		// drain that never gets an answer names every generator it could not finish.
		return false
	}
	return p.pullPods(ctx, pods, out)
}

// pullPods is a round over the pods listed: each pulled once, the vanished ones accounted for, and what is
// now in send order released to out. (Apart from round so that the ingest benchmark runs the same code on
// stand-in pods.)
func (p *puller) pullPods(ctx context.Context, pods []corev1.Pod, out chan<- Timed) (allDone bool) {
	seen := map[string]bool{}
	allDone = true
	for i := range pods {
		pod := &pods[i]
		seen[pod.Name] = true
		if !p.pullOne(ctx, pod) {
			allDone = false
		}
	}
	// A generator that vanished before it said it was done lost what it had not handed over.
	for name, g := range p.gens {
		if seen[name] || g.done {
			continue
		}
		g.done = true
		p.merger.Done(name)
		// An agent exits only after saying it handed everything over: gone without that, whatever it sent
		// since the last pull is lost.
		if g.started {
			p.problems = append(p.problems, p.lostTo(name, g))
		}
		p.cfg.event(name + " gone")
	}
	for _, t := range p.merger.Ready() {
		p.emit(t, out)
	}
	return allDone
}

// lostTo says what a generator that vanished without handing everything over lost: at least what it had
// made at the last pull and not handed over, at most that plus what its schedule (its share of the rate)
// had it send from that pull until it was seen gone, and the requests in flight then (one timeout's worth).
func (p *puller) lostTo(name string, g *generator) error {
	least := g.cursor.Produced - g.cursor.Last
	most := least + p.scheduled(p.cfg.now().Sub(g.since()))
	return fmt.Errorf("%w: in-mesh stream %s: generator %s went away with results never pulled: lost at least %d, at most %d (%d received, %d made at its last pull; its schedule bounds what it sent since)",
		ErrLost, p.spec.Stream, name, least, most, g.cursor.Last, g.cursor.Produced)
}

// since is when what a generator made was last known: its last answer, or before any its start.
func (g *generator) since() time.Time {
	if g.lastPull.IsZero() {
		return g.startedAt
	}
	return g.lastPull
}

// scheduled is how many requests a generator's share of the rate has it send in d, and those in flight at
// its end (one timeout's worth): what it may have made that nobody saw.
func (p *puller) scheduled(d time.Duration) uint64 {
	if p.share.Freq <= 0 || p.share.Per <= 0 || d < 0 {
		return 0
	}
	return uint64(math.Ceil(float64(p.share.Freq) * (d + p.spec.Timeout).Seconds() / p.share.Per.Seconds()))
}

// ErrLost marks results a generator made that can never be received: the measurement is incomplete.
var ErrLost = errors.New("in-mesh results lost")

// pullOne pulls one generator pod; it reports whether that generator is done.
func (p *puller) pullOne(ctx context.Context, pod *corev1.Pod) (done bool) {
	g, ok := p.gens[pod.Name]
	if !ok {
		g = &generator{}
		p.gens[pod.Name] = g
		p.merger.Expect(pod.Name, pod.CreationTimestamp.Time)
		p.cfg.event(pod.Name + " created")
	}
	if g.done {
		return true
	}
	if pod.Status.PodIP == "" {
		return false // not started yet: nothing sent
	}
	if !g.started {
		g.started, g.startedAt = true, p.cfg.now()
		if st := pod.Status.StartTime; st != nil && st.Time.Before(g.startedAt) {
			g.startedAt = st.Time
		}
	}
	restarts := g.cursor.Restarts
	pulled, err := g.cursor.Pull(ctx, p.cfg.source(p.c, pod), agent.DefaultPullMax, p.cfg.now)
	if err != nil {
		return false // not listening yet, or a lost answer: asked again next round
	}
	now := p.cfg.now()
	if g.cursor.Restarts > restarts {
		// Its previous process is gone with what it made after the last pull — known up to that pull, only
		// bounded by its schedule since: lost, even when nothing was left at the last pull.
		least := g.cursor.Lost
		p.problems = append(p.problems, fmt.Errorf("%w: in-mesh stream %s: generator %s restarted: lost at least %d, at most %d (what its previous process made after the last pull; its schedule bounds it)",
			ErrLost, p.spec.Stream, pod.Name, least, least+p.scheduled(now.Sub(g.since()))))
		g.cursor.Lost = 0
	}
	g.lastPull = now
	if pulled.Overflow > 0 {
		p.problems = append(p.problems, fmt.Errorf("in-mesh stream %s: generator %s could not keep %d results (buffer full)", p.spec.Stream, pod.Name, pulled.Overflow))
	}
	if !g.sampled || pulled.Bound < g.bound {
		g.offset, g.bound, g.sampled = pulled.Offset, pulled.Bound, true
	}
	if len(pulled.Results) > 0 {
		// The oldest result of the batch, its answer placed on the local clock.
		r := pulled.Results[0]
		g.pullLag = max(g.pullLag, g.lastPull.Sub(time.Unix(0, r.Sent+r.Latency).Add(-g.offset)))
	}
	upTo := p.cfg.now().Add(-p.spec.Timeout - g.bound)
	p.merger.Add(pod.Name, pulled.Revision, pulled.Results, g.offset, upTo)
	if pulled.Done {
		g.done = true
		p.merger.Done(pod.Name)
		p.cfg.event(fmt.Sprintf("%s stopped: %d results pulled (revision %s, clock offset %s ± %s, worst pull lag %s)", pod.Name, g.cursor.Last, pulled.Revision,
			g.offset.Round(time.Millisecond), g.bound.Round(time.Millisecond), g.pullLag.Round(time.Millisecond)))
	}
	return g.done
}

func (p *puller) emit(t Timed, out chan<- Timed) {
	sch, ok := p.schedules[t.Generator]
	if !ok {
		sch = aggregate.NewSchedule(p.share.Per / time.Duration(p.share.Freq))
		p.schedules[t.Generator] = sch
	}
	sch.Sent(t.At)
	out <- t
}

// finish names the generators the drain could not finish.
func (p *puller) finish(waited time.Duration) {
	for _, name := range slices.Sorted(maps.Keys(p.gens)) {
		g := p.gens[name]
		switch {
		case g.done:
		case !g.started:
			// No address, so no request: created by a rollout just before the load stopped, it sent nothing
			// and holds nothing.
			p.merger.Done(name)
			p.cfg.event(name + " never started: it sent nothing")
		default:
			p.merger.Done(name)
			p.problems = append(p.problems, fmt.Errorf("in-mesh stream %s: generator %s still held results after the drain's %s (%d received, of %d it had made at the last pull)", p.spec.Stream, name, waited.Round(time.Second), g.cursor.Last, g.cursor.Produced))
		}
	}
}

// judge is the stream's own verdict on its measurement: each generator's schedule, and whether anything was
// sent at all.
func (p *puller) judge() error {
	shareRPS := float64(p.share.Freq) / p.share.Per.Seconds()
	for _, name := range slices.Sorted(maps.Keys(p.schedules)) {
		g := p.schedules[name].Summary(shareRPS)
		if g.Saturated {
			p.problems = append(p.problems, fmt.Errorf("%w: in-mesh stream %s: generator %s fell behind its share of the rate: %s", aggregate.ErrSaturated, p.spec.Stream, name, aggregate.Shortfall(g)))
			p.cfg.event(fmt.Sprintf("%s fell behind: %s", name, aggregate.Shortfall(g)))
			continue
		}
		p.cfg.event(fmt.Sprintf("%s kept its schedule: %d requests at %.4g/s, worst %s late", name, g.Sent, shareRPS, time.Duration(g.MaxLagMs*float64(time.Millisecond)).Round(time.Millisecond)))
	}
	if len(p.schedules) == 0 {
		// The load this stream stands for never happened: nothing may be concluded from its silence.
		p.problems = append(p.problems, fmt.Errorf("in-mesh stream %s: no generator sent a request (%d pod(s) seen)", p.spec.Stream, len(p.gens)))
	}
	return errors.Join(p.problems...)
}

// waitGone waits, a tick at a time, until the generators' Deployment is gone or ctx ends.
func waitGone(ctx context.Context, c *cluster.Cluster, spec Spec, tick <-chan time.Time) bool {
	for {
		if gone, err := Gone(ctx, c, spec); gone && err == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick:
		}
	}
}
