package client

import (
	"context"
	"fmt"
	"time"
)

// backoffer paces the retries of one request (or one per-region part of a
// batch or scan): it counts them against the retry budget and waits between
// them, doubling the wait from the minimum up to the maximum. It never
// waits past the caller's deadline.
type backoffer struct {
	cfg      *config
	attempts int
	next     time.Duration
}

func newBackoffer(cfg *config) *backoffer {
	return &backoffer{cfg: cfg, next: cfg.minBackoff}
}

// retry accounts for one more attempt after cause. When sleep is set it
// first waits the current backoff, or hint if that is longer (never more than
// the maximum). It returns an error wrapping cause when the budget is spent
// or the context ends first.
func (b *backoffer) retry(ctx context.Context, cause error, sleep bool, hint time.Duration) error {
	if err := ctx.Err(); err != nil {
		return deadlineErr(ctx, cause)
	}
	b.attempts++
	if b.attempts > b.cfg.retryBudget {
		return fmt.Errorf("%w after %d retries; last error: %w", ErrRetriesExhausted, b.attempts-1, cause)
	}
	if !sleep {
		return nil
	}
	d := b.next
	b.next = min(2*b.next, b.cfg.maxBackoff)
	if hint > d {
		d = min(hint, b.cfg.maxBackoff)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return deadlineErr(ctx, cause)
	}
}

// deadlineErr is the error of a request whose context ended: it wraps the
// context's error (context.DeadlineExceeded or context.Canceled) and the
// last failure, so callers can test for both.
func deadlineErr(ctx context.Context, last error) error {
	if last == nil {
		return fmt.Errorf("client: %w", ctxErr(ctx))
	}
	return fmt.Errorf("client: %w; last error: %w", ctxErr(ctx), last)
}

// ctxErr is ctx.Err(), or DeadlineExceeded once the deadline has passed
// even if the context's own timer has not fired yet (it can lag behind
// others on a loaded machine).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
