package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

func peer(id, store uint64) *metapb.Peer { return &metapb.Peer{Id: id, StoreId: store} }

// reg builds a region led by its first peer.
func reg(id uint64, start, end string, confVer, version uint64, peers ...*metapb.Peer) *RegionInfo {
	m := &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version}, Peers: peers}
	return NewRegionInfo(m, peers[0])
}

func newTestCluster(t *testing.T, now *time.Time, stores ...uint64) *Cluster {
	t.Helper()
	c := New(func() time.Time { return *now })
	for _, id := range stores {
		if _, err := c.PutStore(&metapb.Store{Id: id, Address: fmt.Sprintf("s%d", id)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func ids(rs []*RegionInfo) string {
	out := ""
	for _, r := range rs {
		out += fmt.Sprintf("%d[%s,%s) ", r.ID(), r.StartKey(), r.EndKey())
	}
	return out
}

func TestRegionTreeAndStaleEpochs(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTestCluster(t, &now, 1, 2, 3)
	steps := []struct {
		name    string
		r       *RegionInfo
		wantErr bool
		want    string // ScanRegions of everything after the step
		removed string
	}{
		{"first region", reg(1, "", "", 1, 1, peer(11, 1)), false, "1[,) ", "[]"},
		{"split: left half, new id", reg(2, "", "m", 1, 2, peer(21, 1)), false, "2[,m) ", "[1]"},
		{"split: right half keeps id", reg(1, "m", "", 1, 2, peer(11, 1)), false, "2[,m) 1[m,) ", "[]"},
		{"stale parent heartbeat", reg(1, "", "", 1, 1, peer(11, 1)), true, "2[,m) 1[m,) ", "[]"},
		{"stale overlap from unknown region", reg(9, "a", "z", 1, 1, peer(91, 1)), true, "2[,m) 1[m,) ", "[]"},
		{"conf change", reg(2, "", "m", 2, 2, peer(21, 1), peer(22, 2)), false, "2[,m) 1[m,) ", "[]"},
		{"older conf ver", reg(2, "", "m", 1, 2, peer(21, 1)), true, "2[,m) 1[m,) ", "[]"},
		{"merge covers both", reg(1, "", "", 2, 3, peer(11, 1)), false, "1[,) ", "[2]"},
	}
	for _, s := range steps {
		ch, err := c.PutRegion(s.r)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: err = %v, want error %v", s.name, err, s.wantErr)
		}
		if err != nil && !errors.Is(err, ErrStaleRegion) {
			t.Fatalf("%s: err %v is not ErrStaleRegion", s.name, err)
		}
		if got := ids(c.ScanRegions(nil, nil, 0)); got != s.want {
			t.Fatalf("%s: tree = %q, want %q", s.name, got, s.want)
		}
		if got := fmt.Sprint(ch.Removed); err == nil && got != s.removed {
			t.Fatalf("%s: removed %s, want %s", s.name, got, s.removed)
		}
	}
	if c.GetRegion(2) != nil {
		t.Fatal("merged-away region still indexed by id")
	}
}

func TestSameEpochOlderTermIgnored(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTestCluster(t, &now, 1, 2)
	mk := func(leader *metapb.Peer, term uint64) *RegionInfo {
		return RegionFromHeartbeat(&pdpb.RegionHeartbeatRequest{
			Region: &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 2, Version: 1},
				Peers: []*metapb.Peer{peer(11, 1), peer(12, 2)}},
			Leader: leader, Term: term})
	}
	if _, err := c.PutRegion(mk(peer(12, 2), 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRegion(mk(peer(11, 1), 4)); !errors.Is(err, ErrStaleRegion) {
		t.Fatalf("older term: %v", err)
	}
	if got := c.GetRegion(1).LeaderStoreID(); got != 2 {
		t.Fatalf("leader store %d, want 2", got)
	}
	if c.GetStore(2).LeaderCount != 1 || c.GetStore(1).LeaderCount != 0 {
		t.Fatal("leader counts wrong")
	}
}

func TestSearchAndScan(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTestCluster(t, &now, 1)
	for i, k := range []string{"", "c", "f", "k"} {
		end := []string{"c", "f", "k", ""}[i]
		if _, err := c.PutRegion(reg(uint64(i+1), k, end, 1, 1, peer(uint64(10+i), 1))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		key        string
		want, prev uint64
	}{{"", 1, 0}, {"b", 1, 0}, {"c", 2, 1}, {"e", 2, 1}, {"f", 3, 2}, {"zz", 4, 3}} {
		if got := c.GetRegionByKey([]byte(tc.key)); got == nil || got.ID() != tc.want {
			t.Errorf("GetRegionByKey(%q) = %v, want %d", tc.key, got, tc.want)
		}
		got := c.GetPrevRegion([]byte(tc.key))
		if (got == nil && tc.prev != 0) || (got != nil && got.ID() != tc.prev) {
			t.Errorf("GetPrevRegion(%q) = %v, want %d", tc.key, got, tc.prev)
		}
	}
	if got := ids(c.ScanRegions([]byte("d"), []byte("g"), 0)); got != "2[c,f) 3[f,k) " {
		t.Errorf("scan [d,g) = %s", got)
	}
	if got := ids(c.ScanRegions([]byte("a"), nil, 2)); got != "1[,c) 2[c,f) " {
		t.Errorf("scan [a,) limit 2 = %s", got)
	}
}

func TestStoreCountsAndStates(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTestCluster(t, &now, 1, 2, 3)
	r := reg(1, "", "", 1, 1, peer(11, 1), peer(12, 2))
	r.ApproximateSize = 64 << 20
	if _, err := c.PutRegion(r.WithPendingPeers([]*metapb.Peer{peer(12, 2)})); err != nil {
		t.Fatal(err)
	}
	s1, s2 := c.GetStore(1), c.GetStore(2)
	if s1.LeaderCount != 1 || s1.RegionCount != 1 || s1.RegionSize != 64 || s2.LeaderCount != 0 ||
		s2.RegionCount != 1 || s2.PendingPeers != 1 {
		t.Fatalf("counts: s1 %+v s2 %+v", s1, s2)
	}
	// Moving the peer from store 2 to store 3 moves the counts.
	if _, err := c.PutRegion(reg(1, "", "", 2, 1, peer(11, 1), peer(13, 3))); err != nil {
		t.Fatal(err)
	}
	if c.GetStore(2).RegionCount != 0 || c.GetStore(2).PendingPeers != 0 || c.GetStore(3).RegionCount != 1 {
		t.Fatal("counts did not follow the peer")
	}
	if got := c.RandPeerRegions(3, 5, rand.New(rand.NewPCG(1, 2))); len(got) != 1 || got[0].ID() != 1 {
		t.Fatalf("RandPeerRegions = %v", got)
	}

	th := Thresholds{Disconnect: 20 * time.Second, Down: time.Minute}
	if _, err := c.HandleStoreHeartbeat(&pdpb.StoreStats{StoreId: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  StoreState
	}{{0, StateUp}, {19 * time.Second, StateUp}, {20 * time.Second, StateDisconnected}, {time.Minute, StateDown}} {
		if got := c.GetStore(1).State(now.Add(tc.after), th); got != tc.want {
			t.Errorf("after %s: state %s, want %s", tc.after, got, tc.want)
		}
	}
	if _, err := c.SetStoreState(1, metapb.StoreState_Tombstone); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Up -> Tombstone: %v", err)
	}
	if _, err := c.SetStoreState(1, metapb.StoreState_Offline); err != nil {
		t.Fatal(err)
	}
	if got := c.GetStore(1).State(now.Add(time.Hour), th); got != StateOffline {
		t.Fatalf("offline store state %s", got)
	}
	// Re-registering keeps the persisted state.
	if meta, err := c.PutStore(&metapb.Store{Id: 1, Address: "s1"}); err != nil || meta.State != metapb.StoreState_Offline {
		t.Fatalf("re-register: %v %v", meta, err)
	}
	if _, err := c.SetStoreState(1, metapb.StoreState_Tombstone); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HandleStoreHeartbeat(&pdpb.StoreStats{StoreId: 1}); !errors.Is(err, ErrStoreTombstone) {
		t.Fatalf("heartbeat of tombstone: %v", err)
	}
	if _, err := c.PutStore(&metapb.Store{Id: 4, Address: "s2"}); !errors.Is(err, ErrDuplicatedAddress) {
		t.Fatalf("duplicate address: %v", err)
	}
}

// TestLoadedStoreSilentUntilHeard: a store a new leader loads from storage
// shows Disconnected (it may be stopped) until it heartbeats or registers
// again, and is Down only once silent for the down time since the load.
func TestLoadedStoreSilentUntilHeard(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(func() time.Time { return now })
	th := Thresholds{Disconnect: 20 * time.Second, Down: time.Minute}
	c.LoadStore(&metapb.Store{Id: 1, Address: "s1", State: metapb.StoreState_Up})
	c.LoadStore(&metapb.Store{Id: 2, Address: "s2", State: metapb.StoreState_Up})
	c.LoadStore(&metapb.Store{Id: 3, Address: "s3", State: metapb.StoreState_Offline})
	for id, want := range map[uint64]StoreState{1: StateDisconnected, 2: StateDisconnected, 3: StateOffline} {
		if got := c.GetStore(id).State(now, th); got != want {
			t.Errorf("store %d just loaded: %s, want %s", id, got, want)
		}
	}
	if got := c.GetStore(1).State(now.Add(time.Minute), th); got != StateDown {
		t.Errorf("store silent for the down time since the load: %s, want Down", got)
	}
	if _, err := c.HandleStoreHeartbeat(&pdpb.StoreStats{StoreId: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutStore(&metapb.Store{Id: 2, Address: "s2"}); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 2; id++ {
		if got := c.GetStore(id).State(now, th); got != StateUp {
			t.Errorf("store %d heard from after the load: %s, want Up", id, got)
		}
	}
}

func TestStoreRegisteredAfterItsRegions(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTestCluster(t, &now, 1)
	if _, err := c.PutRegion(reg(1, "", "", 1, 1, peer(11, 1), peer(12, 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutStore(&metapb.Store{Id: 2, Address: "s2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRegion(reg(1, "", "", 1, 1, peer(12, 2), peer(11, 1))); err != nil {
		t.Fatal(err)
	}
	if s := c.GetStore(2); s.RegionCount != 1 || s.LeaderCount != 1 {
		t.Fatalf("store 2 counts %+v", s)
	}
	if s := c.GetStore(1); s.RegionCount != 1 || s.LeaderCount != 0 {
		t.Fatalf("store 1 counts %+v", s)
	}
}
