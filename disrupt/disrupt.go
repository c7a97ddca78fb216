package disrupt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

func init() {
	runner.Register(scenarios.ActionDisrupt, func() *scenarios.DisruptAction { return &scenarios.DisruptAction{} }, Disrupt)
}

// RestoreTimeout bounds the restoration of a target, on a context of its own: an interrupted run still
// restores what it disrupted.
var RestoreTimeout = 2 * time.Minute

// ErrNotRestored marks a disruption that could not be undone: the harness's failure, never the target's
// (the step's outcome is error, the run's exit 3, in the foreground as in the background).
var ErrNotRestored = fmt.Errorf("%w: disruption not restored", runner.ErrHarness)

// ErrNotDisrupted marks a disruption that could not be put in place (no such Deployment, no pod matches, the
// engine refused to pause): the fault was not rehearsed, so nothing the run measured says what it would have
// done — the harness's failure (exit 3), not the upgrade's.
var ErrNotDisrupted = fmt.Errorf("%w: disruption not in place", runner.ErrHarness)

// target is one kind of disruption.
type target interface {
	// begin puts the disruption in place.
	begin(ctx context.Context) error
	// keep is called every keepEvery while the window lasts: a target that comes back by itself (a
	// controller re-creating pods, something scaling a Deployment up) is disrupted again.
	keep(ctx context.Context) error
	// restore undoes it; called once, whatever begin did.
	restore(ctx context.Context) error
}

// keepEvery is how often a disruption is re-applied when its target has no interval of its own.
const keepEvery = time.Second

// Disrupt carries out a disrupt step: open the window, disrupt the target, keep it disrupted for the
// duration (here, or in the background over the next steps), restore it, close the window.
func Disrupt(ctx context.Context, env *runner.Env, a *scenarios.DisruptAction) error {
	if env.Timeline == nil {
		return fmt.Errorf("%w: disrupt needs the run's timeline", runner.ErrHarness)
	}
	if a.Background && env.Background == nil {
		// Checked before anything is disrupted: nothing would hold the window or restore the target.
		return fmt.Errorf("%w: %w", runner.ErrHarness, runner.ErrNoBackground)
	}
	c, err := env.Cluster()
	if err != nil {
		return err
	}
	w := env.Timeline.OpenWindow(timeline.Window{Name: env.Step.Name, Kind: summary.WindowKindDisruption, Step: env.Step.Name, What: a.Target()})
	log := func(format string, args ...any) { env.Timeline.WindowEvent(w, format, args...) }
	t := newTarget(c, a, log)
	if err := t.begin(ctx); err != nil {
		rerr := restore(ctx, t)
		env.Timeline.CloseWindow(w, rerr)
		return errors.Join(fmt.Errorf("%w: %s: %w", ErrNotDisrupted, a.Target(), err), rerr)
	}
	env.Changed("disrupted: %s for %s", a.Target(), a.Duration)
	hold := func(ctx context.Context) error {
		cut := keep(ctx, t, a, log)
		rerr := restore(ctx, t)
		env.Timeline.CloseWindow(w, rerr)
		if rerr != nil {
			return fmt.Errorf("step %s: %w", env.Step.Name, rerr)
		}
		return cut
	}
	if a.Background {
		// The window outlives the step: the run's context holds it, and the run waits for its restoration.
		return env.Background.Go(func(ctx context.Context) error {
			err := hold(ctx)
			if errors.Is(err, context.Canceled) {
				return nil // interrupted: restored at once, the run says it was interrupted
			}
			return err
		})
	}
	return hold(ctx)
}

// keep holds the disruption for its duration, re-applying it; it returns the context's error when the
// window was cut short (a timeout, an interrupt).
func keep(ctx context.Context, t target, a *scenarios.DisruptAction, log func(string, ...any)) error {
	end := time.NewTimer(a.Duration.D())
	defer end.Stop()
	every := keepEvery
	if a.DeletePods != nil {
		if a.DeletePods.Every <= 0 {
			every = 0
		} else {
			every = a.DeletePods.Every.D()
		}
	}
	var tick <-chan time.Time
	if every > 0 {
		tk := time.NewTicker(every)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-end.C:
			return nil
		case <-ctx.Done():
			log("cut short: %v", context.Cause(ctx))
			return ctx.Err()
		case <-tick:
			if err := t.keep(ctx); err != nil && ctx.Err() == nil {
				// Not fatal: the window goes on, and the next tick tries again (the API server may be the
				// thing disrupted).
				log("re-applying: %v", err)
			}
		}
	}
}

// restore undoes the disruption on a context of its own, bounded: the step's or the run's may have ended.
func restore(ctx context.Context, t target) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreTimeout)
	defer cancel()
	if err := t.restore(rctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRestored, err)
	}
	return nil
}

// newTarget builds the target the action names (validation made sure there is exactly one).
func newTarget(c *cluster.Cluster, a *scenarios.DisruptAction, log func(string, ...any)) target {
	switch {
	case a.ScaleDown != nil:
		return &scaleDown{c: c, spec: a.ScaleDown, log: log}
	case a.DeletePods != nil:
		return &deletePods{c: c, spec: a.DeletePods, log: log}
	case a.RestartAPIServer != nil:
		return &restartAPIServer{c: c, spec: a.RestartAPIServer, log: log}
	default:
		return &pauseNode{c: c, spec: a.PauseNode, log: log}
	}
}
