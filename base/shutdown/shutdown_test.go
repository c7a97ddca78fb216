package shutdown

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRunRunsEveryHookOnceAndRemovedOnesNot(t *testing.T) {
	var h Hooks
	var a, b atomic.Int32
	h.Add(func() { a.Add(1) })
	remove := h.Add(func() { b.Add(1) })
	remove()
	assert.True(t, h.Run(time.Minute))
	assert.EqualValues(t, 1, a.Load())
	assert.Zero(t, b.Load())
}

func TestRunDoesNotWaitPastItsDeadlineForAStuckHook(t *testing.T) {
	var h Hooks
	release := make(chan struct{})
	defer close(release)
	var fast atomic.Bool
	h.Add(func() { <-release })
	h.Add(func() { fast.Store(true) })
	assert.False(t, h.Run(50*time.Millisecond), "a hook that never returns is reported, not waited for")
	assert.True(t, fast.Load(), "the others ran concurrently")
}

func TestNilHooksAcceptAndIgnore(t *testing.T) {
	var h *Hooks
	h.Add(func() { t.Fatal("must not run") })()
	assert.True(t, h.Run(time.Millisecond))
}
