package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/client"
)

// TestErrorKind: the report's errors-by-kind names what went wrong, through
// wrapping, and a write whose outcome is unknown is never lumped in with
// "other".
func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("put: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("put: %w", client.ErrUndetermined), "undetermined"},
		{fmt.Errorf("get: %w", client.ErrRetriesExhausted), "retries-exhausted"},
		{fmt.Errorf("get: %w", client.ErrServerIsBusy), "server-is-busy"},
		{errNotFound, "not-found"},
		{status.Error(codes.Unavailable, "connection refused"), "grpc-unavailable"},
		{errors.New("something else"), "other"},
	} {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
