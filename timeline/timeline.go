// Package timeline is the one monotonic clock of a rehearsal: contiguous phases (warm-up, each step,
// cool-down, teardown) on offsets from the run's start, so that any request result, by the time it was sent,
// maps to exactly one phase.
package timeline

import (
	"fmt"
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

	mu      sync.RWMutex
	phases  []Phase
	windows []Window
	now     func() time.Time
}

// Window is a span that overlaps the phases rather than dividing them: a disruption rehearsed on purpose
// (istiod down for 30 s while the next step runs). A result sent inside a window counts for its phase and for
// the window.
type Window struct {
	Name string
	Kind string
	// Step is the step that opened it; What says what was disrupted.
	Step, What string
	Start      time.Duration
	// End is zero while the window is open.
	End  time.Duration
	Open bool
	// Events are what happened in it, in order ("12.3s: scaled istio-system/istiod-1-30 from 1 to 0").
	Events []string
	// Restored: the disruption was undone; RestoreErr says why not.
	Restored   bool
	RestoreErr string
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

// OpenWindow opens a window now and returns its index. Open it before the disruption starts: every result
// sent once it is in effect then counts in it.
func (t *Timeline) OpenWindow(w Window) int { return t.OpenWindowAt(w, t.now()) }

// OpenWindowAt opens a window that began at ts (an outage noticed after its first failed probe).
func (t *Timeline) OpenWindowAt(w Window, ts time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.Start, w.End, w.Open = ts.Sub(t.start), 0, true
	t.windows = append(t.windows, w)
	return len(t.windows) - 1
}

// WindowEvent records what happened in window i, at the current offset.
func (t *Timeline) WindowEvent(i int, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.now().Sub(t.start)
	t.windows[i].Events = append(t.windows[i].Events, fmt.Sprintf("%.1fs: ", at.Seconds())+fmt.Sprintf(format, args...))
}

// Describe replaces what window i says it is (an outage's span, known once it ends).
func (t *Timeline) Describe(i int, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.windows[i].What = what
}

// CloseWindow closes window i now; restoreErr is nil when its disruption was undone.
func (t *Timeline) CloseWindow(i int, restoreErr error) { t.CloseWindowAt(i, restoreErr, t.now()) }

// CloseWindowAt closes window i at ts.
func (t *Timeline) CloseWindowAt(i int, restoreErr error, ts time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &t.windows[i]
	w.End, w.Open = ts.Sub(t.start), false
	w.Restored = restoreErr == nil
	if restoreErr != nil {
		w.RestoreErr = restoreErr.Error()
	}
}

// WindowsAt appends to dst the index of every window ts fell in. A window still open holds every time
// after its start: nothing sent later than now can be looked up.
func (t *Timeline) WindowsAt(dst []int, ts time.Time) []int {
	off := ts.Sub(t.start)
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i, w := range t.windows {
		if off >= w.Start && (w.Open || off < w.End) {
			dst = append(dst, i)
		}
	}
	return dst
}

// Windows returns a copy of the windows so far.
func (t *Timeline) Windows() []Window {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := append([]Window(nil), t.windows...)
	for i := range out {
		out[i].Events = append([]string(nil), out[i].Events...)
	}
	return out
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
