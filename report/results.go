package report

import (
	"bufio"
	"fmt"
	"os"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ResultsFile writes results in vegeta's gob encoding, which `vegeta report` and `vegeta plot` read, as
// they come (the "vegeta" format: the harness streams every result into it). Safe for concurrent use.
type ResultsFile struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	enc    vegeta.Encoder
	closed bool
}

// NewResultsFile creates the file.
func NewResultsFile(path string) (*ResultsFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create results file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &ResultsFile{f: f, w: w, enc: vegeta.NewEncoder(w)}, nil
}

// Write appends one result.
func (s *ResultsFile) Write(r *vegeta.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	// Successful bodies and response headers are not evidence of anything and would make the file grow
	// with every request; failures keep what the server said.
	if r.Code >= 200 && r.Code < 400 {
		r.Body = nil
	}
	r.Headers = nil
	return s.enc.Encode(r)
}

// Flush makes what was written so far readable in the file (an exit at once).
func (s *ResultsFile) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.w.Flush()
}

// Close flushes and closes the file; later writes are dropped.
func (s *ResultsFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.w.Flush(); err != nil {
		s.f.Close()
		return fmt.Errorf("write results file: %w", err)
	}
	return s.f.Close()
}
