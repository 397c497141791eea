package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/pderr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNewGivesUpAtDeadline: with no member reachable, New retries with
// backoff and returns once the context deadline passes, not later.
func TestNewGivesUpAtDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = New(ctx, []string{"http://" + addr}, Options{MaxBackoff: 50 * time.Millisecond})
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("New = %v, want ErrNoLeader", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("New took %s past a 300ms deadline", took)
	}
}

func TestErrorCategories(t *testing.T) {
	for _, tc := range []struct {
		e    *pdpb.Error
		want error
	}{
		{pderr.NotLeader(&pdpb.Member{Name: "a", ClientUrls: []string{"http://x:1"}}), ErrNotLeader},
		{pderr.ClusterIDMismatch(1, 2), ErrClusterIDMismatch},
		{&pdpb.Error{Type: pdpb.ErrorType_NOT_BOOTSTRAPPED}, ErrNotBootstrapped},
		{&pdpb.Error{Type: pdpb.ErrorType_ALREADY_BOOTSTRAPPED}, ErrAlreadyBootstrapped},
		{&pdpb.Error{Type: pdpb.ErrorType_STORE_TOMBSTONE}, ErrStoreTombstone},
		{&pdpb.Error{Type: pdpb.ErrorType_REGION_NOT_FOUND}, ErrRegionNotFound},
	} {
		err := headerErr(&pdpb.ResponseHeader{Error: tc.e})
		if !errors.Is(err, tc.want) {
			t.Errorf("%v is not %v", err, tc.want)
		}
		if retryable(err) != (tc.want == ErrNotLeader) {
			t.Errorf("retryable(%v) = %v", err, retryable(err))
		}
	}
	if headerErr(&pdpb.ResponseHeader{}) != nil {
		t.Error("empty header is an error")
	}
}
