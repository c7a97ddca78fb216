package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is where a node stood in its scenario file. Structs of the model carry one (field Pos) so that
// validation, which runs after decoding, can still point at the right line.
type Pos struct {
	Line, Column int
	// Fields holds the position of each key of the mapping this struct was decoded from.
	Fields map[string]Pos `json:"-"`
}

// Field returns the position of key within the mapping, or the mapping's own position when the key is absent
// (the right place to complain about a missing field).
func (p Pos) Field(key string) Pos {
	if f, ok := p.Fields[key]; ok {
		return f
	}
	return Pos{Line: p.Line, Column: p.Column}
}

// FieldError is one problem in a scenario file.
type FieldError struct {
	File string
	Pos  Pos
	// Path is the field path, e.g. "steps[2].run.command".
	Path string
	// Msg says what was wrong and what was expected.
	Msg string
}

func (e FieldError) Error() string {
	loc := e.File
	if e.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Pos.Line, e.Pos.Column)
	}
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
}

// InvalidError lists every problem found in one scenario file. Callers map it to "bad input".
type InvalidError struct {
	File   string
	Errors []FieldError
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s) in scenario", e.File, len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// IsInvalid reports whether err is (or wraps) a scenario validation error.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

// problems collects FieldErrors for one file.
type problems struct {
	file string
	errs []FieldError
}

func (p *problems) add(pos Pos, path, format string, args ...any) {
	// One problem per field: a value that did not decode is not also reported as, say, "0s is not positive".
	for _, e := range p.errs {
		if path != "" && e.Path == path {
			return
		}
	}
	p.errs = append(p.errs, FieldError{File: p.file, Pos: Pos{Line: pos.Line, Column: pos.Column}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		if p.errs[i].Pos.Line != p.errs[j].Pos.Line {
			return p.errs[i].Pos.Line < p.errs[j].Pos.Line
		}
		return p.errs[i].Pos.Column < p.errs[j].Pos.Column
	})
	return &InvalidError{File: p.file, Errors: p.errs}
}

// Problems is handed to specs' Validate methods: it records problems against the scenario file.
type Problems struct{ p *problems }

// Add records a problem at pos for the field path.
func (v Problems) Add(pos Pos, path, format string, args ...any) { v.p.add(pos, path, format, args...) }
