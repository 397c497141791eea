package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// sendUntil sends an operator step (as the scheduler would, in answer to
// the leader's heartbeat) until done holds.
func sendUntil(t *testing.T, c *Cluster, what string, op func() *pdpb.RegionHeartbeatResponse, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("operator %s did not finish", what)
		}
		c.Sched.SendOperator(op())
		time.Sleep(200 * time.Millisecond) // the step takes effect asynchronously; polled
	}
}

// TestSchedulerOperators drives transfer leader, remove/add peer and
// split (at a key and at the middle) through region heartbeat responses.
func TestSchedulerOperators(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 51})
	ctx := testCtx(t, 90*time.Second)
	cl := c.NewClient(1)
	for i := 0; i < 30; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("k%02d", i), "v")
	}
	l, err := c.LeaderOf(FirstRegionID, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	to := l%3 + 1
	region := func() *metapb.Region { return c.RegionOf([]byte("k00")) }
	sendUntil(t, c, "transfer leader", func() *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{RegionId: FirstRegionID,
			TransferLeader: &pdpb.TransferLeader{Peer: storePeerOf(region(), to)}}
	}, func() bool { nl, err := c.LeaderOf(FirstRegionID, time.Second); return err == nil && nl == to })

	victim := to%3 + 1
	old := storePeerOf(region(), victim)
	sendUntil(t, c, "remove peer", func() *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{RegionId: FirstRegionID,
			ChangePeer: &pdpb.ChangePeer{Peer: old, ChangeType: eraftpb.ConfChangeType_RemoveNode}}
	}, func() bool {
		return c.StoreRegion(victim, FirstRegionID) == nil && storePeerOf(region(), victim) == nil
	})

	np := &metapb.Peer{Id: c.AllocID(), StoreId: victim}
	sendUntil(t, c, "add peer", func() *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{RegionId: FirstRegionID,
			ChangePeer: &pdpb.ChangePeer{Peer: np, ChangeType: eraftpb.ConfChangeType_AddNode}}
	}, func() bool {
		hb := c.Sched.Heartbeat(FirstRegionID)
		return c.StoreRegion(victim, FirstRegionID) != nil && hb != nil && storePeerOf(hb.Region, victim) != nil &&
			len(hb.PendingPeers) == 0
	})

	sendUntil(t, c, "split at key", func() *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{RegionId: FirstRegionID,
			SplitRegion: &pdpb.SplitRegion{Policy: pdpb.CheckPolicy_USEKEY, Keys: [][]byte{[]byte("k20")}}}
	}, func() bool { return string(region().EndKey) == "k20" })

	sendUntil(t, c, "split in the middle", func() *pdpb.RegionHeartbeatResponse {
		return &pdpb.RegionHeartbeatResponse{RegionId: FirstRegionID,
			SplitRegion: &pdpb.SplitRegion{Policy: pdpb.CheckPolicy_APPROXIMATE}}
	}, func() bool { e := string(region().EndKey); return e > "k00" && e < "k20" })
	t.Logf("middle split at %q", region().EndKey)
	for i := 0; i < 30; i++ {
		if v, ok := mustGet(t, cl, ctx, fmt.Sprintf("k%02d", i)); !ok || v != "v" {
			t.Fatalf("k%02d lost", i)
		}
	}
	checkStoresAgree(t, c)
}
