// Package cluster is the scheduler's model of the cluster: stores and a
// region tree ordered by start key, built from heartbeats. A region report
// with an older epoch than what the model holds (for the same region or an
// overlapping one) is refused, so stale heartbeats never overwrite newer
// state; regions replaced by a split or merge leave the tree.
//
// Consumers (checkers, schedulers, the gRPC service, the HTTP API) declare
// the narrow interfaces they need; *Cluster satisfies them all.
package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// Sentinel errors.
var (
	ErrStaleRegion       = errors.New("cluster: region epoch is stale")
	ErrStoreNotFound     = errors.New("cluster: store not found")
	ErrStoreTombstone    = errors.New("cluster: store is tombstone")
	ErrDuplicatedAddress = errors.New("cluster: another store has this address")
	ErrInvalidState      = errors.New("cluster: invalid store state change")
)

// Cluster holds stores and regions. It is safe for concurrent use.
type Cluster struct {
	now func() time.Time

	mu      sync.RWMutex
	stores  map[uint64]*StoreInfo
	regions map[uint64]*RegionInfo
	tree    *regionTree
	// Per-store ordered sets of region IDs, for picking regions of a store.
	leaders map[uint64]*btree.BTreeG[uint64]
	peers   map[uint64]*btree.BTreeG[uint64]
	// leaderless counts the regions whose leader is unknown: loaded from
	// storage or reported by a split, not yet heartbeated by a leader.
	leaderless int
}

// New returns an empty cluster reading time from now (time.Now if nil).
func New(now func() time.Time) *Cluster {
	if now == nil {
		now = time.Now
	}
	return &Cluster{
		now:     now,
		stores:  map[uint64]*StoreInfo{},
		regions: map[uint64]*RegionInfo{},
		tree:    newRegionTree(),
		leaders: map[uint64]*btree.BTreeG[uint64]{},
		peers:   map[uint64]*btree.BTreeG[uint64]{},
	}
}

// Now is the cluster's clock.
func (c *Cluster) Now() time.Time { return c.now() }

// PutStore adds or updates a store's meta (address, labels, version). The
// persisted state (Up/Offline/Tombstone) of a known store is kept: a store
// re-registering cannot bring itself back from Offline or Tombstone.
func (c *Cluster) PutStore(meta *metapb.Store) (*metapb.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stores {
		if s.ID() != meta.Id && s.Meta.Address == meta.Address && s.Meta.State != metapb.StoreState_Tombstone {
			return nil, fmt.Errorf("%w: store %d has %s", ErrDuplicatedAddress, s.ID(), meta.Address)
		}
	}
	meta = cloneStore(meta)
	old, ok := c.stores[meta.Id]
	if !ok {
		meta.State, meta.NodeState = metapb.StoreState_Up, metapb.NodeState_Serving
		s := newStoreInfo(meta, c.now())
		s.Reported = true // it is talking to us
		c.stores[meta.Id] = c.recountLocked(s)
		return meta, nil
	}
	if old.Meta.State == metapb.StoreState_Tombstone {
		return nil, ErrStoreTombstone
	}
	meta.State = old.Meta.State
	meta.NodeState = old.Meta.NodeState
	s := old.clone()
	s.Meta = meta
	s.LastHeartbeat, s.Reported = c.now(), true
	c.stores[meta.Id] = s
	return meta, nil
}

// LoadStore installs a store read from storage, as is; it counts as
// silent until it registers or heartbeats.
func (c *Cluster) LoadStore(meta *metapb.Store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := newStoreInfo(meta, c.now()) // not Reported: silent until it talks
	c.stores[meta.Id] = c.recountLocked(s)
}

// recountLocked fills a new store's counts from the regions already in the
// model: regions may name a store before it registers (bootstrap, or
// regions loaded before stores).
func (c *Cluster) recountLocked(s *StoreInfo) *StoreInfo {
	t := c.peers[s.ID()]
	if t == nil {
		return s
	}
	t.Ascend(func(id uint64) bool {
		r := c.regions[id]
		if r == nil {
			return true
		}
		p := r.StorePeer(s.ID())
		s.RegionCount++
		s.RegionSize += r.SizeMiB()
		if p != nil && r.IsPending(p.Id) {
			s.PendingPeers++
		}
		if p != nil && p.Id == r.leader.GetId() {
			s.LeaderCount++
		}
		return true
	})
	return s
}

// GetStore returns a store, or nil.
func (c *Cluster) GetStore(id uint64) *StoreInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stores[id]
}

// GetStores returns every store, ordered by ID.
func (c *Cluster) GetStores() []*StoreInfo {
	c.mu.RLock()
	out := make([]*StoreInfo, 0, len(c.stores))
	for _, s := range c.stores {
		out = append(out, s)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *StoreInfo) int { return cmpU64(a.ID(), b.ID()) })
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// HandleStoreHeartbeat records a store's stats and the heartbeat time.
func (c *Cluster) HandleStoreHeartbeat(stats *pdpb.StoreStats) (*StoreInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.stores[stats.StoreId]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrStoreNotFound, stats.StoreId)
	}
	if old.Meta.State == metapb.StoreState_Tombstone {
		return nil, ErrStoreTombstone
	}
	s := old.clone()
	s.Stats = stats
	s.LastHeartbeat = c.now()
	s.Reported = true
	meta := cloneStore(s.Meta)
	meta.LastHeartbeat = s.LastHeartbeat.UnixNano()
	s.Meta = meta
	c.stores[stats.StoreId] = s
	return s, nil
}

// SetStoreState changes a store's persisted state. Allowed: Up <-> Offline,
// Offline -> Tombstone (callers check the store is empty first), and any
// state to itself. It returns the new meta to persist.
func (c *Cluster) SetStoreState(id uint64, state metapb.StoreState) (*metapb.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.stores[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrStoreNotFound, id)
	}
	from := old.Meta.State
	allowed := from == state ||
		(from == metapb.StoreState_Up && state == metapb.StoreState_Offline) ||
		(from == metapb.StoreState_Offline && (state == metapb.StoreState_Up || state == metapb.StoreState_Tombstone))
	if !allowed {
		return nil, fmt.Errorf("%w: store %d from %s to %s", ErrInvalidState, id, from, state)
	}
	s := old.clone()
	s.Meta = cloneStore(old.Meta)
	s.Meta.State = state
	switch state {
	case metapb.StoreState_Up:
		s.Meta.NodeState = metapb.NodeState_Serving
	case metapb.StoreState_Offline:
		s.Meta.NodeState = metapb.NodeState_Removing
	case metapb.StoreState_Tombstone:
		s.Meta.NodeState = metapb.NodeState_Removed
	}
	c.stores[id] = s
	return s.Meta, nil
}

// SetStoreWeight sets a store's leader and region weights (> 0).
func (c *Cluster) SetStoreWeight(id uint64, leader, region float64) error {
	if leader <= 0 || region <= 0 {
		return fmt.Errorf("cluster: weights must be positive")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.stores[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrStoreNotFound, id)
	}
	s := old.clone()
	s.LeaderWeight, s.RegionWeight = leader, region
	c.stores[id] = s
	return nil
}

// RegionChange says what a heartbeat changed.
type RegionChange struct {
	// SaveMeta: the region's meta (keys, epoch, peers) is new and must be
	// persisted.
	SaveMeta bool
	// Removed are regions that r replaced (split or merge leftovers).
	Removed []uint64
}

// PutRegion installs r unless it is stale: its epoch is older than the
// region with the same ID, or than a region it overlaps, or it has the same
// epoch and an older term.
func (c *Cluster) PutRegion(r *RegionInfo) (RegionChange, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ch RegionChange
	old := c.regions[r.ID()]
	if old != nil {
		oe, ne := old.Epoch(), r.Epoch()
		if ne.Version < oe.Version || ne.ConfVer < oe.ConfVer {
			return ch, fmt.Errorf("%w: region %d epoch %v older than %v", ErrStaleRegion, r.ID(), ne, oe)
		}
		if ne.Version == oe.Version && ne.ConfVer == oe.ConfVer && r.term < old.term {
			return ch, fmt.Errorf("%w: region %d term %d older than %d", ErrStaleRegion, r.ID(), r.term, old.term)
		}
	}
	if old != nil && sameShape(old, r) {
		// Fast path for the common steady-state heartbeat: same range,
		// epoch, peers, leader, pending peers and size bucket, so neither
		// the tree's shape nor any store count changes.
		c.regions[r.ID()] = r
		c.tree.put(r)
		return ch, nil
	}
	overlaps := c.tree.overlaps(r)
	for _, o := range overlaps {
		if o.ID() != r.ID() && o.Epoch().Version > r.Epoch().Version {
			return ch, fmt.Errorf("%w: region %d version %d overlaps region %d version %d",
				ErrStaleRegion, r.ID(), r.Epoch().Version, o.ID(), o.Epoch().Version)
		}
	}
	ch.SaveMeta = old == nil || !metaEqual(old.meta, r.meta)
	if old != nil {
		c.tree.remove(old)
		c.unindexLocked(old)
	}
	for _, o := range overlaps {
		if o.ID() == r.ID() {
			continue
		}
		c.tree.remove(o)
		c.unindexLocked(o)
		delete(c.regions, o.ID())
		ch.Removed = append(ch.Removed, o.ID())
	}
	c.regions[r.ID()] = r
	c.tree.put(r)
	c.indexLocked(r)
	return ch, nil
}

// RemoveRegion drops a region from the model.
func (c *Cluster) RemoveRegion(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.regions[id]; r != nil {
		c.tree.remove(r)
		c.unindexLocked(r)
		delete(c.regions, id)
	}
}

func (c *Cluster) set(m map[uint64]*btree.BTreeG[uint64], store uint64) *btree.BTreeG[uint64] {
	t := m[store]
	if t == nil {
		t = btree.NewOrderedG[uint64](32)
		m[store] = t
	}
	return t
}

// indexLocked adds r's contribution to the per-store sets and counts.
func (c *Cluster) indexLocked(r *RegionInfo) { c.accountLocked(r, 1) }

func (c *Cluster) unindexLocked(r *RegionInfo) { c.accountLocked(r, -1) }

func (c *Cluster) accountLocked(r *RegionInfo, sign int) {
	for _, p := range r.Peers() {
		if sign > 0 {
			c.set(c.peers, p.StoreId).ReplaceOrInsert(r.ID())
		} else if t := c.peers[p.StoreId]; t != nil {
			t.Delete(r.ID())
		}
		s := c.stores[p.StoreId]
		if s == nil {
			continue
		}
		s = s.clone()
		s.RegionCount += sign
		s.RegionSize += int64(sign) * r.SizeMiB()
		if r.IsPending(p.Id) {
			s.PendingPeers += sign
		}
		if p.Id == r.leader.GetId() {
			s.LeaderCount += sign
		}
		c.stores[p.StoreId] = s
	}
	if r.leader == nil {
		c.leaderless += sign
	}
	if ls := r.LeaderStoreID(); ls != 0 {
		if sign > 0 {
			c.set(c.leaders, ls).ReplaceOrInsert(r.ID())
		} else if t := c.leaders[ls]; t != nil {
			t.Delete(r.ID())
		}
	}
}

// GetRegion returns a region by ID, or nil.
func (c *Cluster) GetRegion(id uint64) *RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.regions[id]
}

// GetRegionByKey returns the region containing key, or nil.
func (c *Cluster) GetRegionByKey(key []byte) *RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tree.search(key)
}

// GetPrevRegion returns the region just before the one containing key.
func (c *Cluster) GetPrevRegion(key []byte) *RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tree.searchPrev(key)
}

// ScanRegions returns up to limit regions overlapping [start, end) in key
// order (limit <= 0: all; empty end: +infinity).
func (c *Cluster) ScanRegions(start, end []byte, limit int) []*RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*RegionInfo
	c.tree.scan(start, end, func(r *RegionInfo) bool {
		out = append(out, r)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// RegionCount is the number of regions in the model.
func (c *Cluster) RegionCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.regions)
}

// LeaderlessCount is the number of regions whose leader is unknown.
func (c *Cluster) LeaderlessCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.leaderless
}

// RegionsOfStore lists the IDs of regions with a peer on store, in ID order.
func (c *Cluster) RegionsOfStore(store uint64) []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []uint64
	if t := c.peers[store]; t != nil {
		t.Ascend(func(id uint64) bool { out = append(out, id); return true })
	}
	return out
}

// RandLeaderRegions returns up to n regions led by store, starting at a
// random point (from rng) of the store's ordered set and wrapping around.
func (c *Cluster) RandLeaderRegions(store uint64, n int, rng *rand.Rand) []*RegionInfo {
	return c.randRegions(c.leaders, store, n, rng)
}

// RandPeerRegions returns up to n regions with a peer on store, like
// RandLeaderRegions.
func (c *Cluster) RandPeerRegions(store uint64, n int, rng *rand.Rand) []*RegionInfo {
	return c.randRegions(c.peers, store, n, rng)
}

func (c *Cluster) randRegions(m map[uint64]*btree.BTreeG[uint64], store uint64, n int, rng *rand.Rand) []*RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t := m[store]
	if t == nil || t.Len() == 0 {
		return nil
	}
	minID, _ := t.Min()
	maxID, _ := t.Max()
	pivot := minID + rng.Uint64N(maxID-minID+1)
	out := make([]*RegionInfo, 0, n)
	visit := func(id uint64) bool {
		if r := c.regions[id]; r != nil {
			out = append(out, r)
		}
		return len(out) < n
	}
	t.AscendGreaterOrEqual(pivot, visit)
	if len(out) < n {
		t.AscendLessThan(pivot, visit)
	}
	return out
}

// SetLastHeartbeat overrides a store's last heartbeat time (tests and tools
// that replay history).
func (c *Cluster) SetLastHeartbeat(id uint64, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stores[id]; ok {
		s = s.clone()
		s.LastHeartbeat = t
		c.stores[id] = s
	}
}

// sameShape reports whether replacing a by b changes nothing but stats
// that no index or count depends on.
func sameShape(a, b *RegionInfo) bool {
	if !metaEqual(a.meta, b.meta) || a.leader.GetId() != b.leader.GetId() ||
		a.SizeMiB() != b.SizeMiB() || len(a.pendingPeers) != len(b.pendingPeers) {
		return false
	}
	for i, p := range a.pendingPeers {
		if p.GetId() != b.pendingPeers[i].GetId() {
			return false
		}
	}
	return true
}
