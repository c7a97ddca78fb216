// Package streams holds the standard streams commands write to, passed in rather than taken from os.
package streams

import (
	"io"
	"os"
)

// IO is a command's standard streams.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Std is the process's own streams.
func Std() IO { return IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }
