package runner

import (
	"context"
	"errors"
	"sync"
)

// Background holds the work steps leave running after they end — a disruption kept up over the next steps —
// on the run's context rather than the step's: the step's context ends with the step. Wait blocks until
// every piece has ended; when the run's context ends first (an interrupt), each piece sees it and undoes its
// work at once (a disruption restores its target). A nil *Background runs nothing in the background.
type Background struct {
	ctx  context.Context
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// NewBackground returns a Background whose pieces run on ctx (the run's).
func NewBackground(ctx context.Context) *Background { return &Background{ctx: ctx} }

// ErrNoBackground is returned by Go on a nil Background.
var ErrNoBackground = errors.New("this run keeps nothing in the background")

// Go runs fn on the run's context; its error is Wait's.
func (b *Background) Go(fn func(ctx context.Context) error) error {
	if b == nil {
		return ErrNoBackground
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := fn(b.ctx); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
		}
	}()
	return nil
}

// Wait waits for every piece started so far and returns their errors, joined.
func (b *Background) Wait() error {
	if b == nil {
		return nil
	}
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return errors.Join(b.errs...)
}
