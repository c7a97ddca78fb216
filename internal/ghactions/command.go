package ghactions

import (
	"fmt"
	"io"
	"strings"
)

// Enabled reports whether the process runs as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true).
func Enabled(getenv func(string) string) bool { return getenv("GITHUB_ACTIONS") == "true" }

// Level is an annotation's severity.
type Level string

// Levels GitHub knows.
const (
	Error   Level = "error"
	Warning Level = "warning"
	Notice  Level = "notice"
)

// Annotation is one `::error` (or warning, notice) line: shown on the run's summary page and, with File and
// Line, beside that line of the file in a pull request's diff.
type Annotation struct {
	Level Level
	// Title is the annotation's heading ("check noUnexpectedStatus", "step upgrade").
	Title string
	// File is relative to the repository root (GitHub links it only then); Line and Col start at 1; zero
	// values are left out.
	File      string
	Line, Col int
	Message   string
}

// String is the workflow command, without a newline.
func (a Annotation) String() string {
	var props []string
	add := func(k, v string) { props = append(props, k+"="+EscapeProperty(v)) }
	if a.File != "" {
		add("file", a.File)
		if a.Line > 0 {
			add("line", fmt.Sprint(a.Line))
			if a.Col > 0 {
				add("col", fmt.Sprint(a.Col))
			}
		}
	}
	if a.Title != "" {
		add("title", a.Title)
	}
	level := a.Level
	if level == "" {
		level = Error
	}
	cmd := "::" + string(level)
	if len(props) > 0 {
		cmd += " " + strings.Join(props, ",")
	}
	return cmd + "::" + EscapeData(a.Message)
}

// Write writes each annotation on its own line.
func Write(w io.Writer, as ...Annotation) error {
	for _, a := range as {
		if _, err := fmt.Fprintln(w, a.String()); err != nil {
			return fmt.Errorf("writing annotation: %w", err)
		}
	}
	return nil
}

// EscapeData escapes a command's message: % first (it starts every escape), then the line breaks that would
// end the command.
func EscapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// EscapeProperty escapes a property value: as data, plus the ':' and ',' that separate properties and end
// the property list.
func EscapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
