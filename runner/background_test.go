package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A nil Background runs nothing (the caller must not disrupt anything it cannot hold); Wait joins the pieces'
// errors, and returns only once every piece has ended; an ended run context reaches every piece.
func TestBackgroundHoldsItsPiecesUntilTheyEnd(t *testing.T) {
	var none *Background
	ran := false
	require.ErrorIs(t, none.Go(func(context.Context) error { ran = true; return nil }), ErrNoBackground)
	assert.False(t, ran)
	assert.NoError(t, none.Wait())

	ctx, cancel := context.WithCancel(context.Background())
	b := NewBackground(ctx)
	errA, errB := errors.New("a not restored"), errors.New("b not restored")
	release := make(chan struct{})
	require.NoError(t, b.Go(func(context.Context) error { <-release; return errA }))
	require.NoError(t, b.Go(func(ctx context.Context) error { <-ctx.Done(); return errB }))
	require.NoError(t, b.Go(func(context.Context) error { return nil }))
	waited := make(chan error, 1)
	go func() { waited <- b.Wait() }()
	close(release)
	cancel() // the run's context: the second piece ends only on it
	// Both errors are there only if Wait waited for both pieces: each error is recorded as its piece ends.
	err := <-waited
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errB)
}
