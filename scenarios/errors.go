package scenarios

import (
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

// MaxProblems is how many problems of one file are kept and printed. A file of 100 000 unknown keys is one
// mistake (the wrong file, or a generator gone wrong): listing them all helps nobody and costs time and memory.
const MaxProblems = 100

// InvalidError lists the problems found in one scenario file (at most MaxProblems; More counts the rest).
// Callers map it to "bad input".
type InvalidError struct {
	File   string
	Errors []FieldError
	// More is how many further problems were found but not kept.
	More int
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s) in scenario", e.File, len(e.Errors)+e.More)
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", e.More)
	}
	return b.String()
}

// problems collects FieldErrors for one file. Adding one costs O(1), so that validation stays linear in the
// size of the file however many problems it has.
type problems struct {
	file string
	errs []FieldError
	// notRunnable are problems of this machine, not of the scenario (a step's command not on PATH): validate
	// warns, run refuses before anything starts.
	notRunnable []FieldError
	// paths holds the field paths that already have a problem.
	paths map[string]bool
	more  int
	// unset holds the declared variables left as ${NAME} placeholders (Vars.Lenient): a problem about a
	// value holding one is about a value nobody has given yet, not checked (validate says so per variable).
	unset map[string]bool
}

func (p *problems) add(pos Pos, path, format string, args ...any) {
	// One problem per field: a value that did not decode is not also reported as, say, "0s is not positive".
	if path != "" {
		if p.paths[path] {
			return
		}
		if p.paths == nil {
			p.paths = map[string]bool{}
		}
		p.paths[path] = true
	}
	msg := fmt.Sprintf(format, args...)
	for name := range p.unset {
		if strings.Contains(msg, "${"+name+"}") {
			return
		}
	}
	if len(p.errs) >= MaxProblems {
		p.more++
		return
	}
	p.errs = append(p.errs, FieldError{File: p.file, Pos: Pos{Line: pos.Line, Column: pos.Column}, Path: path, Msg: msg})
}

// full reports whether no further problem will be kept (only counted).
func (p *problems) full() bool { return len(p.errs) >= MaxProblems }

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
	return &InvalidError{File: p.file, Errors: p.errs, More: p.more}
}

// Problems is handed to specs' Validate methods: it records problems against the scenario file.
type Problems struct{ p *problems }

// Add records a problem at pos for the field path.
func (v Problems) Add(pos Pos, path, format string, args ...any) { v.p.add(pos, path, format, args...) }

// NotRunnable records what keeps the scenario from running on this machine, though it is valid (a step's
// command not on PATH): a lint job elsewhere can still check it. Scenario.NotRunnable lists them.
func (v Problems) NotRunnable(pos Pos, path, format string, args ...any) {
	v.p.notRunnable = append(v.p.notRunnable, FieldError{File: v.p.file, Pos: Pos{Line: pos.Line, Column: pos.Column}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// NotRunnableError is what keeps a valid scenario from running here: bad input for run, a warning for validate.
type NotRunnableError struct {
	File     string
	Problems []FieldError
}

func (e *NotRunnableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: cannot run on this machine (%d problem(s); validate passes it)", e.File, len(e.Problems))
	for _, fe := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}
