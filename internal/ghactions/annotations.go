package ghactions

import (
	"errors"
	"strconv"
	"strings"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// Problems turns a scenario that did not load into annotations at the lines at fault: one per problem of an
// invalid file, one per thing this machine lacks (level for those: run refuses them, validate only warns).
// Any other error is one annotation titled title ("bad input"), without a place.
func Problems(err error, title string, notRunnable Level) []Annotation {
	if err == nil {
		return nil
	}
	var inv *scenarios.InvalidError
	if errors.As(err, &inv) {
		out := FieldErrors(inv.Errors, Error)
		if inv.More > 0 {
			out = append(out, Annotation{Level: Error, File: inv.File, Title: title, Message: moreMessage(inv.More)})
		}
		return out
	}
	var nr *scenarios.NotRunnableError
	if errors.As(err, &nr) {
		return FieldErrors(nr.Problems, notRunnable)
	}
	return []Annotation{{Level: Error, Title: title, Message: err.Error()}}
}

func moreMessage(n int) string {
	if n == 1 {
		return "… and 1 more problem"
	}
	return "… and " + strconv.Itoa(n) + " more problems"
}

// FieldErrors annotates each problem at its file, line and column, titled with its field path.
func FieldErrors(fes []scenarios.FieldError, level Level) []Annotation {
	out := make([]Annotation, 0, len(fes))
	for _, fe := range fes {
		title := fe.Path
		if title == "" {
			title = "scenario"
		}
		out = append(out, Annotation{Level: level, Title: title, File: fe.File, Line: fe.Pos.Line, Col: fe.Pos.Column, Message: fe.Msg})
	}
	return out
}

// Run annotates what a finished run failed on: each failed check ("check NAME": its summary and the steps it
// blames) and each step that did not pass ("step NAME": its outcome and error). What the run decided on
// purpose — a check step whose failure sent it down its rollback branch — is a warning, not an error: the
// verdict ("rolled back") is its own error line. A run that did not pass gets one line more with the
// headline, so a failure is never without an annotation.
func Run(r *summary.Run, headline string) []Annotation {
	var out []Annotation
	for _, c := range r.Checks {
		if c.Passed {
			continue
		}
		a := Annotation{Level: Error, Title: "check " + c.Name, Message: c.Summary}
		if c.Decision {
			a.Level = Warning
		}
		if c.Phase != "" {
			a.Message += " (at step " + c.Phase + ")"
		}
		if len(c.Steps) > 0 {
			a.Message += " — during " + strings.Join(c.Steps, ", ")
		}
		out = append(out, a)
	}
	for i, p := range r.Phases {
		if !p.IsStep() || !stepFailed(p.Outcome) {
			continue
		}
		a := Annotation{Level: Error, Title: "step " + p.Name, Message: p.Outcome}
		if r.Decided(i) {
			a.Level = Warning
		}
		if p.Error != "" {
			a.Message += ": " + p.Error
		}
		out = append(out, a)
	}
	if r.Verdict != summary.VerdictPass {
		out = append(out, Annotation{Level: Error, Title: "canarygate " + r.Verdict, Message: headline})
	}
	return out
}

// stepFailed: the outcomes that are a step's own failure or kept it from finishing (not "not run" or
// "skipped": those say why elsewhere, and annotating each would bury the one that matters).
func stepFailed(outcome string) bool {
	switch outcome {
	case summary.OutcomeFailed, summary.OutcomeTimedOut, summary.OutcomeError, summary.OutcomeInterrupted:
		return true
	}
	return false
}
