package proc

import (
	"bytes"
	"sync"
)

// Output is a child process's output, safe to read while the process writes it: a test watches a running
// canarygate's stderr for the line that says it may now be interrupted, killed or checked.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p (the child's writes, through exec.Cmd's copying goroutine).
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
