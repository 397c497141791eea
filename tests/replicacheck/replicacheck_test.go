package replicacheck

import (
	"errors"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// diskStore builds a store's engines by hand, as raftstore would have left
// them: store ident, region states, apply and raft states, user data.
type diskStore struct {
	t   *testing.T
	id  uint64
	dir string
	e   *engine.Engines
}

func newDiskStore(t *testing.T, id uint64) *diskStore {
	t.Helper()
	dir := t.TempDir()
	e, err := engine.Open(dir, engine.Options{NoSync: true, MemTableSize: 1 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	s := &diskStore{t: t, id: id, dir: dir, e: e}
	s.kv(func(wb *engine.WriteBatch) error {
		return wb.SetMeta(engine.StoreIdentKey(), &rspb.StoreIdent{ClusterId: 1, StoreId: id})
	})
	return s
}

func (s *diskStore) kv(fill func(wb *engine.WriteBatch) error) {
	s.t.Helper()
	var wb engine.WriteBatch
	if err := fill(&wb); err != nil {
		s.t.Fatal(err)
	}
	if err := s.e.WriteKV(&wb, true); err != nil {
		s.t.Fatal(err)
	}
}

// region writes a region state, its apply state at applied and a raft
// state whose commit and last index equal it.
func (s *diskStore) region(state rspb.PeerState, r *metapb.Region, applied uint64) *diskStore {
	s.t.Helper()
	s.kv(func(wb *engine.WriteBatch) error {
		if err := wb.SetMeta(engine.RegionStateKey(r.Id), &rspb.RegionLocalState{State: state, Region: r}); err != nil {
			return err
		}
		if state == rspb.PeerState_Tombstone {
			return nil
		}
		return wb.SetMeta(engine.ApplyStateKey(r.Id), &rspb.RaftApplyState{AppliedIndex: applied,
			TruncatedState: &rspb.RaftTruncatedState{Index: 5, Term: 5}})
	})
	var wb engine.WriteBatch
	if err := wb.SetMeta(engine.RaftStateKey(r.Id), &rspb.RaftLocalState{
		HardState: &eraftpb.HardState{Term: 6, Commit: applied}, LastIndex: applied}); err != nil {
		s.t.Fatal(err)
	}
	if err := s.e.WriteRaft(&wb, true); err != nil {
		s.t.Fatal(err)
	}
	return s
}

// put writes user data: pairs of key and value into cf.
func (s *diskStore) put(cf string, kvs ...string) *diskStore {
	s.t.Helper()
	s.kv(func(wb *engine.WriteBatch) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := wb.PutCF(cf, []byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	return s
}

// load closes the engines and loads them offline, as the chaos test does.
func (s *diskStore) load() *Store {
	s.t.Helper()
	if err := s.e.Close(); err != nil {
		s.t.Fatal(err)
	}
	st, err := LoadDir(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// reg is a region with a peer on each store (peer ID = region*10 + store).
func reg(id uint64, start, end string, confVer, version uint64, stores ...uint64) *metapb.Region {
	r := &metapb.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version}}
	for _, s := range stores {
		r.Peers = append(r.Peers, &metapb.Peer{Id: id*10 + s, StoreId: s})
	}
	return r
}

// twoRegions is the layout the cases share: region 2 [-inf, m) and region
// 3 [m, +inf), both on stores 1 and 2, with the same data.
func twoRegions(t *testing.T) (*diskStore, *diskStore) {
	var ds []*diskStore
	for _, id := range []uint64{1, 2} {
		d := newDiskStore(t, id).
			region(rspb.PeerState_Normal, reg(2, "", "m", 2, 2, 1, 2), 40).
			region(rspb.PeerState_Normal, reg(3, "m", "", 2, 2, 1, 2), 17).
			put(engine.CFDefault, "apple", "red", "banana", "yellow", "melon", "green", "zucchini", "green").
			put(engine.CFWrite, "apple", "w1").
			put(engine.CFLock, "melon", "l1")
		ds = append(ds, d)
	}
	return ds[0], ds[1]
}

func kinds(vs []Violation) []Kind {
	var out []Kind
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

// mustFind returns the only violation, failing unless it is of kind and
// its message names every want.
func mustFind(t *testing.T, res Result, kind Kind, want ...string) Violation {
	t.Helper()
	if len(res.Violations) != 1 || res.Violations[0].Kind != kind {
		t.Fatalf("violations %v, want one %s:\n%v", kinds(res.Violations), kind, res.Violations)
	}
	v := res.Violations[0]
	for _, w := range want {
		if !strings.Contains(v.String(), w) {
			t.Errorf("violation %q does not say %q", v, w)
		}
	}
	return v
}

// TestStoresThatAgree: identical replicas in every CF pass, and every
// replica is counted.
func TestStoresThatAgree(t *testing.T) {
	a, b := twoRegions(t)
	res := Check([]*Store{a.load(), b.load()})
	if len(res.Violations) != 0 {
		t.Fatalf("identical stores: %v", res.Violations)
	}
	if res.Regions != 2 || res.Replicas != 4 || len(res.Stale) != 0 {
		t.Errorf("compared %s, want 2 regions and 4 replicas", res)
	}
}

// TestOneKeyDiffers: a value that differs in one key of one CF is found,
// named by region, stores, applied index and key; so is a key one replica
// lacks.
func TestOneKeyDiffers(t *testing.T) {
	a, b := twoRegions(t)
	b.put(engine.CFWrite, "apple", "w2")
	res := Check([]*Store{a.load(), b.load()})
	v := mustFind(t, res, Diverged, "region 2", "[1 2]", "applied index 40", `write "apple"`,
		`store 1 has "w1"`, `store 2 has "w2"`)
	if v.Region != 2 {
		t.Errorf("violation names region %d, want 2", v.Region)
	}

	a, b = twoRegions(t)
	a.put(engine.CFLock, "zebra", "l2")
	mustFind(t, Check([]*Store{a.load(), b.load()}), Diverged, "region 3", "applied index 17",
		`lock "zebra"`, `store 1 has "l2"`, "store 2 has no such key")
}

// TestMajorityIsTheReference: with three replicas, the one that differs is
// reported against the two that agree.
func TestMajorityIsTheReference(t *testing.T) {
	var stores []*Store
	for _, id := range []uint64{1, 2, 3} {
		d := newDiskStore(t, id).region(rspb.PeerState_Normal, reg(2, "", "", 3, 1, 1, 2, 3), 9).put(engine.CFDefault, "k", "v")
		if id == 1 {
			d.put(engine.CFDefault, "k", "lost")
		}
		stores = append(stores, d.load())
	}
	v := mustFind(t, Check(stores), Diverged, `store 1 has "lost"`)
	if v.Stores[0] == 1 {
		t.Errorf("the odd replica (store 1) was taken as the reference: %v", v)
	}
}

// TestOrphanedData: data outside every region the store serves is found,
// with the tombstone whose range holds it, even where the other store
// agrees on every region.
func TestOrphanedData(t *testing.T) {
	var stores []*Store
	for _, id := range []uint64{1, 2} {
		d := newDiskStore(t, id).
			region(rspb.PeerState_Normal, reg(2, "a", "m", 2, 2, 1, 2), 40).
			put(engine.CFDefault, "banana", "yellow")
		if id == 2 {
			// A region moved away from store 2, whose destroy left data.
			d.region(rspb.PeerState_Tombstone, reg(4, "m", "", 5, 2, 1, 2), 0).
				put(engine.CFDefault, "melon", "green").put(engine.CFWrite, "pear", "w")
		}
		// Data before any region of either store.
		if id == 1 {
			d.put(engine.CFDefault, "0-orphan", "x")
		}
		stores = append(stores, d.load())
	}
	res := Check(stores)
	if res.Tombstones != 1 {
		t.Errorf("counted %d tombstones, want 1", res.Tombstones)
	}
	if got := kinds(res.Violations); len(got) != 2 || got[0] != UnownedData || got[1] != UnownedData {
		t.Fatalf("violations %v, want unowned data on stores 1 and 2:\n%v", got, res.Violations)
	}
	for _, want := range [][]string{
		{"stores [1]", "1 keys", `default key "0-orphan" in no region this store knows`},
		{"stores [2]", "2 keys", `default key "melon" in the range of region 4 ["m", +inf) (Tombstone`, `write key "pear"`},
	} {
		found := false
		for _, v := range res.Violations {
			if strings.Contains(v.String(), want[0]) {
				found = true
				for _, w := range want[1:] {
					if !strings.Contains(v.String(), w) {
						t.Errorf("violation %q does not say %q", v, w)
					}
				}
			}
		}
		if !found {
			t.Errorf("no violation for %s: %v", want[0], res.Violations)
		}
	}
}

// TestAppliedIndexesDiffer: replicas at different applied indexes fail
// even when their data is equal, and the message gives every index.
func TestAppliedIndexesDiffer(t *testing.T) {
	a := newDiskStore(t, 1).region(rspb.PeerState_Normal, reg(2, "", "", 2, 1, 1, 2), 40).put(engine.CFDefault, "k", "v")
	b := newDiskStore(t, 2).region(rspb.PeerState_Normal, reg(2, "", "", 2, 1, 1, 2), 38).put(engine.CFDefault, "k", "v")
	mustFind(t, Check([]*Store{a.load(), b.load()}), AppliedMismatch, "region 2", "store 1 applied 40",
		"store 2 applied 38", "identical on every replica")
}

// TestMembershipFindings: a member without a replica, a member at an older
// epoch, and a removed store's stale replica (listed, not compared, and
// its different data is no violation).
func TestMembershipFindings(t *testing.T) {
	newest := reg(2, "", "", 4, 1, 1, 2)
	a := newDiskStore(t, 1).region(rspb.PeerState_Normal, newest, 40).put(engine.CFDefault, "k", "v")
	b := newDiskStore(t, 2).region(rspb.PeerState_Normal, reg(2, "", "", 3, 1, 1, 2), 35).put(engine.CFDefault, "k", "v")
	c := newDiskStore(t, 3).region(rspb.PeerState_Normal, reg(2, "", "", 2, 1, 1, 3), 20).put(engine.CFDefault, "k", "old")
	res := Check([]*Store{a.load(), b.load(), c.load()})
	mustFind(t, res, EpochMismatch, "store 2 has epoch v1/cv3", "store 1 has epoch v1/cv4")
	if len(res.Stale) != 1 || !strings.Contains(res.Stale[0], "region 2 on store 3") {
		t.Errorf("stale replicas %v, want region 2 on store 3", res.Stale)
	}

	res = Check([]*Store{newDiskStore(t, 1).region(rspb.PeerState_Normal, reg(2, "", "", 4, 1, 1, 2, 5), 40).load(),
		newDiskStore(t, 2).region(rspb.PeerState_Normal, reg(2, "", "", 4, 1, 1, 2, 5), 40).load(),
		newDiskStore(t, 5).load()})
	mustFind(t, res, MissingReplica, "store 5 (peer 25) holds no live replica")
}

// TestStoreFindings: overlapping live regions, an unfinished snapshot and
// a region without its apply state on one store.
func TestStoreFindings(t *testing.T) {
	res := Check([]*Store{newDiskStore(t, 1).
		region(rspb.PeerState_Normal, reg(2, "", "m", 2, 2, 1), 40).
		region(rspb.PeerState_Normal, reg(3, "f", "", 2, 2, 1), 40).load()})
	mustFind(t, res, Overlap, `region 3 ["f", +inf) overlaps region 2 ["", "m")`)
	// A region reaching over its neighbour into the next.
	res = Check([]*Store{newDiskStore(t, 1).
		region(rspb.PeerState_Normal, reg(2, "a", "z", 2, 2, 1), 40).
		region(rspb.PeerState_Normal, reg(3, "b", "c", 2, 2, 1), 40).
		region(rspb.PeerState_Normal, reg(4, "d", "e", 2, 2, 1), 40).load()})
	if got := kinds(res.Violations); len(got) != 2 || !strings.Contains(res.Violations[1].String(), "region 4") ||
		!strings.Contains(res.Violations[1].String(), "overlaps region 2") {
		t.Errorf("nested regions: %v, want regions 3 and 4 each overlapping region 2", res.Violations)
	}

	res = Check([]*Store{newDiskStore(t, 1).region(rspb.PeerState_Applying, reg(2, "", "", 2, 2, 1), 40).load()})
	mustFind(t, res, SnapshotUnfinished, "region 2", "still applying a snapshot")

	d := newDiskStore(t, 1).region(rspb.PeerState_Normal, reg(2, "", "", 2, 2, 1), 40)
	d.kv(func(wb *engine.WriteBatch) error { return wb.Delete(engine.ApplyStateKey(2)) })
	mustFind(t, Check([]*Store{d.load()}), MissingApplyState, "region 2", "no apply state")
}

// TestLoadRefusesARunningStore: the engines of a store that still runs
// (holds its dir) are not read.
func TestLoadRefusesARunningStore(t *testing.T) {
	d := newDiskStore(t, 1)
	if _, err := LoadDir(d.dir); !errors.Is(err, engine.ErrDataDirLocked) {
		t.Fatalf("LoadDir of an open store: %v, want ErrDataDirLocked", err)
	}
}
