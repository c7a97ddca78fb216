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
// callee revision seen in it must have calls; no call may be unexpected, and every answered call must carry
// the generators' identity as the callee saw it (mTLS proven). Its evidence says, per stream, phase and
// pair, how many calls were made and proven, and which caller identities the callee reported.
func inMeshCalls(g *scenarios.InMeshCalls, run *summary.Run) summary.Check {
	c := summary.Check{Passed: true}
	var calls, bad, notMTLS int64
	proven := map[string]int64{}
	var how []string
	judged := 0
	for _, s := range selectStreams(run, g.Streams) {
		if s.InMesh == nil {
			continue
		}
		judged++
		how = append(how, s.Name+": "+s.InMesh.ViaText())
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
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s, %s: %s %d calls, %d mTLS-proven, %d unexpected, %d answered without the generators' identity (not mTLS)",
				s.Name, phaseName(p.Phase), pair, p.Requests, p.Proven(), p.Failures, p.NotMTLS))
			if p.Failures > 0 || p.NotMTLS > 0 {
				c.Passed = false
				blame(&c, run, []int{run.PhaseIndex(p.Phase)})
			} else {
				proven[pair] += p.Requests
			}
		}
		for _, ph := range order {
			ps := byPhase[ph]
			delete(ps.to, summary.NoAnswer) // nobody heard from: no revision that coexisted (its calls failed, and say so)
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
		if len(s.InMesh.Peers) > 0 {
			var seen []string
			for _, id := range slices.Sorted(maps.Keys(s.InMesh.Peers)) {
				seen = append(seen, fmt.Sprintf("%s (%d calls)", id, s.InMesh.Peers[id]))
			}
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: caller identities %s: %s; the generators' own is %s", s.Name, s.InMesh.ViaText(), strings.Join(seen, ", "), s.InMesh.Identity))
		} else {
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: the callee reported no caller identity for any call (%s)", s.Name, s.InMesh.ViaText()))
		}
	}
	switch {
	case judged == 0:
		c.Passed = false
		c.Summary = "no in-mesh stream in the run: nothing proven"
	case calls == 0:
		c.Passed = false
		c.Summary = "no in-mesh calls were measured: not proven"
	case notMTLS > 0:
		c.Passed = false
		c.Summary = fmt.Sprintf("not mTLS: %d of %d in-mesh calls answered without the generators' identity (plaintext or another identity; %s), %d unexpected", notMTLS, calls, strings.Join(how, "; "), bad)
	case !c.Passed:
		c.Summary = fmt.Sprintf("%d of %d in-mesh calls unexpected or not proven", bad, calls)
	default:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(proven)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, proven[k]))
		}
		c.Summary = fmt.Sprintf("mTLS proven for %d in-mesh calls (%s): %s", calls, strings.Join(how, "; "), strings.Join(parts, ", "))
	}
	return c
}

func phaseName(p string) string {
	if p == "" {
		return "outside the timeline"
	}
	return p
}
