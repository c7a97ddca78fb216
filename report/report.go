// Package report renders a run (summary.Run) as the reports users read: one self-contained HTML file, JUnit
// XML for test reporters, the JSON summary, and a markdown summary for GitHub's job summary. Every writer is a
// pure function of the run, so the same files are written whether the run passed, failed or was interrupted,
// and `canarygate report DIR` renders them again from the JSON summary.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// File names inside a run directory.
const (
	HTMLFile     = "report.html"
	JUnitFile    = "junit.xml"
	MarkdownFile = "summary.md"
	JSONFile     = summary.FileName
)

// Config says which reports to write.
type Config struct {
	// Formats lists the formats to write (scenarios.Format*); empty means all.
	Formats []string
	// StepSummary, when set, is a file the markdown summary is appended to ($GITHUB_STEP_SUMMARY).
	StepSummary string
	// MaxChartPoints bounds the points of each chart series (LTTB downsampling); 0 means DefaultMaxChartPoints.
	MaxChartPoints int
}

// DefaultMaxChartPoints keeps an hour-long run's charts light.
const DefaultMaxChartPoints = 600

func (c Config) wants(f string) bool { return len(c.Formats) == 0 || slices.Contains(c.Formats, f) }

func init() {
	// Registration order is the order of scenarios.AllFormats (the default) and of `--format` help.
	Register(scenarios.FormatHTML, Format{File: HTMLFile, Write: WriteHTML})
	Register(scenarios.FormatJUnit, Format{File: JUnitFile, Write: WriteJUnit})
	Register(scenarios.FormatJSON, Format{File: JSONFile, Write: func(w io.Writer, run *summary.Run, _ Config) error { return summary.Encode(w, run) }})
	Register(scenarios.FormatMarkdown, Format{File: MarkdownFile, Write: WriteMarkdown, Also: appendStepSummary})
	// vegeta's own encoding of every result: written while the run goes (ResultsFile), not rendered here.
	Register(scenarios.FormatVegeta, Format{File: summary.ResultsFileName})
}

// Format is one report format: the file it writes and how.
type Format struct {
	// File is its name in the run directory.
	File string
	// Write renders the run; nil for a format written while the run goes (the vegeta results).
	Write func(w io.Writer, run *summary.Run, cfg Config) error
	// Also, when set, runs after Write (the markdown summary's copy into $GITHUB_STEP_SUMMARY).
	Also func(run *summary.Run, cfg Config) error
}

type namedFormat struct {
	name string
	Format
}

// formats are the registered formats in registration order, written only from package init functions.
var formats []namedFormat

// Register makes a report format known to the scenario parser (report.formats, --format) and to WriteAll, in
// one call. It panics on a duplicate name.
func Register(name string, f Format) {
	for _, g := range formats {
		if g.name == name {
			panic("report: format registered twice: " + name)
		}
	}
	scenarios.RegisterFormat(name)
	formats = append(formats, namedFormat{name, f})
}

// Formats lists the registered formats by name, with their files.
func Formats() map[string]Format {
	out := make(map[string]Format, len(formats))
	for _, f := range formats {
		out[f.name] = f.Format
	}
	return out
}

// WriteAll writes every requested report into dir. It writes all it can and returns every error joined,
// each naming its file: one failing writer must not cost the others. JSON goes first: it is the source every
// other report can be rendered again from.
func WriteAll(dir string, run *summary.Run, cfg Config) error {
	var files []File
	var also []func() error
	for _, f := range formats {
		if f.Write == nil || !cfg.wants(f.name) {
			continue
		}
		file := File{Name: f.File, Render: func(w io.Writer) error { return f.Write(w, run, cfg) }}
		if f.name == scenarios.FormatJSON {
			files = slices.Insert(files, 0, file)
		} else {
			files = append(files, file)
		}
		if f.Also != nil {
			also = append(also, func() error { return f.Also(run, cfg) })
		}
	}
	errs := []error{WriteFiles(dir, files)}
	for _, fn := range also {
		errs = append(errs, fn())
	}
	return errors.Join(errs...)
}

// File is one file to render into a directory.
type File struct {
	Name   string
	Render func(io.Writer) error
}

// WriteFiles renders each file into dir, in order, through a buffer (a file that fails to render is not
// left half-written). It writes all it can and returns every error joined, each naming its file: one failing
// writer must not cost the others. dir is created when missing.
func WriteFiles(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var errs []error
	for _, f := range files {
		var buf bytes.Buffer
		if err := f.Render(&buf); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f.Name, err))
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), buf.Bytes(), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", f.Name, err))
		}
	}
	return errors.Join(errs...)
}

// AppendJobSummary appends a rendered markdown to the job summary file ($GITHUB_STEP_SUMMARY) when there is
// one.
func AppendJobSummary(path string, render func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	if err := appendFile(path, render); err != nil {
		return fmt.Errorf("append job summary %s: %w", path, err)
	}
	return nil
}

// appendStepSummary appends the markdown summary to $GITHUB_STEP_SUMMARY when the run was given one.
func appendStepSummary(run *summary.Run, cfg Config) error {
	return AppendJobSummary(cfg.StepSummary, func(w io.Writer) error { return WriteMarkdown(w, run, cfg) })
}

func appendFile(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stepRow is a phase with its traffic, as the tables show it.
type stepRow struct {
	summary.Phase
	Requests int64
	Failures int64
	P99      float64
	Codes    map[string]int64
	// AchievedRPS and AskedRPS are the phase's rates over every stream (asked: 0 when a stream is rate max).
	AchievedRPS, AskedRPS float64
}

// RateText is "achieved/asked" per second ("" for a phase without traffic or duration).
func (r stepRow) RateText() string {
	if r.DurationMs() <= 0 || r.Requests == 0 {
		return ""
	}
	if r.AskedRPS <= 0 {
		return fmt.Sprintf("%.1f/s", r.AchievedRPS)
	}
	return fmt.Sprintf("%.1f/%.0f/s", r.AchievedRPS, r.AskedRPS)
}

func rows(run *summary.Run) []stepRow {
	out := make([]stepRow, len(run.Phases))
	for i, p := range run.Phases {
		r := stepRow{Phase: p, Codes: map[string]int64{}}
		for _, s := range run.Streams {
			if i >= len(s.PerPhase) {
				continue
			}
			ps := s.PerPhase[i]
			r.Requests += ps.Requests
			r.Failures += ps.Failures
			r.AskedRPS += s.Generator.AskedRPS
			r.P99 = max(r.P99, ps.Latency.P99)
			for c, n := range ps.Codes {
				r.Codes[c] += n
			}
		}
		if d := p.DurationMs(); d > 0 {
			r.AchievedRPS = float64(r.Requests) / (d / 1000)
		}
		out[i] = r
	}
	return out
}

func outcomeLabel(p summary.Phase) string {
	if p.Outcome == "" {
		return "load"
	}
	return p.Outcome
}

// windowRow is a disruption window with what each stream measured in it.
type windowRow struct {
	summary.Window
	// Streams says, per stream, the requests sent in the window and how many were unexpected.
	Streams []string
	// Failures is the unexpected responses of every stream in the window.
	Failures int64
}

// DurationMs is how long the window lasted.
func (w windowRow) DurationMs() float64 { return w.EndMs - w.StartMs }

// State says whether the disruption was undone.
func (w windowRow) State() string {
	switch {
	case w.Open:
		return "still in effect"
	case w.Restored:
		return "restored"
	default:
		return "NOT restored: " + w.RestoreError
	}
}

func windowRows(run *summary.Run) []windowRow {
	out := make([]windowRow, len(run.Windows))
	for i, w := range run.Windows {
		r := windowRow{Window: w}
		for _, s := range run.Streams {
			if i < len(s.PerWindow) {
				st := s.PerWindow[i]
				r.Failures += st.Failures
				r.Streams = append(r.Streams, fmt.Sprintf("%s: %d sent, %d unexpected", s.Name, st.Requests, st.Failures))
			}
		}
		out[i] = r
	}
	return out
}

// during names the windows a failure group's span overlaps ("" when none): a failure is the step's, and —
// when it was sent while a disruption or an outage was in effect — the window's too.
func during(run *summary.Run, g summary.FailureGroup) string {
	return run.WindowLabels(g.FirstMs, g.LastMs)
}
