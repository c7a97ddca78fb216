package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

// Reachability probes: how often each cluster's API server is asked /readyz while traffic runs, how long an
// answer may take, and how many probes in a row must fail before it counts as unreachable (one slow answer
// on a busy machine is not an outage).
var (
	ReachabilityInterval = 500 * time.Millisecond
	ReachabilityTimeout  = 2 * time.Second
	ReachabilityFailures = 2
)

// watchReachability asks each cluster's API server /readyz while traffic runs and puts every span it did not
// answer on the timeline as an outage window ("API server of cluster X unreachable 12:03:04–12:03:19"): the
// steps' watches, the in-mesh pulls and the observers were blind then, and the report says when. Nothing is
// judged from it alone: what could not be measured in it spoils the run where it was lost (results never
// pulled, a step's outcome unknown).
func watchReachability(ctx context.Context, tl *timeline.Timeline, clusters *cluster.Set) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, c := range clusters.All() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probeUntilDone(ctx, tl, c)
		}()
	}
	return func() { cancel(); wg.Wait() }
}

func probeUntilDone(ctx context.Context, tl *timeline.Timeline, c *cluster.Cluster) {
	tick := time.NewTicker(ReachabilityInterval)
	defer tick.Stop()
	window, failed := -1, 0
	var firstFail time.Time
	for {
		at := time.Now()
		pctx, cancel := context.WithTimeout(ctx, ReachabilityTimeout)
		err := c.Ready(pctx)
		cancel()
		if ctx.Err() != nil {
			if window >= 0 {
				tl.CloseWindow(window, fmt.Errorf("still unreachable when the traffic stopped"))
			}
			return
		}
		switch {
		case err != nil:
			if failed == 0 {
				firstFail = at
			}
			failed++
			if failed == ReachabilityFailures && window < 0 {
				window = tl.OpenWindowAt(timeline.Window{Name: outageName(c.Name), Kind: summary.WindowKindOutage,
					What: "API server of cluster " + c.Name + " unreachable from " + clock(firstFail)}, firstFail)
				tl.WindowEvent(window, "first failed probe at %s: %v", clock(firstFail), err)
			}
		case window >= 0:
			tl.Describe(window, fmt.Sprintf("API server of cluster %s unreachable %s–%s", c.Name, clock(firstFail), clock(at)))
			tl.WindowEvent(window, "answered /readyz again at %s", clock(at))
			tl.CloseWindowAt(window, nil, at)
			window, failed = -1, 0
		default:
			failed = 0
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// outageName names the outage window of a cluster's API server: the probe opens it, unobserved looks it up.
func outageName(cluster string) string { return "API server of " + cluster + " unreachable" }

// clock is a wall-clock time as the report shows it (UTC, to the second).
func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// unobserved turns each step that failed while the API server of its cluster was unreachable into an error:
// canarygate was blind while it ran — its watch broken, its requests refused — so its failure says nothing
// certain of the target, and a verdict on it would lie. The run is then an error (exit 3), never a failure
// or a pass; the outage window is in the report.
func unobserved(sc *scenarios.Scenario, run *summary.Run) error {
	clusterOf := map[string]string{}
	for st := range sc.AllSteps() {
		// Parsing names the first cluster for a step that names none; a scenario built in code may not.
		c := st.Cluster
		if c == "" && len(sc.Clusters) > 0 {
			c = sc.Clusters[0].Name
		}
		clusterOf[st.Name] = c
	}
	var errs []error
	for i := range run.Phases {
		p := &run.Phases[i]
		if p.Outcome != summary.OutcomeFailed && p.Outcome != summary.OutcomeTimedOut {
			continue
		}
		for _, w := range run.Windows {
			if w.Kind != summary.WindowKindOutage || w.Name != outageName(clusterOf[p.Name]) || w.StartMs >= p.EndMs || w.EndMs <= p.StartMs {
				continue
			}
			why := fmt.Sprintf("not judged: %s while it ran, so its outcome could not be observed", w.What)
			p.Outcome, p.Error = summary.OutcomeError, p.Error+" — "+why
			errs = append(errs, fmt.Errorf("step %s: %s", p.Name, why))
			break
		}
	}
	return errors.Join(errs...)
}
