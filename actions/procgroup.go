package actions

import (
	"errors"
	"sync"
	"syscall"
)

// groups holds the process groups that run steps started and that may still have members: the command's
// children (a script's kubectl, a daemon it left behind) live on in its group after the command itself ended.
// KillStarted ends them all, so that no process a step started outlives canarygate.
var groups = &procGroups{live: map[int]bool{}}

type procGroups struct {
	mu   sync.Mutex
	live map[int]bool
}

func (g *procGroups) add(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[pgid] = true
}

// settle forgets a group once it has no member left: its id may then be reused by an unrelated process.
func (g *procGroups) settle(pgid int) {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		g.mu.Lock()
		delete(g.live, pgid)
		g.mu.Unlock()
	}
}

// KillStarted sends SIGKILL to every process group a run step started that still has members, and returns
// how many it signalled. The harness calls it when the run ends; the CLI when it exits at once.
func KillStarted() int {
	groups.mu.Lock()
	defer groups.mu.Unlock()
	n := 0
	for pgid := range groups.live {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
			n++
		}
		delete(groups.live, pgid)
	}
	return n
}
