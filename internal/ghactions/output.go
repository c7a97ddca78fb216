package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// SetOutput appends a step output to the file GITHUB_OUTPUT names (nothing when it is unset: not a step).
// A value with a line break is written in the heredoc form, with a random delimiter it cannot contain.
func SetOutput(getenv func(string) string, name, value string) error {
	path := getenv("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	line := name + "=" + value + "\n"
	if strings.ContainsAny(value, "\r\n") {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
		delim := "ghadelimiter_" + hex.EncodeToString(b)
		line = name + "<<" + delim + "\n" + value + "\n" + delim + "\n"
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("output %s: %w", name, err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("output %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("output %s: %w", name, err)
	}
	return nil
}
