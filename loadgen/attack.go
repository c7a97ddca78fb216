package loadgen

import (
	"context"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Target is one stream of identical requests at a constant rate.
type Target struct {
	Name   string
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Rate is the schedule; a zero Freq is vegeta's -rate=0: as fast as MaxWorkers allow.
	Rate    vegeta.Rate
	Timeout time.Duration
	// MaxWorkers caps concurrent requests (0: vegeta's default, no cap — never with a zero Freq).
	MaxWorkers uint64
	// Connections is the idle connections kept per host (0: vegeta's default); MaxConnections the open
	// connections per host (0: no limit).
	Connections, MaxConnections int
	// NoKeepAlive opens a connection per request.
	NoKeepAlive bool
	// Start, when set, holds the attack until it is closed (a stream that begins with a step); an attack
	// whose Start never closes never sends.
	Start <-chan struct{}
	// Duration, when set, ends the attack that long after it began, whatever else happens (a stream on its
	// own clock, as `vegeta attack -duration=900s` beside the upgrade).
	Duration time.Duration
	// Done, when set, is closed once the attack has ended and its results are delivered (or it never began
	// because ctx ended first).
	Done chan struct{}
}

// Defaults for attacks.
const (
	// DefaultWorkers is the initial number of workers per stream; vegeta adds more when they are all busy.
	DefaultWorkers = 10
	// DefaultMaxBody is how much of each response body is kept: enough to show what a failure said.
	DefaultMaxBody = 512
	// DefaultTimeout bounds a request whose Target has no timeout.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxRateWorkers caps a zero-Freq (as fast as possible) attack that names no cap: without one,
	// vegeta would add workers without bound.
	DefaultMaxRateWorkers = 64
)

type config struct {
	workers uint64
	maxBody int64
	extra   []func(*vegeta.Attacker)
}

// Option configures Attack.
type Option func(*config)

// WithWorkers sets the initial workers per stream.
func WithWorkers(n uint64) Option { return func(c *config) { c.workers = n } }

// WithMaxBody sets how many bytes of each response body results keep.
func WithMaxBody(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithAttackerOptions passes options straight to every vegeta attacker (TLS, proxies, HTTP/2...).
func WithAttackerOptions(opts ...func(*vegeta.Attacker)) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// Attack starts one vegeta attacker per target and returns their results on one channel. The attacks run until
// ctx ends; requests in flight then finish (bounded by their timeout) and the channel closes after the last
// result, so nothing measured is lost.
func Attack(ctx context.Context, targets []Target, opts ...Option) <-chan *vegeta.Result {
	out := make(chan *vegeta.Result, 1024)
	go func() {
		defer close(out)
		Each(ctx, targets, func(r *vegeta.Result) { out <- r }, opts...)
	}()
	return out
}

// Each is Attack with a handler instead of a channel: handle is called for every result, from the goroutine
// that reads that target's attacker (so concurrently across targets, in order within one), and Each returns
// once every attack has ended and every result was handled. A consumer that folds results in under its own
// lock saves a channel hop and a goroutine wake-up per result: at a generator's limit that is CPU the
// requests get back (make bench, step 2).
func Each(ctx context.Context, targets []Target, handle func(*vegeta.Result), opts ...Option) {
	cfg := config{workers: DefaultWorkers, maxBody: DefaultMaxBody}
	for _, o := range opts {
		o(&cfg)
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		atk := newAttacker(t, cfg)
		tgt := vegeta.Target{Method: t.Method, URL: t.URL, Header: t.Header.Clone(), Body: t.Body}
		if tgt.Header == nil {
			tgt.Header = http.Header{}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if t.Done != nil {
				defer close(t.Done)
			}
			if t.Start != nil {
				select {
				case <-t.Start:
				case <-ctx.Done():
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			res := atk.Attack(vegeta.NewStaticTargeter(tgt), t.Rate, t.Duration, t.Name)
			stopped := make(chan struct{})
			defer close(stopped)
			go func() {
				select {
				case <-ctx.Done():
					atk.Stop()
				case <-stopped:
				}
			}()
			for r := range res {
				handle(r)
			}
		}()
	}
	wg.Wait()
}

func newAttacker(t Target, cfg config) *vegeta.Attacker {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	attackerOpts := []func(*vegeta.Attacker){
		vegeta.Workers(cfg.workers),
		vegeta.Timeout(timeout),
		vegeta.KeepAlive(!t.NoKeepAlive),
		vegeta.MaxBody(cfg.maxBody),
	}
	if t.MaxWorkers > 0 {
		attackerOpts = append(attackerOpts, vegeta.MaxWorkers(t.MaxWorkers))
	} else if t.Rate.Freq == 0 {
		attackerOpts = append(attackerOpts, vegeta.MaxWorkers(DefaultMaxRateWorkers))
	}
	if t.Connections > 0 {
		attackerOpts = append(attackerOpts, vegeta.Connections(t.Connections))
	}
	if t.MaxConnections > 0 {
		attackerOpts = append(attackerOpts, vegeta.MaxConnections(t.MaxConnections))
	}
	attackerOpts = append(attackerOpts, cfg.extra...)
	return vegeta.NewAttacker(attackerOpts...)
}
