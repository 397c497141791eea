package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/raftstore/raftstorage"
)

// TestUnsettledWriteSettles: a write to a leader cut off from its
// followers cannot commit; when its context ends the Raft storage answers
// UnsettledError, whose Settled stays open while the proposal may still
// commit and closes once its fate is known (after the network heals, the
// entry applies or a new leader's log replaces it).
func TestUnsettledWriteSettles(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 5})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "a", "1")
	leader, err := c.Leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Net.Isolate(leader, c.StoreIDs())
	st := raftstorage.New(c.node(leader).Store)
	r := c.region
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = st.Write(short, &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch},
		[]storage.Modify{storage.NewPut("", []byte("a"), []byte("2"))})
	cancel()
	var u *storage.UnsettledError
	if !errors.As(err, &u) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write on an isolated leader: %v, want UnsettledError wrapping the deadline", err)
	}
	select {
	case <-u.Settlement.Done():
		t.Fatal("settled while the leader is still cut off")
	default:
	}
	c.Net.Recover()
	select {
	case <-u.Settlement.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the write never settled after the network healed")
	}
}
