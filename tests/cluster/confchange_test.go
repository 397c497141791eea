package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// storeHasData reports whether store id holds any user key of [start, end).
func storeHasData(t *testing.T, c *Cluster, id uint64, r *metapb.Region) bool {
	t.Helper()
	got, err := c.RegionData(id, r)
	if err != nil {
		t.Fatal(err)
	}
	return len(got) > 0
}

// TestRemoveAllButOneAndAddBack removes two of three peers, writes, adds
// them back (one store with a new peer ID), and checks the data is present
// on every member and was absent from removed stores meanwhile.
func TestRemoveAllButOneAndAddBack(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 41, Logger: dbgLogger(t)})
	ctx := testCtx(t, 90*time.Second)
	cl := c.NewClient(1)
	for i := 0; i < 20; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("a%02d", i), "1")
	}
	l, err := c.LeaderOf(FirstRegionID, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	region := c.StoreRegion(l, FirstRegionID)
	var removed []*metapb.Peer
	for _, p := range region.Peers {
		if p.StoreId == l {
			continue
		}
		r, err := c.ChangePeer(ctx, FirstRegionID, eraftpb.ConfChangeType_RemoveNode, p)
		if err != nil {
			t.Fatalf("remove peer %d: %v", p.Id, err)
		}
		removed = append(removed, p)
		t.Logf("removed peer %d on store %d: conf_ver %d", p.Id, p.StoreId, r.RegionEpoch.ConfVer)
	}
	for _, p := range removed {
		waitFor(t, 10*time.Second, fmt.Sprintf("store %d to destroy its peer", p.StoreId), func() bool {
			return c.StoreRegion(p.StoreId, FirstRegionID) == nil && !storeHasData(t, c, p.StoreId, region)
		})
	}
	for i := 0; i < 20; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("b%02d", i), "2")
	}
	for _, p := range removed {
		if storeHasData(t, c, p.StoreId, region) {
			t.Fatalf("removed store %d has data", p.StoreId)
		}
	}
	// Add back: the first with a new peer ID, the second with its old one
	// (refused: a tombstone never comes back under the same ID).
	np := &metapb.Peer{Id: c.AllocID(), StoreId: removed[0].StoreId}
	if _, err := c.ChangePeer(ctx, FirstRegionID, eraftpb.ConfChangeType_AddNode, np); err != nil {
		t.Fatal(err)
	}
	np2 := &metapb.Peer{Id: c.AllocID(), StoreId: removed[1].StoreId}
	if _, err := c.ChangePeer(ctx, FirstRegionID, eraftpb.ConfChangeType_AddNode, np2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*metapb.Peer{np, np2} {
		waitFor(t, 20*time.Second, fmt.Sprintf("store %d to catch up", p.StoreId), func() bool {
			r := c.StoreRegion(p.StoreId, FirstRegionID)
			if r == nil {
				return false
			}
			got, err := c.RegionData(p.StoreId, r)
			return err == nil && len(got) == 40
		})
	}
	mustPut(t, cl, ctx, "c", "3")
	checkStoresAgree(t, c)
}

// TestRemovedPeerPartitionedDoesNotDisrupt partitions a follower, removes
// it while it cannot hear, heals, and checks it destroys itself without
// disturbing the leader's term.
func TestRemovedPeerPartitionedDoesNotDisrupt(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 42})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "x", "1")
	l, err := c.LeaderOf(FirstRegionID, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	victim := l%3 + 1
	c.Net.Isolate(victim, c.StoreIDs())
	region := c.StoreRegion(l, FirstRegionID)
	if _, err := c.ChangePeer(ctx, FirstRegionID, eraftpb.ConfChangeType_RemoveNode, storePeerOf(region, victim)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, cl, ctx, "y", "2")
	// Let the victim time out and campaign in its own corner for a while.
	time.Sleep(time.Second) // the victim's election timer must fire; nothing to wait on
	st0, _ := c.Status(l)
	c.Net.Recover()
	waitFor(t, 15*time.Second, "the removed peer to destroy itself", func() bool {
		return c.StoreRegion(victim, FirstRegionID) == nil && !storeHasData(t, c, victim, region)
	})
	st1, err := c.Status(l)
	if err != nil || !st1.Leader || st1.Term != st0.Term {
		t.Fatalf("group disrupted: leader %v term %d -> %d (%v)", st1.Leader, st0.Term, st1.Term, err)
	}
	mustPut(t, cl, ctx, "z", "3")
}

func storePeerOf(r *metapb.Region, store uint64) *metapb.Peer {
	for _, p := range r.Peers {
		if p.StoreId == store {
			return p
		}
	}
	return nil
}

// TestLeaderTransferUnderLoad moves leadership around while clients run.
func TestLeaderTransferUnderLoad(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 43})
	moved := 0
	runChecked(t, c, 4, 6*time.Second, func(ctx context.Context) {
		for pause(ctx, 400*time.Millisecond) {
			l, err := c.LeaderOf(FirstRegionID, 2*time.Second)
			if err != nil {
				continue
			}
			to := l%3 + 1
			if err := c.TransferLeader(ctx, FirstRegionID, to); err != nil {
				continue
			}
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if nl, err := c.LeaderOf(FirstRegionID, time.Second); err == nil && nl == to {
					moved++
					break
				}
				time.Sleep(20 * time.Millisecond) // polling raft state
			}
		}
	})
	t.Logf("leadership moved %d times", moved)
	if moved < 3 {
		t.Fatalf("leadership moved only %d times", moved)
	}
}
