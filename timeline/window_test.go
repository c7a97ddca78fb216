package timeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarygate/canarygate/timeline"
)

// Windows overlap phases: a time falls in every window open at it, and a window still open holds every time
// after its start; a closed one ends where it closed.
func TestWindowsOverlapPhasesAndHoldWhatWasSentInThem(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	tl := timeline.NewAt(start, func() time.Time { return now })
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	tl.Begin("warmup", timeline.KindWarmup)
	now = at(2)
	tl.Begin("move", timeline.KindStep)
	a := tl.OpenWindow(timeline.Window{Name: "istiod-down", Kind: "disruption"})
	now = at(3)
	b := tl.OpenWindow(timeline.Window{Name: "pause"})
	tl.WindowEvent(b, "paused node %s", "n1")
	assert.Equal(t, []int{0, 1}, tl.WindowsAt(nil, at(3.5)), "both open")
	assert.Equal(t, []int{0}, tl.WindowsAt(nil, at(2.5)))
	assert.Empty(t, tl.WindowsAt(nil, at(1.9)), "before the first window")
	now = at(4)
	tl.CloseWindow(b, nil)
	now = at(6)
	tl.Begin("next", timeline.KindStep)
	tl.CloseWindow(a, assertErr("deployment gone"))
	assert.Equal(t, []int{0}, tl.WindowsAt(nil, at(5)), "b closed at 4 s; a holds to 6 s over the next step")
	assert.Empty(t, tl.WindowsAt(nil, at(6)), "a closed at 6 s (its end excluded)")
	ws := tl.Windows()
	require.Len(t, ws, 2)
	assert.Equal(t, 2*time.Second, ws[0].Start)
	assert.Equal(t, 6*time.Second, ws[0].End)
	assert.False(t, ws[0].Restored)
	assert.Equal(t, "deployment gone", ws[0].RestoreErr)
	assert.True(t, ws[1].Restored)
	assert.Equal(t, []string{"3.0s: paused node n1"}, ws[1].Events)
	ws[1].Events[0] = "changed"
	assert.Equal(t, "3.0s: paused node n1", tl.Windows()[1].Events[0], "Windows returns copies")
}

type assertErr string

func (e assertErr) Error() string { return string(e) }
