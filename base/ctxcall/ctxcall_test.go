package ctxcall

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDoReturnsTheCallsResult(t *testing.T) {
	boom := errors.New("boom")
	assert.ErrorIs(t, Do(context.Background(), "x", func() error { return boom }), boom)
	v, err := Value(context.Background(), "x", func() (int, error) { return 7, nil })
	assert.NoError(t, err)
	assert.Equal(t, 7, v)
}

func TestDoReturnsWhenTheContextEndsWhileTheCallBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	err := Do(ctx, "helm uninstall", func() error { close(started); <-release; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "helm uninstall")
}

func TestDoDoesNotStartAfterTheContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	assert.ErrorIs(t, Do(ctx, "x", func() error { called = true; return nil }), context.Canceled)
	assert.False(t, called)
}

// Sleep ends with its duration, or at once when its context ends first (an interrupt during a soak).
func TestSleepEndsWithItsDurationOrItsContext(t *testing.T) {
	assert.NoError(t, Sleep(context.Background(), time.Nanosecond))
	assert.NoError(t, Sleep(context.Background(), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled, "an hour cut short by the context")
	assert.ErrorIs(t, Sleep(ctx, 0), context.Canceled)
}
