package checks

import (
	"fmt"
	"strings"

	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func init() {
	Register(scenarios.GateInjectionUnchanged, func() *scenarios.InjectionUnchanged { return &scenarios.InjectionUnchanged{} }, injectionUnchanged)
}

// injectionUnchanged judges the injection records every namespace move made (scenarios.RecordInjectionDiff):
// a difference neither explained by the revision's name or the proxy image nor allowed fails, named with its
// workload and step. No record at all fails too: no move compared two pods, so nothing shows injection
// unchanged.
func injectionUnchanged(g *scenarios.InjectionUnchanged, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	records, differences := 0, 0
	var bad []string
	for _, r := range run.Checks {
		if r.Kind != scenarios.RecordInjectionDiff {
			continue
		}
		records++
		var changes []istio.InjectionChange
		for _, line := range r.Evidence {
			ch, err := istio.ParseInjectionChange(line)
			if err != nil {
				c.Passed = false
				c.Evidence = append(c.Evidence, r.Name+": "+err.Error())
				continue
			}
			changes = append(changes, ch)
		}
		differences += len(changes)
		un := istio.Unexpected(changes, g.Allow)
		if len(un) == 0 {
			continue
		}
		c.Passed = false
		blame(&c, run, []int{run.PhaseIndex(r.Phase)})
		bad = append(bad, fmt.Sprintf("%s (%d)", strings.TrimPrefix(r.Name, "injection "), len(un)))
		for _, ch := range un {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s, %s: %s", strings.TrimPrefix(r.Name, "injection "), r.Phase, ch))
		}
	}
	switch {
	case records == 0:
		c.Passed = false
		c.Summary = "no namespace move compared a pod of the old revision with one of the new: nothing shows injection unchanged"
	case len(bad) > 0:
		c.Summary = "injection changed beyond the revision and the proxy image: " + strings.Join(bad, ", ")
	case c.Passed:
		c.Summary = fmt.Sprintf("%d workload(s) moved, %d difference(s), all the revision's name, the proxy image or allowed", records, differences)
	default:
		c.Summary = "injection records could not be read"
	}
	return c
}
