package server

import (
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/scheduler/schedulers"
)

// TestNewLeaderPreparesBeforeScheduling: a scheduler leader that loads the
// cluster from etcd (here: a restart) schedules nothing until the stores
// and region leaders have reported, and a store that no longer reports
// (dead since the last term) is no balance target even though it looks Up
// and empty.
func TestNewLeaderPreparesBeforeScheduling(t *testing.T) {
	cfg := testConfig(t, "s1")
	cfg.Schedule.Schedulers = nil
	s := startServer(t, cfg)
	waitLeader(t, s)
	regions := threeReplicaRegions(6)
	// Store 4 registers and dies.
	sc := startSim(t, s, regions, 1, 2, 3, 4)
	sc.kill(4)
	ctx := ctxT(t)
	waitFor(t, 10*time.Second, "every region persisted", func() bool {
		ls := s.leader.Load()
		return ls.cluster.LeaderlessCount() == 0 && ls.persist.flush(ctx) == nil
	})
	sc.stop()
	s.Close()

	// The next term balances regions, and store 4 holds none: by score it
	// is the best target.
	cfg.Schedule.Schedulers = []string{schedulers.BalanceRegionName}
	s2 := startServer(t, cfg)
	waitLeader(t, s2)
	ls := s2.leader.Load()
	reason := func() string {
		for _, st := range ls.registry.List(ls.cluster.Now()) {
			if st.Name == schedulers.BalanceRegionName {
				return st.LastReason
			}
		}
		return ""
	}
	waitFor(t, 10*time.Second, "balance-region to run while preparing", func() bool {
		return strings.HasPrefix(reason(), "preparing")
	})
	if ls.prepared() {
		t.Fatal("prepared before any store or region leader reported")
	}

	sc2 := newSimCluster(t, s2.Addr(), 1, 2, 3)
	for _, r := range regions {
		sc2.addRegion(cloneRegion(r))
	}
	sc2.run(ctxT(t), 20*time.Millisecond)
	waitFor(t, 10*time.Second, "prepared once stores 1-3 and the region leaders report", ls.prepared)
	waitFor(t, 10*time.Second, "balance-region to run after preparing", func() bool {
		r := reason()
		return r != "" && !strings.HasPrefix(r, "preparing")
	})
	sc2.mu.Lock()
	defer sc2.mu.Unlock()
	for _, resp := range sc2.responses {
		if cp := resp.ChangePeer; cp != nil && cp.ChangeType == eraftpb.ConfChangeType_AddNode && cp.Peer.StoreId == 4 {
			t.Fatalf("a replica was sent to store 4, which never reported: %v", resp)
		}
	}
	if st := ls.cluster.GetStore(4); st == nil || st.Reported {
		t.Fatalf("store 4: %+v", st)
	}
}
