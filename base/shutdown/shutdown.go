// Package shutdown holds what must still happen when canarygate exits at once (a second SIGINT/SIGTERM):
// kill the process groups that steps started and write the reports of what was measured so far. Each hook
// runs concurrently with the others under one short deadline, so "at once" stays at once.
package shutdown

import (
	"sync"
	"time"
)

// Hooks is a set of last actions. The zero value is ready to use; a nil *Hooks accepts and ignores hooks.
type Hooks struct {
	mu   sync.Mutex
	next int
	fns  map[int]func()
}

// Add registers fn; the returned function removes it (call it when what fn protects is finished).
func (h *Hooks) Add(fn func()) (remove func()) {
	if h == nil {
		return func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(){}
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.fns, id)
	}
}

// Run runs every hook concurrently and returns when all have finished or after timeout, whichever is first.
// It reports whether all finished.
func (h *Hooks) Run(timeout time.Duration) bool {
	if h == nil {
		return true
	}
	h.mu.Lock()
	fns := make([]func(), 0, len(h.fns))
	for _, fn := range h.fns {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
