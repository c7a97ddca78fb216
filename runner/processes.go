package runner

import (
	"errors"
	"sync"
	"syscall"
)

// Processes are the process groups a run's steps started that may still have members: a command's children
// (a script's kubectl, a daemon it left behind) live on in its group after the command itself ended.
// KillAll ends them, so that no process a step started outlives its run. One per run: two runs in one
// process (tests, a library caller) never kill each other's. A nil *Processes keeps nothing.
type Processes struct {
	mu   sync.Mutex
	live map[int]bool
}

// Add records a process group a step started.
func (p *Processes) Add(pgid int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live == nil {
		p.live = map[int]bool{}
	}
	p.live[pgid] = true
}

// Settle forgets a group once it has no member left: its id may then be reused by an unrelated process.
func (p *Processes) Settle(pgid int) {
	if p == nil {
		return
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		p.mu.Lock()
		delete(p.live, pgid)
		p.mu.Unlock()
	}
}

// KillAll sends SIGKILL to every recorded process group that still has members, and returns how many it
// signalled. The harness calls it when the run ends, and when canarygate exits at once.
func (p *Processes) KillAll() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pgid := range p.live {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
			n++
		}
		delete(p.live, pgid)
	}
	return n
}
