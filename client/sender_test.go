package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCallerCtxEnded: a store's DeadlineExceeded that arrives a moment
// before the caller's own deadline counts as that deadline (the caller's
// error must wrap context.DeadlineExceeded); one under a deadline still far
// off is the attempt's own timeout; other errors never are.
func TestCallerCtxEnded(t *testing.T) {
	storeDeadline := fmt.Errorf("client: store 1: %w", status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if !callerCtxEnded(ctx, storeDeadline) {
		t.Fatal("a store deadline just before the caller's: not counted as the caller's")
	}
	if !errors.Is(deadlineErr(ctx, storeDeadline), context.DeadlineExceeded) {
		t.Fatal("the caller's error does not wrap context.DeadlineExceeded")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("waited %v for a deadline 20ms away", waited)
	}

	far, cancelFar := context.WithTimeout(context.Background(), time.Minute)
	defer cancelFar()
	if callerCtxEnded(far, storeDeadline) {
		t.Fatal("an attempt timeout under a far deadline counted as the caller's")
	}
	near, cancelNear := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelNear()
	if callerCtxEnded(near, status.Error(codes.Unavailable, "connection refused")) {
		t.Fatal("an unavailable store counted as the caller's deadline")
	}
	if callerCtxEnded(context.Background(), storeDeadline) {
		t.Fatal("a context without a deadline counted as ended")
	}
}
