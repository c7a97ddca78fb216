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

// WriteAll writes every requested report into dir. It writes all it can and returns every error joined:
// one failing writer must not cost the others.
func WriteAll(dir string, run *summary.Run, cfg Config) error {
	var errs []error
	write := func(name string, fn func(io.Writer) error) {
		var buf bytes.Buffer
		if err := fn(&buf); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", name, err))
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", name, err))
		}
	}
	// JSON first: it is the source every other report can be rendered again from.
	if cfg.wants(scenarios.FormatJSON) {
		write(JSONFile, func(w io.Writer) error { return summary.Encode(w, run) })
	}
	if cfg.wants(scenarios.FormatHTML) {
		write(HTMLFile, func(w io.Writer) error { return WriteHTML(w, run, cfg) })
	}
	if cfg.wants(scenarios.FormatJUnit) {
		write(JUnitFile, func(w io.Writer) error { return WriteJUnit(w, run, cfg) })
	}
	if cfg.wants(scenarios.FormatMarkdown) {
		write(MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, run, cfg) })
		if cfg.StepSummary != "" {
			if err := appendFile(cfg.StepSummary, func(w io.Writer) error { return WriteMarkdown(w, run, cfg) }); err != nil {
				errs = append(errs, fmt.Errorf("append job summary: %w", err))
			}
		}
	}
	return errors.Join(errs...)
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
