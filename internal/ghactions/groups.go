package ghactions

import (
	"fmt"
	"io"
	"sync"

	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/timeline"
)

// Groups folds each step's log lines into a `::group::` of the job's log, around another observer (the
// progress printer, whose ✓/✗ line for the step comes after the group so that it shows while the group is
// folded). Steps run one at a time, so groups never overlap; a step that finishes without having started
// (skipped) opens none.
type Groups struct {
	mu   sync.Mutex
	w    io.Writer
	next runner.Observer
	open bool
}

// NewGroups writes groups to w — the stream next writes to, so the lines stay in order — and passes every
// event on to next.
func NewGroups(w io.Writer, next runner.Observer) *Groups { return &Groups{w: w, next: next} }

// StepStarted implements runner.Observer.
func (g *Groups) StepStarted(name string, kind timeline.Kind) {
	g.mu.Lock()
	if g.open {
		fmt.Fprintln(g.w, "::endgroup::")
	}
	fmt.Fprintf(g.w, "::group::%s\n", EscapeData(fmt.Sprintf("%s %s", kind, name)))
	g.open = true
	g.mu.Unlock()
	g.next.StepStarted(name, kind)
}

// StepFinished implements runner.Observer.
func (g *Groups) StepFinished(r runner.Result) {
	g.mu.Lock()
	if g.open {
		fmt.Fprintln(g.w, "::endgroup::")
		g.open = false
	}
	g.mu.Unlock()
	g.next.StepFinished(r)
}

// Close ends a group still open (a run that stopped inside a step without finishing it).
func (g *Groups) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		fmt.Fprintln(g.w, "::endgroup::")
		g.open = false
	}
}
