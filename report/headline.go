package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/canarygate/canarygate/summary"
)

// Headline says in one sentence what happened where: "600 × HTTP 503 during upgrade" rather than "FAIL".
// The HTML banner, the markdown summary and the terminal use it.
func Headline(run *summary.Run) string {
	traffic := failureGroups(run)
	var parts []string
	for i, g := range traffic {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more kinds of failure", len(traffic)-3))
			break
		}
		where := ""
		if g.Phase != "" {
			where = " during " + g.Phase
		}
		parts = append(parts, fmt.Sprintf("%d × %s%s", g.Count, shortError(g), where))
	}
	for _, c := range run.Checks {
		if c.Passed || c.Decision || isTrafficCheck(c.Kind) && len(traffic) > 0 {
			continue
		}
		s := "check " + c.Name + " failed"
		if len(c.Steps) > 0 {
			s += " during " + strings.Join(c.Steps, ", ")
		}
		parts = append(parts, s+": "+c.Summary)
	}
	what := strings.Join(parts, "; ")
	switch run.Verdict {
	case summary.VerdictPass:
		return fmt.Sprintf("Every gate passed: %d requests, 0 unexpected.", run.TotalRequests())
	case summary.VerdictError:
		return "Harness error, no verdict on the target: " + run.Error
	case summary.VerdictRolledBack:
		if what != "" {
			return fmt.Sprintf("Rolled back: %s. Before the decision: %s; the rollback itself passed every gate.", run.DecidedBy, what)
		}
		return fmt.Sprintf("Rolled back: %s; the rollback itself passed every gate.", run.DecidedBy)
	case summary.VerdictInterrupted:
		where := interruptedAt(run)
		if what == "" {
			return "Interrupted" + where + ": no failure measured until then."
		}
		return "Interrupted" + where + "; until then: " + what + "."
	}
	if what == "" {
		return "A gate failed."
	}
	return what + "."
}

func isTrafficCheck(kind string) bool {
	switch kind {
	case "noUnexpectedStatus", "maxErrorRatio", "maxConsecutiveFailures":
		return true
	}
	return false
}

// failureGroups merges every stream's groups by (what, step), the biggest first.
func failureGroups(run *summary.Run) []summary.FailureGroup {
	byKey := map[[2]string]*summary.FailureGroup{}
	var out []*summary.FailureGroup
	for _, s := range run.Streams {
		for _, g := range s.FailureGroups {
			k := [2]string{shortError(g), g.Phase}
			if m, ok := byKey[k]; ok {
				m.Count += g.Count
				continue
			}
			c := g
			byKey[k] = &c
			out = append(out, &c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	res := make([]summary.FailureGroup, len(out))
	for i, g := range out {
		res[i] = *g
	}
	return res
}

// shortError names a failure briefly: "HTTP 503", or the last part of a transport error ("connection
// refused" rather than `Get "http://…": dial tcp …: connection refused`).
func shortError(g summary.FailureGroup) string {
	if g.Code != 0 {
		return fmt.Sprintf("HTTP %d", g.Code)
	}
	msg := g.Error
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// interruptedAt says where a run was interrupted and which steps never ran (" during hold; not run: a, b").
func interruptedAt(run *summary.Run) string {
	var during, notRun []string
	for _, p := range run.Phases {
		switch p.Outcome {
		case summary.OutcomeInterrupted, summary.OutcomeRunning:
			during = append(during, p.Name)
		case summary.OutcomeNotRun:
			notRun = append(notRun, p.Name)
		}
	}
	out := ""
	if len(during) > 0 {
		out = " during " + strings.Join(during, ", ")
	}
	if len(notRun) > 0 {
		out += "; not run: " + strings.Join(notRun, ", ")
	}
	return out
}
