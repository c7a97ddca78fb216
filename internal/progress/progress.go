// Package progress shows a run's progress: on a terminal one live status line (step, elapsed, rps, unexpected
// so far), otherwise — in CI logs — plain ✓/✗ lines per step.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Printer implements runner.Observer and harness ticks.
type Printer struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool
	started map[string]time.Time
	last    string
}

// New returns a printer on w; live status lines only when w is a terminal.
func New(w io.Writer) *Printer {
	live := false
	if f, ok := w.(*os.File); ok {
		live = term.IsTerminal(int(f.Fd()))
	}
	return &Printer{w: w, live: live, started: map[string]time.Time{}}
}

// StepStarted implements runner.Observer.
func (p *Printer) StepStarted(name string, kind timeline.Kind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[name] = time.Now()
	p.clear()
	if !p.live {
		fmt.Fprintf(p.w, "• %s %s …\n", kind, name)
	}
}

// StepFinished implements runner.Observer.
func (p *Printer) StepFinished(r runner.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	d := time.Since(p.started[r.Name]).Round(100 * time.Millisecond)
	if r.Outcome == summary.OutcomePassed {
		fmt.Fprintf(p.w, "✓ %s %s (%s)\n", r.Kind, r.Name, d)
		return
	}
	if r.Outcome == summary.OutcomeSkipped {
		// Not taken on purpose (its when): neither a pass nor a failure.
		fmt.Fprintf(p.w, "– %s %s skipped: %v\n", r.Kind, r.Name, r.Err)
		return
	}
	msg := ""
	if r.Err != nil {
		msg = ": " + strings.SplitN(r.Err.Error(), "\n", 2)[0]
	}
	fmt.Fprintf(p.w, "✗ %s %s %s (%s)%s\n", r.Kind, r.Name, r.Outcome, d, msg)
}

// Tick shows the live status line (terminals only).
func (p *Printer) Tick(s summary.Live) {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("  %s · %s · %.0f rps · %d requests · %d unexpected", s.Phase, s.Elapsed.Round(time.Second), s.RPS, s.Requests, s.Failures)
	p.clear()
	fmt.Fprint(p.w, line)
	p.last = line
}

// Done clears the live line.
func (p *Printer) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *Printer) clear() {
	if p.live && p.last != "" {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", len([]rune(p.last))))
		p.last = ""
	}
}
