package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// staticScheduler serves a fixed list of regions and counts lookups.
type staticScheduler struct {
	regions []*metapb.Region
	calls   atomic.Int64
}

func (s *staticScheduler) find(pred func(*metapb.Region) bool) (*schedclient.Region, error) {
	s.calls.Add(1)
	for _, r := range s.regions {
		if pred(r) {
			return &schedclient.Region{Meta: cloneRegion(r), Leader: r.Peers[0]}, nil
		}
	}
	return nil, schedclient.ErrRegionNotFound
}

func (s *staticScheduler) GetRegion(_ context.Context, key []byte) (*schedclient.Region, error) {
	return s.find(func(r *metapb.Region) bool { return (&region{meta: r}).contains(key) })
}

func (s *staticScheduler) GetPrevRegion(_ context.Context, key []byte) (*schedclient.Region, error) {
	return s.find(func(r *metapb.Region) bool { return string(r.EndKey) == string(key) && len(key) > 0 })
}

func (s *staticScheduler) ScanRegions(_ context.Context, start, end []byte, _ int) ([]*schedclient.Region, error) {
	s.calls.Add(1)
	var out []*schedclient.Region
	for _, r := range s.regions {
		if len(r.EndKey) == 0 || string(r.EndKey) > string(start) {
			out = append(out, &schedclient.Region{Meta: cloneRegion(r), Leader: r.Peers[0]})
		}
	}
	return out, nil
}

func (s *staticScheduler) GetStore(context.Context, uint64) (*metapb.Store, error) {
	return nil, schedclient.ErrStoreNotFound
}

func (s *staticScheduler) Close() {}

func mkRegion(id uint64, start, end string, version uint64, stores ...uint64) *metapb.Region {
	r := &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: version}}
	if len(stores) == 0 {
		stores = []uint64{1, 2, 3}
	}
	for _, s := range stores {
		r.Peers = append(r.Peers, &metapb.Peer{Id: id*10 + s, StoreId: s})
	}
	return r
}

func threeRegions() *staticScheduler {
	return &staticScheduler{regions: []*metapb.Region{
		mkRegion(1, "", "g", 1), mkRegion(2, "g", "p", 1), mkRegion(3, "p", "", 1),
	}}
}

func TestCacheLocatesByStartKey(t *testing.T) {
	s := threeRegions()
	c := newRegionCache(s, zap.NewNop())
	ctx := context.Background()
	for _, tc := range []struct {
		key  string
		want uint64
	}{{"a", 1}, {"", 1}, {"f\xff", 1}, {"g", 2}, {"o", 2}, {"p", 3}, {"zzz", 3}} {
		r, err := c.locate(ctx, []byte(tc.key))
		if err != nil || r.id() != tc.want {
			t.Fatalf("locate(%q) = %v, %v; want region %d", tc.key, r.meta, err, tc.want)
		}
	}
	calls := s.calls.Load()
	if calls != 3 {
		t.Fatalf("%d scheduler calls for 3 regions", calls)
	}
	// Cached now: no more calls, and the ordering holds.
	for _, key := range []string{"b", "h", "q"} {
		if _, err := c.locate(ctx, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	if s.calls.Load() != calls {
		t.Fatal("cache hits went to the scheduler")
	}
	if c.len() != 3 {
		t.Fatalf("cache holds %d regions", c.len())
	}
}

func TestCacheLocatesBefore(t *testing.T) {
	s := threeRegions()
	c := newRegionCache(s, zap.NewNop())
	ctx := context.Background()
	for _, tc := range []struct {
		key  string
		want uint64
	}{{"", 3}, {"g", 1}, {"b", 1}, {"h", 2}, {"p", 2}, {"p\x00", 3}, {"z", 3}} {
		r, err := c.locateBefore(ctx, []byte(tc.key))
		if err != nil || r.id() != tc.want {
			t.Fatalf("locateBefore(%q) = %v, %v; want region %d", tc.key, r.meta, err, tc.want)
		}
		// And again from the cache.
		if r := c.lookupBefore([]byte(tc.key)); r == nil || r.id() != tc.want {
			t.Fatalf("cached lookupBefore(%q) = %v; want region %d", tc.key, r, tc.want)
		}
	}
}

func TestCacheEpochChangeReplacesOverlaps(t *testing.T) {
	s := threeRegions()
	c := newRegionCache(s, zap.NewNop())
	ctx := context.Background()
	r2, _ := c.locate(ctx, []byte("h"))
	// Region 2 split at "k": [g, k) keeps id 2, [k, p) is region 4.
	left, right := mkRegion(2, "g", "k", 2), mkRegion(4, "k", "p", 2)
	c.onEpochNotMatch(r2, 1, []*metapb.Region{left, right})
	for key, want := range map[string]uint64{"h": 2, "k": 4, "o": 4} {
		r := c.lookup([]byte(key))
		if r == nil || r.id() != want || r.epoch().Version != 2 {
			t.Fatalf("after split, lookup(%q) = %v; want region %d at version 2", key, r, want)
		}
	}
	// The leader to try first is the peer on the store that answered.
	if got := c.lookup([]byte("k")).leaderPeer().StoreId; got != 1 {
		t.Fatalf("new region's first peer on store %d, want 1", got)
	}
	// A stale view of region 2 (from a lagging scheduler) does not replace
	// the newer halves.
	stale, err := c.insert(&schedclient.Region{Meta: mkRegion(2, "g", "p", 1)})
	if err != nil || stale.id() != 2 {
		t.Fatal(err)
	}
	if r := c.lookup([]byte("m")); r == nil || r.id() != 4 {
		t.Fatalf("stale region replaced a newer one: lookup(m) = %v", r)
	}
	// A merge-free successor that covers both halves at a higher version
	// does replace them.
	c.mu.Lock()
	ok := c.insertLocked(&region{meta: mkRegion(2, "g", "p", 3)})
	c.mu.Unlock()
	if !ok || c.lookup([]byte("m")).id() != 2 || c.len() != 1 {
		t.Fatalf("newer region did not replace overlaps (ok=%v, len=%d)", ok, c.len())
	}
}

func TestCacheInvalidate(t *testing.T) {
	s := threeRegions()
	c := newRegionCache(s, zap.NewNop())
	ctx := context.Background()
	old, _ := c.locate(ctx, []byte("h"))
	c.invalidate(old)
	if c.lookup([]byte("h")) != nil {
		t.Fatal("invalidated region still cached")
	}
	calls := s.calls.Load()
	if _, err := c.locate(ctx, []byte("h")); err != nil || s.calls.Load() != calls+1 {
		t.Fatalf("locate after invalidate: err %v, scheduler calls %d -> %d", err, calls, s.calls.Load())
	}
	// Invalidating with an outdated view leaves the newer entry alone.
	c.mu.Lock()
	c.insertLocked(&region{meta: mkRegion(2, "g", "p", 5)})
	c.mu.Unlock()
	c.invalidate(old)
	if r := c.lookup([]byte("h")); r == nil || r.epoch().Version != 5 {
		t.Fatalf("an old view invalidated the newer entry: %v", r)
	}
}

func TestCacheLeaderUpdates(t *testing.T) {
	s := threeRegions()
	c := newRegionCache(s, zap.NewNop())
	r, _ := c.locate(context.Background(), []byte("a"))
	if r.leaderPeer().StoreId != 1 {
		t.Fatalf("leader on store %d", r.leaderPeer().StoreId)
	}
	if !c.updateLeader(r, r.meta.Peers[2]) || c.lookup([]byte("a")).leaderPeer().StoreId != 3 {
		t.Fatal("NotLeader hint not recorded")
	}
	if p := c.switchPeer(r, r.meta.Peers[2]); p == nil || p.StoreId != 1 {
		t.Fatalf("switchPeer after store 3 gave %v", p)
	}
	// A hint naming a peer the region does not have: membership changed.
	if c.updateLeader(r, &metapb.Peer{Id: 999, StoreId: 9}) {
		t.Fatal("unknown leader accepted")
	}
	if c.lookup([]byte("a")) != nil {
		t.Fatal("region with stale membership still cached")
	}
	// Learners are never chosen.
	m := mkRegion(7, "", "", 1, 1, 2)
	m.Peers[0].Role = metapb.PeerRole_Learner
	nr, err := newRegion(m, m.Peers[0])
	if err != nil || nr.leaderPeer().StoreId != 2 {
		t.Fatalf("learner picked as leader: %v %v", nr, err)
	}
	m.Peers[1].Role = metapb.PeerRole_Learner
	if _, err := newRegion(m, nil); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("region of learners only: %v", err)
	}
}
