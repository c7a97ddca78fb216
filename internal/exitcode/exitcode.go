// Package exitcode maps canarygate's outcomes to process exit codes, in one place.
package exitcode

import (
	"context"
	"errors"
)

// Exit codes, documented in README and --help.
const (
	OK          = 0   // every gate passed
	GateFailed  = 1   // a gate failed
	BadInput    = 2   // bad scenario or flags
	Harness     = 3   // infrastructure or harness error
	Interrupted = 130 // interrupted (reports were written)
)

// Help is the exit code table as --help shows it.
const Help = `Exit codes:
  0    every gate passed
  1    a gate failed
  2    bad input (scenario, flags)
  3    infrastructure or harness error
  130  interrupted (after writing reports)`

// Error carries an exit code with an error. Commands return it; main maps it once.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// With wraps err with an exit code.
func With(code int, err error) error { return &Error{Code: code, Err: err} }

// Silent is an exit code whose message was already shown (the verdict lines).
func Silent(code int) error { return &Error{Code: code} }

// Of returns the exit code for err: nil is OK, an *Error its code, interruption 130, anything else 3.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Harness
}
