package raftstore

import (
	"bytes"
	"sync"

	"github.com/google/btree"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// storeMeta is the store-wide view of the key ranges its peers own, used
// for overlap safety: a range enters it when a peer becomes initialized
// (loaded, created by a split, or given a snapshot) and leaves it only once
// the peer's data is deleted (destroy.go). Between those points nothing else
// may write that range on this store.
//
// Invariants: the ranges of regions are pairwise disjoint; a region with a
// reserved snapshot (pendingSnaps) overlaps no other region or reservation.
type storeMeta struct {
	mu sync.Mutex
	// regions holds the initialized regions by ID; ranges indexes them by
	// end key.
	regions map[uint64]*metapb.Region
	ranges  *btree.BTreeG[rangeItem]
	// pendingSnaps reserves the range of a snapshot accepted for stepping
	// until its round ends (applied or ignored).
	pendingSnaps map[uint64]*metapb.Region
	// destroying marks regions whose data is being deleted; no peer of
	// theirs may be created until that finishes.
	destroying map[uint64]bool
}

// rangeItem orders regions by end key; a region's empty end key is +inf
// (inf) and sorts last, while a search pivot's empty key is the smallest.
type rangeItem struct {
	end []byte
	inf bool
	id  uint64
}

func endItem(r *metapb.Region) rangeItem {
	return rangeItem{end: r.EndKey, inf: len(r.EndKey) == 0, id: r.Id}
}

func rangeLess(a, b rangeItem) bool {
	switch {
	case a.inf:
		return false
	case b.inf:
		return true
	}
	return bytes.Compare(a.end, b.end) < 0
}

func newStoreMeta() *storeMeta {
	return &storeMeta{
		regions:      make(map[uint64]*metapb.Region),
		ranges:       btree.NewG(32, rangeLess),
		pendingSnaps: make(map[uint64]*metapb.Region),
		destroying:   make(map[uint64]bool),
	}
}

// setRegionLocked installs or replaces a region's range.
func (m *storeMeta) setRegionLocked(r *metapb.Region) {
	if old, ok := m.regions[r.Id]; ok {
		if it, found := m.ranges.Get(endItem(old)); found && it.id == r.Id {
			m.ranges.Delete(it)
		}
	}
	m.regions[r.Id] = r
	m.ranges.ReplaceOrInsert(endItem(r))
}

func (m *storeMeta) setRegion(r *metapb.Region) {
	m.mu.Lock()
	m.setRegionLocked(r)
	m.mu.Unlock()
}

func (m *storeMeta) removeRegionLocked(id uint64) {
	if old, ok := m.regions[id]; ok {
		if it, found := m.ranges.Get(endItem(old)); found && it.id == id {
			m.ranges.Delete(it)
		}
		delete(m.regions, id)
	}
}

// overlapsLocked returns the regions (other than exclude) whose range
// overlaps [start, end).
func (m *storeMeta) overlapsLocked(start, end []byte, exclude uint64) []*metapb.Region {
	var out []*metapb.Region
	m.ranges.AscendGreaterOrEqual(rangeItem{end: start}, func(it rangeItem) bool {
		r := m.regions[it.id]
		if r == nil {
			return true
		}
		if len(r.EndKey) > 0 && bytes.Compare(r.EndKey, start) <= 0 {
			return true // ends exactly at start
		}
		if len(end) > 0 && bytes.Compare(r.StartKey, end) >= 0 {
			return false
		}
		if r.Id != exclude {
			out = append(out, r)
		}
		return true
	})
	return out
}

// reserveSnapshot reserves the range of a snapshot for region r; false if
// it overlaps another live region or another reservation.
func (m *storeMeta) reserveSnapshot(r *metapb.Region) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroying[r.Id] || len(m.overlapsLocked(r.StartKey, r.EndKey, r.Id)) > 0 {
		return false
	}
	for id, o := range m.pendingSnaps {
		if id != r.Id && rangesOverlap(o.StartKey, o.EndKey, r.StartKey, r.EndKey) {
			return false
		}
	}
	m.pendingSnaps[r.Id] = r
	return true
}

func (m *storeMeta) releaseSnapshot(id uint64) {
	m.mu.Lock()
	delete(m.pendingSnaps, id)
	m.mu.Unlock()
}

func rangesOverlap(s1, e1, s2, e2 []byte) bool {
	return (len(e2) == 0 || bytes.Compare(s1, e2) < 0) && (len(e1) == 0 || bytes.Compare(s2, e1) < 0)
}

// regionByID returns the region's meta as last installed.
func (m *storeMeta) regionByID(id uint64) *metapb.Region {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regions[id]
}

// Regions returns every initialized region this store holds.
func (s *Store) Regions() []*metapb.Region {
	s.meta.mu.Lock()
	defer s.meta.mu.Unlock()
	out := make([]*metapb.Region, 0, len(s.meta.regions))
	for _, r := range s.meta.regions {
		out = append(out, r)
	}
	return out
}

// RegionForKey returns the region of this store containing key, if any.
func (s *Store) RegionForKey(key []byte) *metapb.Region {
	s.meta.mu.Lock()
	defer s.meta.mu.Unlock()
	var out *metapb.Region
	s.meta.ranges.AscendGreaterOrEqual(rangeItem{end: key}, func(it rangeItem) bool {
		if !it.inf && bytes.Equal(it.end, key) {
			return true // ends at key: key belongs to the next region
		}
		if r := s.meta.regions[it.id]; r != nil && keyInRegion(key, r) {
			out = r
		}
		return false
	})
	return out
}

// checkSnapshot decides whether a received snapshot may be stepped: its
// range must not overlap another live region here (overlap safety). On
// yes, the range stays reserved until the end of the round.
func (p *peer) checkSnapshot(m *rspb.RaftMessage) bool {
	var data rspb.RaftSnapshotData
	if err := data.Unmarshal(m.Message.Snapshot.GetData()); err != nil || data.Region == nil || data.Region.Id != p.region.Id {
		return false
	}
	if !p.store.meta.reserveSnapshot(data.Region) {
		p.logger.Info("snapshot overlaps a live region here; dropped until it is gone",
			zap.Binary("start-key", data.Region.StartKey), zap.Binary("end-key", data.Region.EndKey))
		return false
	}
	p.snapReserved = true
	return true
}

// releaseSnapshotRange ends a snapshot reservation at the end of a round:
// the snapshot was applied (storeMeta has the region) or ignored.
func (p *peer) releaseSnapshotRange() {
	if p.snapReserved {
		p.snapReserved = false
		p.store.meta.releaseSnapshot(p.region.Id)
	}
}
