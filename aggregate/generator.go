package aggregate

import (
	"fmt"
	"strings"
	"time"

	"github.com/canarygate/canarygate/summary"
)

// Generator health. A result the load generator itself spoiled must never be counted against the target:
// a request sent late (the generator fell behind its schedule: workers capped, CPU starved) measures the
// generator, and a local resource error (no port, no file descriptor) never reached the target at all.
const (
	// MinLagTolerance is the least lateness counted as late: timers and the scheduler jitter by a few
	// milliseconds even on an idle machine.
	MinLagTolerance = 50 * time.Millisecond
	// MaxLateShare is the share of requests that may be late before the generator counts as saturated.
	MaxLateShare = 0.01
	// MinLate is the fewest late requests that count as saturation (a short, slow stream may have one).
	MinLate = 5
	// MaxJitter is the most a request may be late for the generator to count as delayed rather than behind:
	// on a shared machine the scheduler holds a goroutine back for a few hundred milliseconds, the request
	// then goes out and is measured at the time it was really sent — the run reports the gap as the limit of
	// what it proves there. Later than this (or short of the asked rate), the generator fell behind: saturated.
	MaxJitter = 500 * time.Millisecond
	// MinAchievedShare is the least share of the asked rate a keeping-up generator achieves.
	MinAchievedShare = 0.95
)

// LagTolerance is how late a request may be sent before it counts as late: two intervals, at least
// MinLagTolerance.
func LagTolerance(interval time.Duration) time.Duration { return max(2*interval, MinLagTolerance) }

// localErrors are what the local machine answers when the generator runs out of something; the target never
// saw these requests.
var localErrors = []string{
	"address already in use",
	"cannot assign requested address",
	"too many open files",
	"no buffer space available",
	"resource temporarily unavailable",
}

// LocalError reports whether a transport error came from the generator's own machine running out of a
// resource, not from the target.
func LocalError(msg string) bool {
	for _, s := range localErrors {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// generator follows how well the generator kept its schedule.
type generator struct {
	interval  time.Duration
	tolerance time.Duration
	// began is the schedule's start as estimated from the results: vegeta sends request n (its Seq) at
	// began + (n+1) × interval; the earliest estimate wins, since no request leaves early.
	began       time.Time
	haveBegan   bool
	sent        int64
	late        int64
	maxLag      time.Duration
	first, last time.Time
	local       int64
	localMsgs   map[string]int64
}

// schedule notes one request's send time, in send order.
func (g *generator) schedule(seq uint64, at time.Time) (late bool) {
	g.sent++
	if g.first.IsZero() || at.Before(g.first) {
		g.first = at
	}
	if at.After(g.last) {
		g.last = at
	}
	if g.interval <= 0 {
		return false // rate: max has no schedule
	}
	due := time.Duration(seq+1) * g.interval
	if est := at.Add(-due); !g.haveBegan || est.Before(g.began) {
		g.began, g.haveBegan = est, true
	}
	lag := at.Sub(g.began.Add(due))
	g.maxLag = max(g.maxLag, lag)
	if lag > g.tolerance {
		g.late++
		return true
	}
	return false
}

func (g *generator) localError(msg string) {
	g.local++
	if g.localMsgs == nil {
		g.localMsgs = map[string]int64{}
	}
	countBounded(g.localMsgs, msg)
}

// saturated: a local resource error, or many requests late and the generator behind — lag beyond MaxJitter
// or the achieved rate short of the asked one. Late requests that went out within MaxJitter are delays the
// run reports, not saturation.
func (g *generator) saturated(askedRPS float64) bool {
	if g.local > 0 {
		return true
	}
	if g.late < MinLate || float64(g.late) <= MaxLateShare*float64(g.sent) {
		return false
	}
	return g.maxLag > MaxJitter || (askedRPS > 0 && g.achievedRPS() < MinAchievedShare*askedRPS)
}

func (g *generator) achievedRPS() float64 {
	if span := g.last.Sub(g.first); g.sent > 1 && span > 0 {
		return float64(g.sent-1) / span.Seconds()
	}
	return 0
}

func (g *generator) summary(askedRPS float64) summary.Generator {
	out := summary.Generator{AskedRPS: askedRPS, Sent: g.sent, Late: g.late, MaxLagMs: summary.Ms(max(g.maxLag, 0)),
		LagToleranceMs: summary.Ms(g.tolerance), LocalErrors: g.local, Saturated: g.saturated(askedRPS), AchievedRPS: g.achievedRPS()}
	out.LocalErrorMessages = errorCounts(g.localMsgs)
	return out
}

// Shortfall says what a generator failed to do: the rate it achieved, its late requests, its local errors.
func Shortfall(g summary.Generator) string {
	var parts []string
	if g.AskedRPS > 0 {
		parts = append(parts, fmt.Sprintf("achieved %.0f/s of %.0f/s asked", g.AchievedRPS, g.AskedRPS))
	}
	if g.Late > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d requests sent more than %s late (worst %s)", g.Late, g.Sent,
			time.Duration(g.LagToleranceMs*float64(time.Millisecond)).Round(time.Millisecond),
			time.Duration(g.MaxLagMs*float64(time.Millisecond)).Round(time.Millisecond)))
	}
	if g.LocalErrors > 0 && len(g.LocalErrorMessages) > 0 {
		parts = append(parts, fmt.Sprintf("%d local resource errors (%s)", g.LocalErrors, g.LocalErrorMessages[0].Message))
	}
	return strings.Join(parts, "; ")
}

// Schedule judges one generator's schedule from its requests' send times, given in send order: the judgement
// the harness makes of its own streams, for generators that run elsewhere (an in-mesh stream's pods, each at
// its share of the rate).
type Schedule struct{ g generator }

// NewSchedule follows a generator that sends a request every interval.
func NewSchedule(interval time.Duration) *Schedule {
	return &Schedule{g: generator{interval: interval, tolerance: LagTolerance(interval)}}
}

// Sent notes the next request, in send order, sent at at: the n-th call is the generator's n-th request.
func (s *Schedule) Sent(at time.Time) { s.g.schedule(uint64(s.g.sent), at) }

// Summary is the generator's record.
func (s *Schedule) Summary(askedRPS float64) summary.Generator { return s.g.summary(askedRPS) }

// ErrSaturated marks a run whose load generator could not do what was asked: its verdict is "error".
var ErrSaturated = fmt.Errorf("load generator saturated")

// Saturation returns ErrSaturated (wrapped, naming the stream, the step and the achieved vs asked rate)
// when any stream's generator fell behind its schedule or hit a local resource error; nil otherwise.
func (a *Aggregate) Saturation() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var reasons []string
	for _, s := range a.streams {
		if !s.gen.saturated(s.spec.AskedRPS) {
			continue
		}
		g := s.gen.summary(s.spec.AskedRPS)
		where := ""
		worst, worstN := -1, int64(0)
		for i, p := range s.phases {
			if n := p.late + p.local; n > worstN {
				worst, worstN = i, n
			}
		}
		if worst >= 0 {
			where = fmt.Sprintf(" during %q", a.tl.Phase(worst).Name)
		}
		reasons = append(reasons, fmt.Sprintf("stream %s%s: %s", s.spec.Name, where, Shortfall(g)))
	}
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s — those requests say nothing about the target (raise maxWorkers, lower the rate, or give the generator more CPU)", ErrSaturated, strings.Join(reasons, "; "))
}
