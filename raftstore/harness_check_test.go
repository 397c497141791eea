package raftstore

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// The lifecycle invariants, checked on a store between two steps (the
// harness is single-threaded, so a step boundary is a quiescent point of
// that store's memory and disk):
//
//   - on disk, the regions in state Normal have pairwise disjoint ranges, and every data key lies in one of them (no
//     data that no region owns);
//   - every such region's data equals the data every other replica had at
//     the same applied index (the first replica to reach (region, index)
//     sets it, so all replicas agree with the replay of the region's log);
//   - in memory, the initialized live peers have pairwise disjoint ranges,
//     each the one storeMeta holds for it;
//   - at quiescence (checkSettled), every region state Normal on disk has
//     a live peer, and every replica of a region holds the same data.

// dataMemo maps (region, applied index, range) to the hash of its data.
type dataMemo map[string]dataSeen

type dataSeen struct {
	hash  uint64
	store uint64
	keys  int
}

type diskRegion struct {
	state   *rspb.RegionLocalState
	applied uint64
}

// diskRegions reads every region state of a store with its applied index.
func (hs *hStore) diskRegions() map[uint64]diskRegion {
	out := map[uint64]diskRegion{}
	view, err := hs.engines.NewSnapshot()
	if err != nil {
		hs.h.t.Fatal(err)
	}
	defer view.Close()
	err = view.ScanInternal(engine.RegionMetaPrefix(), func(k, v []byte) error {
		id, err := engine.DecodeRegionStateKey(k)
		if err != nil {
			return nil // another record of the region
		}
		var st rspb.RegionLocalState
		if err := st.Unmarshal(v); err != nil {
			return err
		}
		var as rspb.RaftApplyState
		if _, err := view.GetMeta(engine.ApplyStateKey(id), &as); err != nil {
			return err
		}
		out[id] = diskRegion{state: &st, applied: as.AppliedIndex}
		return nil
	})
	if err != nil {
		hs.h.t.Fatal(err)
	}
	return out
}

func hashData(data map[string]string) uint64 {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New64a()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q;", k, data[k])
	}
	return h.Sum64()
}

func ownsKey(r *metapb.Region, key []byte) bool {
	return bytes.Compare(key, r.StartKey) >= 0 && (len(r.EndKey) == 0 || bytes.Compare(key, r.EndKey) < 0)
}

// checkStore checks the invariants of one store that is up.
func (h *harness) checkStore(hs *hStore) {
	h.t.Helper()
	if !hs.up() {
		return
	}
	if h.memo == nil {
		h.memo = dataMemo{}
	}
	var normal []*metapb.Region
	for id, dr := range hs.diskRegions() {
		st := dr.state
		if st.State != rspb.PeerState_Normal {
			// Tombstone (destroyed), Applying (only inside a step).
			continue
		}
		// A Normal state that no longer lists this store is a removed
		// peer whose destroy is pending: its data is still its own.
		r := st.Region
		for _, o := range normal {
			if rangesOverlap(o.StartKey, o.EndKey, r.StartKey, r.EndKey) {
				h.fatalf("store %d: regions %d and %d overlap on disk: %s and %s", hs.id, o.Id, id, describeRegion(o), describeRegion(r))
			}
		}
		normal = append(normal, r)
		data := hs.dataOf(r.StartKey, r.EndKey)
		key := fmt.Sprintf("%d@%d[%x,%x)", id, dr.applied, r.StartKey, r.EndKey)
		seen, ok := h.memo[key]
		sum := hashData(data)
		if !ok {
			h.memo[key] = dataSeen{hash: sum, store: hs.id, keys: len(data)}
			h.memoData[key] = data
		} else if seen.hash != sum {
			h.fatalf("store %d: region %d at applied index %d holds other data than store %d had there (%d keys vs %d): first difference %s",
				hs.id, id, dr.applied, seen.store, len(data), seen.keys, firstDiff(data, h.memoData[key]))
		}
	}
	for k := range hs.dataOf(nil, nil) {
		cfKey := []byte(k[bytes.IndexByte([]byte(k), '/')+1:])
		owned := false
		for _, r := range normal {
			if ownsKey(r, cfKey) {
				owned = true
				break
			}
		}
		if !owned {
			h.fatalf("store %d: key %q is owned by no region (regions on disk: %s)", hs.id, k, describeRegions(normal))
		}
	}
	// Memory: live initialized peers.
	var live []*metapb.Region
	for _, id := range hs.regionIDs() {
		p := hs.peer(id)
		if p == nil || p.destroyed || !p.ps.isInitialized() {
			continue
		}
		for _, o := range live {
			if rangesOverlap(o.StartKey, o.EndKey, p.region.StartKey, p.region.EndKey) {
				h.fatalf("store %d: live peers of regions %d and %d overlap: %s and %s", hs.id, o.Id, id,
					describeRegion(o), describeRegion(p.region))
			}
		}
		live = append(live, p.region)
		if m := hs.s.meta.regionByID(id); m == nil || !bytes.Equal(m.StartKey, p.region.StartKey) || !bytes.Equal(m.EndKey, p.region.EndKey) {
			h.fatalf("store %d: region %d is %s in its peer but %v in storeMeta", hs.id, id, describeRegion(p.region), m)
		}
	}
}

// checkAll checks every store that is up.
func (h *harness) checkAll() {
	h.t.Helper()
	for _, id := range h.ids {
		h.checkStore(h.stores[id])
	}
}

func describeRegion(r *metapb.Region) string {
	return fmt.Sprintf("%d[%q,%q)v%d/c%d", r.Id, r.StartKey, r.EndKey, r.RegionEpoch.GetVersion(), r.RegionEpoch.GetConfVer())
}

func describeRegions(rs []*metapb.Region) string {
	var b bytes.Buffer
	for i, r := range rs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(describeRegion(r))
	}
	return b.String()
}

// checkSettled checks, once the cluster is quiet and every store is up,
// that every region state Normal on disk has a live peer and that the
// replicas of each region hold the same data at the same applied index.
func (h *harness) checkSettled() {
	h.t.Helper()
	type replica struct {
		store   uint64
		applied uint64
		region  *metapb.Region
	}
	byRegion := map[uint64][]replica{}
	for _, sid := range h.ids {
		hs := h.stores[sid]
		if !hs.up() {
			continue
		}
		for id, dr := range hs.diskRegions() {
			st := dr.state
			if st.State != rspb.PeerState_Normal {
				continue
			}
			p := hs.peer(id)
			if p == nil || p.destroyed {
				h.fatalf("store %d: region %s is Normal on disk but has no live peer", sid, describeRegion(st.Region))
			}
			byRegion[id] = append(byRegion[id], replica{store: sid, applied: dr.applied, region: st.Region})
		}
	}
	for id, reps := range byRegion {
		for _, r := range reps[1:] {
			a, b := reps[0], r
			if a.applied != b.applied {
				continue // a removed member, or one that lags behind a partition
			}
			da := h.stores[a.store].dataOf(a.region.StartKey, a.region.EndKey)
			db := h.stores[b.store].dataOf(b.region.StartKey, b.region.EndKey)
			if !sameData(da, db) {
				h.fatalf("region %d: stores %d and %d at applied index %d differ: %s", id, a.store, b.store, a.applied, firstDiff(da, db))
			}
		}
	}
}
