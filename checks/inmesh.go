package checks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

func init() {
	Register(scenarios.GateInMeshCalls, func() *scenarios.InMeshCalls { return &scenarios.InMeshCalls{} }, inMeshCalls)
}

func revName(r string) string {
	if r == "" {
		return "(no proxy)"
	}
	return r
}

// inMeshCalls judges the revision × revision record of in-mesh streams: per phase, every caller revision ×
// callee revision seen in it must have calls; no call may be unexpected or lack the generators' identity.
func inMeshCalls(g *scenarios.InMeshCalls, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	var calls, bad, notMTLS int64
	proven := map[string]int64{}
	judged := 0
	for _, s := range selectStreams(run, g.Streams) {
		if s.InMesh == nil {
			continue
		}
		judged++
		type phaseSets struct{ from, to map[string]bool }
		byPhase := map[string]*phaseSets{}
		has := map[[3]string]int64{}
		var order []string
		for _, p := range s.InMesh.Pairs {
			ps, ok := byPhase[p.Phase]
			if !ok {
				ps = &phaseSets{map[string]bool{}, map[string]bool{}}
				byPhase[p.Phase] = ps
				order = append(order, p.Phase)
			}
			ps.from[p.From], ps.to[p.To] = true, true
			has[[3]string{p.Phase, p.From, p.To}] += p.Requests
			calls += p.Requests
			bad += p.Failures
			notMTLS += p.NotMTLS
			pair := revName(p.From) + "→" + revName(p.To)
			if p.Failures > 0 || p.NotMTLS > 0 {
				c.Passed = false
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s, %s: %s %d calls, %d unexpected, %d without the generators' identity", s.Name, phaseName(p.Phase), pair, p.Requests, p.Failures, p.NotMTLS))
				blame(&c, run, []int{run.PhaseIndex(p.Phase)})
			} else {
				proven[pair] += p.Requests
			}
		}
		for _, ph := range order {
			ps := byPhase[ph]
			for _, from := range slices.Sorted(maps.Keys(ps.from)) {
				for _, to := range slices.Sorted(maps.Keys(ps.to)) {
					if has[[3]string{ph, from, to}] == 0 {
						c.Passed = false
						c.Evidence = append(c.Evidence, fmt.Sprintf("%s, %s: %s coexisted but made no call: not proven", s.Name, phaseName(ph), revName(from)+"→"+revName(to)))
						blame(&c, run, []int{run.PhaseIndex(ph)})
					}
				}
			}
		}
	}
	switch {
	case judged == 0:
		c.Passed = false
		c.Summary = "no in-mesh stream in the run: nothing proven"
	case calls == 0:
		c.Passed = false
		c.Summary = "no in-mesh calls were measured: not proven"
	case notMTLS > 0 && notMTLS == calls:
		c.Passed = false
		c.Summary = fmt.Sprintf("not proven: none of %d in-mesh calls carried the generators' identity to the callee (no X-Forwarded-Client-Cert: no sidecar mTLS)", calls)
	case !c.Passed:
		c.Summary = fmt.Sprintf("%d of %d in-mesh calls unexpected, %d without the generators' identity", bad, calls, notMTLS)
	default:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(proven)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, proven[k]))
		}
		c.Summary = fmt.Sprintf("mTLS proven for %d in-mesh calls from the callees' X-Forwarded-Client-Cert: %s", calls, strings.Join(parts, ", "))
	}
	return c
}

func phaseName(p string) string {
	if p == "" {
		return "outside the timeline"
	}
	return p
}
