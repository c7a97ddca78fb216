package harness

import (
	"context"
	"sync"

	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/timeline"
)

// ownClock is what the rehearsal keeps of the streams on their own clock (scenarios.Stream.From, Duration):
// the start signal of each stream that begins with a step, and the end of each stream with a fixed duration
// that the cool-down waits for.
type ownClock struct {
	mu      sync.Mutex
	startOn map[string][]chan struct{}
	fixed   []fixedStream
}

type fixedStream struct {
	start <-chan struct{} // nil: from the warm-up
	done  <-chan struct{}
}

// startWith returns the channel closed when step begins.
func (c *ownClock) startWith(step string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startOn == nil {
		c.startOn = map[string][]chan struct{}{}
	}
	ch := make(chan struct{})
	c.startOn[step] = append(c.startOn[step], ch)
	return ch
}

// began closes the start signals of the streams that begin with step (once: each step runs once).
func (c *ownClock) began(step string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.startOn[step] {
		close(ch)
	}
	delete(c.startOn, step)
}

// wait returns when every fixed-duration stream that started has ended, or ctx ends; a stream whose step
// never began never started and is not waited for.
func (c *ownClock) wait(ctx context.Context) {
	for _, f := range c.fixed {
		if f.start != nil {
			select {
			case <-f.start:
			default:
				continue
			}
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
	}
}

// clockObserver tells the clock when each step begins, and passes every event on.
type clockObserver struct {
	clock *ownClock
	next  runner.Observer
}

func (o clockObserver) StepStarted(name string, kind timeline.Kind) {
	o.clock.began(name)
	if o.next != nil {
		o.next.StepStarted(name, kind)
	}
}

func (o clockObserver) StepFinished(r runner.Result) {
	if o.next != nil {
		o.next.StepFinished(r)
	}
}
