package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// WriteMarkdown writes a short summary for GitHub's job summary: verdict, checks, steps, first failures.
func WriteMarkdown(w io.Writer, run *summary.Run, _ Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s canarygate: %s — %s\n\n", verdictIcon(run.Verdict), md(run.Scenario), strings.ToUpper(run.Verdict))
	fmt.Fprintf(&b, "**%s**\n\n", md(Headline(run)))
	fmt.Fprintf(&b, "%d requests, %d unexpected, %.1fs, started %s.\n\n", run.TotalRequests(), run.TotalFailures(), run.DurationMs/1000, run.Started.Format("2006-01-02 15:04:05 UTC"))
	if run.Error != "" {
		fmt.Fprintf(&b, "> **Harness error:** %s\n\n", md(run.Error))
	}
	if run.Interrupted {
		b.WriteString("> **Interrupted:** the run was stopped before it finished; the numbers cover what was measured.\n\n")
	}
	b.WriteString("| check | result | summary |\n|---|---|---|\n")
	for _, c := range run.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", md(checkLabel(c)), checkResult(c), md(c.Summary))
	}
	b.WriteString("\n| step | outcome | start | duration | requests | rate (achieved/asked) | unexpected | p99 (ms) | status codes |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows(run) {
		fmt.Fprintf(&b, "| %s | %s | %.1fs | %.1fs | %d | %s | %d | %.1f | %s |\n", md(r.Name), outcomeLabel(r.Phase), r.StartMs/1000, r.DurationMs()/1000, r.Requests, r.RateText(), r.Failures, r.P99, md(codes(r.Codes)))
	}
	b.WriteString("\n| load generator | asked | achieved | late | local errors | state |\n|---|---:|---:|---:|---:|---|\n")
	for _, s := range run.Streams {
		state := s.Generator.State()
		if s.Generator.Saturated {
			state = "❌ " + state
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f/s | %d | %d | %s |\n", md(s.Name), md(s.Rate), s.Generator.AchievedRPS, s.Generator.Late, s.Generator.LocalErrors, state)
	}
	for _, s := range run.Streams {
		if s.InMesh == nil {
			continue
		}
		fmt.Fprintf(&b, "\n**In-mesh %s** (generators in %s, identity `%s`; %s):\n\n| step | caller → callee revision | calls | mTLS-proven | unexpected | not mTLS |\n|---|---|---:|---:|---:|---:|\n",
			md(s.Name), md(s.InMesh.Namespace), md(s.InMesh.Identity), md(s.InMesh.ViaText()))
		for _, p := range s.InMesh.Pairs {
			fmt.Fprintf(&b, "| %s | %s → %s | %d | %d | %d | %d |\n", md(p.Phase), md(revisionLabel(p.From)), md(revisionLabel(p.To)), p.Requests, p.Proven(), p.Failures, p.NotMTLS)
		}
		for _, id := range slices.Sorted(maps.Keys(s.InMesh.Peers)) {
			fmt.Fprintf(&b, "\nCaller identity the callee saw: `%s` (%d calls)\n", md(id), s.InMesh.Peers[id])
		}
	}
	writeInjection(&b, run)
	if ws := windowRows(run); len(ws) > 0 {
		b.WriteString("\n| disruption or outage | what | start | duration | state | sent in it |\n|---|---|---:|---:|---|---|\n")
		for _, w := range ws {
			fmt.Fprintf(&b, "| %s | %s | %.1fs | %.1fs | %s | %s |\n", md(w.Name), md(w.What), w.StartMs/1000, w.DurationMs()/1000, md(w.State()), md(strings.Join(w.Streams, "; ")))
		}
	}
	var groups []summary.FailureGroup
	for _, s := range run.Streams {
		groups = append(groups, s.FailureGroups...)
	}
	if len(groups) > 0 {
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].FirstMs < groups[j].FirstMs })
		more := 0
		if len(groups) > 10 {
			groups, more = groups[:10], len(groups)-10
		}
		b.WriteString("\n<details><summary>Failures</summary>\n\n| count | first | last | stream | step | error |\n|---:|---:|---:|---|---|---|\n")
		for _, g := range groups {
			step := g.Phase
			if d := during(run, g); d != "" {
				step += " (" + d + ")"
			}
			fmt.Fprintf(&b, "| %d | %.3fs | %.3fs | %s | %s | %s |\n", g.Count, g.FirstMs/1000, g.LastMs/1000, md(g.Stream), md(step), md(g.Error))
		}
		if more > 0 {
			fmt.Fprintf(&b, "\n… and %d more groups (report.html lists them all)\n", more)
		}
		b.WriteString("\n</details>\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeInjection lists what injection changed for each workload a namespace move restarted (the records
// moveNamespace makes), folded: the job summary's reader opens it when the injectionUnchanged gate failed or
// to see what the upgrade changes in every pod.
func writeInjection(b *strings.Builder, run *summary.Run) {
	var recs []summary.Check
	for _, c := range run.Checks {
		if c.Kind == scenarios.RecordInjectionDiff {
			recs = append(recs, c)
		}
	}
	if len(recs) == 0 {
		return
	}
	b.WriteString("\n<details><summary>What injection changed</summary>\n")
	for _, c := range recs {
		fmt.Fprintf(b, "\n**%s** (%s): %s\n\n", md(strings.TrimPrefix(c.Name, "injection ")), md(c.Phase), md(c.Summary))
		for _, e := range c.Evidence {
			fmt.Fprintf(b, "- `%s`\n", strings.ReplaceAll(e, "`", "'"))
		}
	}
	b.WriteString("\n</details>\n")
}

// revisionLabel names a revision in a matrix; "" is a pod with no proxy (or none reported).
func revisionLabel(r string) string {
	if r == "" {
		return "no proxy"
	}
	return r
}

func verdictIcon(v string) string {
	switch v {
	case summary.VerdictPass:
		return "✅"
	case summary.VerdictRolledBack:
		return "↩️"
	}
	return "❌"
}

// checkLabel names a check as a reader needs it: a mid-run check by its step, since the same gate may be
// judged at several points of the run (a final noUnexpectedStatus and one in a step).
func checkLabel(c summary.Check) string {
	if c.Phase != "" {
		return c.Name + " (at step " + c.Phase + ")"
	}
	return c.Name
}

func passFail(ok bool) string {
	if ok {
		return "✅ pass"
	}
	return "❌ fail"
}

func codes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		label := k
		if k == "0" {
			label = "error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", label, m[k]))
	}
	return strings.Join(parts, " ")
}

// md makes text from outside safe in a markdown table cell: no raw HTML, no table breaks, one line.
var mdReplacer = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;", "\n", " ", "\r", " ", "`", "'")

func md(s string) string {
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return mdReplacer.Replace(s)
}

// checkResult is a check's result cell: its Mark with a glyph, or the decision it made.
func checkResult(c summary.Check) string {
	if c.Decision {
		return "↩️ decided: rolled back"
	}
	switch c.Mark() {
	case "error":
		return "⚠️ error"
	case "n/a":
		return "➖ n/a"
	default:
		return passFail(c.Passed)
	}
}
