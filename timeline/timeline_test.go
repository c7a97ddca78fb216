package timeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhaseAtMapsEveryOffsetToTheOpenPhaseAtThatTime(t *testing.T) {
	t.Parallel()
	start := time.Now()
	now := start
	tl := NewAt(start, func() time.Time { return now })

	_, ok := tl.PhaseAt(start.Add(-time.Millisecond))
	assert.False(t, ok, "nothing before the first phase")

	tl.Begin("warm-up", KindWarmup)
	now = start.Add(2 * time.Second)
	tl.Begin("upgrade", KindStep)
	now = start.Add(5 * time.Second)
	tl.Begin("cool-down", KindCooldown)
	now = start.Add(6 * time.Second)
	tl.End()

	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{0, "warm-up"}, {1999 * time.Millisecond, "warm-up"}, {2 * time.Second, "upgrade"},
		{4999 * time.Millisecond, "upgrade"}, {5 * time.Second, "cool-down"}, {time.Hour, "cool-down"},
	} {
		i, ok := tl.PhaseAt(start.Add(tc.at))
		require.True(t, ok)
		assert.Equal(t, tc.want, tl.Phase(i).Name, "offset %s", tc.at)
	}
	ph := tl.Phases()
	require.Len(t, ph, 3)
	assert.Equal(t, 2*time.Second, ph[0].End)
	assert.Equal(t, ph[0].End, ph[1].Start, "phases are contiguous")
	assert.False(t, ph[2].Open)
	assert.Equal(t, 6*time.Second, ph[2].End)
}
