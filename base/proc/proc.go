// Package proc answers questions about local processes for canarygate's tests (and nothing else): whether a
// process a step started is still alive, and a child's output read while it runs (Output).
package proc

import (
	"os"
	"strconv"
	"strings"
)

// Alive reports whether pid is a live process. A zombie is not: it has ended and only waits to be reaped
// (by init, once its parent — a canarygate that exited — is gone).
func Alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
