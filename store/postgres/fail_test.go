package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward"
)

// TestFailAfterCancelIsCanceled: an error from an operation whose context
// was canceled wraps context.Canceled, whatever pgx reported, so that the
// server answers a client that went away and logs no failure; without a
// cancel the same error stays what it was; past a deadline it is
// ErrUnavailable.
func TestFailAfterCancelIsCanceled(t *testing.T) {
	s := &Store{}
	closed := errors.New("conn closed") // what pgx reports once its connection was closed under a canceled statement
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.fail(ctx, closed, "create key", ""); errors.Is(err, context.Canceled) {
		t.Fatalf("before the cancel: %v wraps context.Canceled", err)
	}
	cancel()
	err := s.fail(ctx, closed, "create key", "")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, closed) {
		t.Fatalf("after the cancel: %v, want context.Canceled and the cause", err)
	}
	late, expire := context.WithCancelCause(context.Background())
	expire(context.DeadlineExceeded) // as a group of spends ends when its last caller's deadline passed
	if err := s.fail(late, closed, "spend credits", ""); !errors.Is(err, keyward.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the deadline: %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
	s.closed.Store(true)
	if err := s.fail(ctx, closed, "create key", ""); !errors.Is(err, keyward.ErrClosed) {
		t.Fatalf("closed store: %v, want ErrClosed", err)
	}
}
