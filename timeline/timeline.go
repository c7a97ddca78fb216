// Package timeline is the one monotonic clock of a rehearsal: contiguous phases (warm-up, each step,
// cool-down, teardown) on offsets from the run's start, so that any request result, by the time it was sent,
// maps to exactly one phase.
package timeline

import (
	"sort"
	"sync"
	"time"
)

// Kind says what a phase is.
type Kind string

// Phase kinds.
const (
	KindSetup    Kind = "setup"
	KindWarmup   Kind = "warmup"
	KindStep     Kind = "step"
	KindCooldown Kind = "cooldown"
	KindTeardown Kind = "teardown"
)

// Phase is one contiguous span of the run.
type Phase struct {
	Name  string
	Kind  Kind
	Start time.Duration
	// End is zero while the phase is open.
	End  time.Duration
	Open bool
}

// Timeline records phases. It is safe for concurrent use: the step runner begins phases while the load
// generator's consumer looks them up.
type Timeline struct {
	start time.Time // carries a monotonic reading: offsets never jump with the wall clock

	mu     sync.RWMutex
	phases []Phase
	now    func() time.Time
}

// New starts a timeline now.
func New() *Timeline { return NewAt(time.Now(), time.Now) }

// NewAt starts a timeline at start with a clock (tests use a fake one).
func NewAt(start time.Time, now func() time.Time) *Timeline {
	return &Timeline{start: start, now: now}
}

// Start is the wall-clock (and monotonic) start of the run.
func (t *Timeline) Start() time.Time { return t.start }

// Offset is ts relative to the start.
func (t *Timeline) Offset(ts time.Time) time.Duration { return ts.Sub(t.start) }

// Now is the current offset.
func (t *Timeline) Now() time.Duration { return t.now().Sub(t.start) }

// Begin closes the open phase (if any) and opens a new one; it returns the new phase's index.
func (t *Timeline) Begin(name string, kind Kind) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now().Sub(t.start)
	t.closeLocked(now)
	t.phases = append(t.phases, Phase{Name: name, Kind: kind, Start: now, Open: true})
	return len(t.phases) - 1
}

// End closes the open phase.
func (t *Timeline) End() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeLocked(t.now().Sub(t.start))
}

func (t *Timeline) closeLocked(now time.Duration) {
	if n := len(t.phases); n > 0 && t.phases[n-1].Open {
		t.phases[n-1].End = now
		t.phases[n-1].Open = false
	}
}

// PhaseAt returns the index of the phase during which ts fell, and false when no phase had begun by then.
// A time after the last phase closed belongs to that last phase: a late result is attributed to the
// phase in which its request was sent, never lost.
func (t *Timeline) PhaseAt(ts time.Time) (int, bool) {
	off := ts.Sub(t.start)
	t.mu.RLock()
	defer t.mu.RUnlock()
	// First phase whose start is after off, minus one.
	i := sort.Search(len(t.phases), func(i int) bool { return t.phases[i].Start > off }) - 1
	if i < 0 {
		return 0, false
	}
	return i, true
}

// Phases returns a copy of the phases so far.
func (t *Timeline) Phases() []Phase {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]Phase(nil), t.phases...)
}

// Phase returns phase i.
func (t *Timeline) Phase(i int) Phase {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.phases[i]
}
