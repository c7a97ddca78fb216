// Package ctxcall makes a blocking call that takes no context stoppable: Helm's history, get and uninstall
// actions and kind's create, delete and image loading have no context parameter, yet a step timeout or
// SIGINT must end the step promptly.
package ctxcall

import (
	"context"
	"fmt"
	"time"
)

// Do runs fn and returns its error, or ctx's error as soon as ctx ends. fn cannot be stopped from outside:
// when ctx ends first it goes on in the background, and its result is dropped; callers clean up what it may
// still create (the kind provider deletes a cluster it may have half-created, for instance).
func Do(ctx context.Context, what string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: %w (still running in the background)", what, ctx.Err())
	}
}

// Value is Do for calls that return a value.
func Value[T any](ctx context.Context, what string, fn func() (T, error)) (T, error) {
	var v T
	err := Do(ctx, what, func() error {
		var err error
		v, err = fn()
		return err
	})
	return v, err
}

// Sleep waits for d, or until ctx ends, whichever is first: nil after the whole of d, else ctx's error. A
// step's soak, the warm-up and the wait for Prometheus's last scrape all end at once on an interrupt.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
