package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/canarygate/canarygate/summary"
)

// WriteMarkdown writes a short summary for GitHub's job summary: verdict, checks, steps, first failures.
func WriteMarkdown(w io.Writer, run *summary.Run, _ Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s canarygate: %s — %s\n\n", verdictIcon(run.Verdict), md(run.Scenario), strings.ToUpper(run.Verdict))
	fmt.Fprintf(&b, "%d requests, %d unexpected, %.1fs, started %s.\n\n", run.TotalRequests(), run.TotalFailures(), run.DurationMs/1000, run.Started.Format("2006-01-02 15:04:05 UTC"))
	if run.Error != "" {
		fmt.Fprintf(&b, "> **Harness error:** %s\n\n", md(run.Error))
	}
	if run.Interrupted {
		b.WriteString("> **Interrupted:** the run was stopped before it finished; the numbers cover what was measured.\n\n")
	}
	b.WriteString("| check | result | summary |\n|---|---|---|\n")
	for _, c := range run.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", md(c.Name), passFail(c.Passed), md(c.Summary))
	}
	b.WriteString("\n| step | outcome | start | duration | requests | unexpected | p99 (ms) | status codes |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows(run) {
		fmt.Fprintf(&b, "| %s | %s | %.1fs | %.1fs | %d | %d | %.1f | %s |\n", md(r.Name), outcomeLabel(r.Phase), r.StartMs/1000, r.DurationMs()/1000, r.Requests, r.Failures, r.P99, md(codes(r.Codes)))
	}
	var failures []summary.Failure
	for _, s := range run.Streams {
		failures = append(failures, s.FirstFailures...)
	}
	if len(failures) > 0 {
		sort.Slice(failures, func(i, j int) bool { return failures[i].AtMs < failures[j].AtMs })
		if len(failures) > 10 {
			failures = failures[:10]
		}
		b.WriteString("\n<details><summary>First failures</summary>\n\n| time | stream | step | error |\n|---:|---|---|---|\n")
		for _, f := range failures {
			fmt.Fprintf(&b, "| %.3fs | %s | %s | %s |\n", f.AtMs/1000, md(f.Stream), md(f.Phase), md(f.Error))
		}
		b.WriteString("\n</details>\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func verdictIcon(v string) string {
	if v == summary.VerdictPass {
		return "✅"
	}
	return "❌"
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
