package harness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/canarygate/canarygate/internal/testserver"
)

// A run's ID goes into a label value (meshload.RunLabel) and is typed back by hand (cleanup --run): it must
// be a valid label value, and two runs started in the same second must not share one.
func TestRunIDsAreLabelValuesAndDiffer(t *testing.T) {
	now := time.Date(2026, 12, 6, 11, 48, 21, 0, time.UTC)
	a, b := NewRunID(now), NewRunID(now)
	assert.Empty(t, validation.IsValidLabelValue(a), a)
	assert.Regexp(t, `^20261206-114821-[0-9a-f]{4}$`, a)
	// 1 in 65536 that two draws collide: draw again rather than flake.
	for i := 0; a == b && i < 3; i++ {
		b = NewRunID(now)
	}
	assert.NotEqual(t, a, b)
}

// The run's ID is in its record (summary.json), where a user finds it for cleanup; one is made when the
// caller gave none.
func TestTheRunIDIsRecorded(t *testing.T) {
	srv := testserver.New(time.Second)
	defer srv.Close()
	sc := parse(t, `name: s
recordOnly: true
traffic:
  warmup: 50ms
  cooldown: 50ms
  streams: [{name: a, url: "`+srv.URL+`/", rate: 20/s}]
steps:
  - {name: s, soak: {duration: 50ms}}
`)
	res, err := Run(context.Background(), sc, Options{OutDir: t.TempDir(), RunID: "given-1"})
	require.NoError(t, err)
	assert.Equal(t, "given-1", res.Run.RunID)
	res, err = Run(context.Background(), sc, Options{OutDir: t.TempDir()})
	require.NoError(t, err)
	assert.Regexp(t, `^\d{8}-\d{6}-[0-9a-f]{4}$`, res.Run.RunID)
}
