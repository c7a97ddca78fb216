package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/canarygate/canarygate/summary"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func secs(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }

// WriteJUnit writes the run as JUnit XML: one testsuite for the run, a testcase per step and per check.
func WriteJUnit(w io.Writer, run *summary.Run, _ Config) error {
	suite := junitSuite{
		Name:      "canarygate/" + run.Scenario,
		Time:      secs(run.DurationMs),
		Timestamp: run.Started.Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{Name: "verdict", Value: run.Verdict},
			{Name: "scenario.file", Value: run.ScenarioFile},
			{Name: "canarygate.version", Value: run.ToolVersion},
			{Name: "requests", Value: fmt.Sprint(run.TotalRequests())},
			{Name: "unexpected", Value: fmt.Sprint(run.TotalFailures())},
		},
	}
	if run.Error != "" {
		suite.SystemOut = "harness error: " + run.Error
	}
	if run.Error != "" && !anySaturated(run) {
		// An error attribute needs the error it counts: a testcase of its own, with the harness's message.
		suite.Cases = append(suite.Cases, junitCase{Name: "harness", Classname: run.Scenario + ".harness", Time: "0.000",
			Error: &junitMessage{Message: firstLine(run.Error), Type: "harness", Text: run.Error}})
		suite.Errors++
	}
	for _, r := range rows(run) {
		if !r.IsStep() {
			continue
		}
		tc := junitCase{Name: r.Name, Classname: run.Scenario + ".steps", Time: secs(r.DurationMs()), SystemOut: r.Output}
		detail := stepDetail(r)
		switch r.Outcome {
		case summary.OutcomePassed:
		case summary.OutcomeSkipped, summary.OutcomeNotRun:
			tc.Skipped = &junitMessage{Message: r.Outcome + ": " + cmp.Or(firstLine(r.Error), "an earlier step failed or the run was interrupted")}
			suite.Skipped++
		case summary.OutcomeError:
			// canarygate's own fault: a JUnit error, not a failure of the target.
			tc.Error = &junitMessage{Message: firstLine(r.Error), Type: "harness", Text: detail}
			suite.Errors++
		default:
			msg := firstLine(r.Error)
			if r.Outcome == summary.OutcomeRunning {
				msg = cmp.Or(msg, "still running when canarygate exited at once (a second signal): its outcome is unknown")
			}
			tc.Failure = &junitMessage{Message: cmp.Or(msg, r.Outcome), Type: r.Outcome, Text: detail}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	for _, c := range run.Checks {
		suite.Cases = append(suite.Cases, checkCase(&suite, run, c))
	}
	// One testcase per stream's load generator: an error (not a failure) when it could not do what was asked,
	// so test reporters show the run as broken rather than the target as failing.
	for _, s := range run.Streams {
		g := s.Generator
		suite.Properties = append(suite.Properties, junitProperty{Name: "stream." + s.Name + ".rps", Value: fmt.Sprintf("%.1f achieved of %s asked", g.AchievedRPS, s.Rate)})
		tc := junitCase{Name: "load generator: " + s.Name, Classname: run.Scenario + ".generator", Time: secs(run.DurationMs),
			SystemOut: generatorLine(s)}
		if g.Saturated {
			tc.Error = &junitMessage{Message: "load generator saturated", Type: "harness", Text: generatorLine(s)}
			suite.Errors++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	return encodeJUnit(w, "canarygate", suite)
}

// encodeJUnit writes one suite wrapped in <testsuites> with the same totals.
func encodeJUnit(w io.Writer, name string, suite junitSuite) error {
	doc := junitSuites{Name: name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func stepDetail(r stepRow) string {
	var b strings.Builder
	if r.Error != "" {
		b.WriteString(r.Error + "\n")
	}
	fmt.Fprintf(&b, "requests during step: %d, unexpected: %d, p99: %.1f ms\n", r.Requests, r.Failures, r.P99)
	for _, d := range r.Diagnostics {
		b.WriteString(d + "\n")
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// generatorLine says in one line how a stream's generator did.
func generatorLine(s summary.Stream) string {
	g := s.Generator
	line := fmt.Sprintf("%d sent, %.1f/s achieved of %s asked; %d late (more than %.0f ms, worst %.0f ms); %d local errors",
		g.Sent, g.AchievedRPS, s.Rate, g.Late, g.LagToleranceMs, g.MaxLagMs, g.LocalErrors)
	if len(g.LocalErrorMessages) > 0 {
		line += " (" + g.LocalErrorMessages[0].Message + ")"
	}
	return line
}

func anySaturated(run *summary.Run) bool {
	for _, s := range run.Streams {
		if s.Generator.Saturated {
			return true
		}
	}
	return false
}

// checkCase is a check's testcase, counted in suite: a failure, skipped when it had nothing to judge (n/a).
func checkCase(suite *junitSuite, run *summary.Run, c summary.Check) junitCase {
	name := "check: " + c.Name
	if c.Phase != "" {
		name += " (during " + c.Phase + ")"
	}
	tc := junitCase{Name: name, Classname: run.Scenario + ".checks", Time: "0.000"}
	switch {
	case c.Error != "":
		// The harness's fault, not the target's: a JUnit error, not a failure.
		tc.Error = &junitMessage{Message: c.Summary, Type: "harness"}
		suite.Errors++
	case c.NotApplicable:
		tc.Skipped = &junitMessage{Message: c.Summary}
		suite.Skipped++
	case !c.Passed:
		var b strings.Builder
		for _, e := range c.Evidence {
			b.WriteString(e + "\n")
		}
		for _, f := range c.Failures {
			fmt.Fprintf(&b, "%s at %.3fs during %q: %s\n", f.Stream, f.AtMs/1000, f.Phase, f.Error)
		}
		tc.Failure = &junitMessage{Message: c.Summary, Type: "check", Text: b.String()}
		suite.Failures++
	default:
		tc.SystemOut = c.Summary
	}
	return tc
}
