package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/btree"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// region is one cached region. A region value is never modified once it is
// in the cache: a leader change replaces it with a copy, so a request may
// keep the value it was routed with and later tell the cache exactly which
// view turned out to be wrong.
type region struct {
	meta   *metapb.Region
	leader int // index in meta.Peers of the peer requests go to first
}

func (r *region) id() uint64                 { return r.meta.GetId() }
func (r *region) start() []byte              { return r.meta.GetStartKey() }
func (r *region) end() []byte                { return r.meta.GetEndKey() }
func (r *region) epoch() *metapb.RegionEpoch { return r.meta.GetRegionEpoch() }
func (r *region) leaderPeer() *metapb.Peer   { return r.meta.Peers[r.leader] }

// contains reports start <= key < end (an empty end is +infinity).
func (r *region) contains(key []byte) bool {
	return bytes.Compare(r.start(), key) <= 0 && (len(r.end()) == 0 || bytes.Compare(key, r.end()) < 0)
}

// containsBefore reports whether the keys just below key are in r:
// start < key <= end. An empty key stands for +infinity, whose keys below
// are in the last region.
func (r *region) containsBefore(key []byte) bool {
	if len(key) == 0 {
		return len(r.end()) == 0
	}
	return bytes.Compare(r.start(), key) < 0 && (len(r.end()) == 0 || bytes.Compare(key, r.end()) <= 0)
}

// sameEpoch reports whether a and b are the same region at the same epoch.
func sameEpoch(a, b *metapb.Region) bool {
	ea, eb := a.GetRegionEpoch(), b.GetRegionEpoch()
	return a.GetId() == b.GetId() && ea.GetVersion() == eb.GetVersion() && ea.GetConfVer() == eb.GetConfVer()
}

// isStale reports whether newer knowledge in old makes r outdated. Without
// merges, the version of the region covering any given key only grows (a
// split raises it on both halves, and the new half inherits it), so of two
// overlapping regions the one with the lower version is stale. conf_ver
// compares only within one region.
func isStale(r, old *metapb.Region) bool {
	er, eo := r.GetRegionEpoch(), old.GetRegionEpoch()
	if er.GetVersion() != eo.GetVersion() {
		return er.GetVersion() < eo.GetVersion()
	}
	return r.GetId() == old.GetId() && er.GetConfVer() < eo.GetConfVer()
}

// isServing reports whether a peer may serve requests (learners do not).
func isServing(p *metapb.Peer) bool {
	return p.GetRole() != metapb.PeerRole_Learner && !p.GetIsWitness()
}

// newRegion builds a cache entry; leader picks the first peer when it is not
// one of the region's serving peers.
func newRegion(meta *metapb.Region, leader *metapb.Peer) (*region, error) {
	if meta == nil {
		return nil, fmt.Errorf("%w: scheduler returned no region", ErrRegionUnavailable)
	}
	r := &region{meta: meta, leader: -1}
	for i, p := range meta.Peers {
		if !isServing(p) {
			continue
		}
		if r.leader < 0 || (leader != nil && p.GetId() == leader.GetId()) {
			r.leader = i
		}
	}
	if r.leader < 0 {
		return nil, fmt.Errorf("%w: region %d has no voter", ErrNoPeer, meta.GetId())
	}
	return r, nil
}

// regionCache maps keys to regions. It holds the regions it has seen,
// ordered by start key, and asks the scheduler for the ones it lacks.
//
// Invariant: the cached regions do not overlap; an insert first removes the
// regions it overlaps, unless one of them is newer, in which case the
// insert is dropped.
type regionCache struct {
	sched  scheduler
	logger *zap.Logger

	mu   sync.RWMutex
	tree *btree.BTreeG[*region] // by start key
	byID map[uint64]*region
}

func newRegionCache(sched scheduler, logger *zap.Logger) *regionCache {
	return &regionCache{
		sched:  sched,
		logger: logger,
		tree:   btree.NewG(32, func(a, b *region) bool { return bytes.Compare(a.start(), b.start()) < 0 }),
		byID:   map[uint64]*region{},
	}
}

func pivot(key []byte) *region { return &region{meta: &metapb.Region{StartKey: key}} }

// lookupLocked returns the cached region containing key, or nil.
func (c *regionCache) lookup(key []byte) *region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var found *region
	c.tree.DescendLessOrEqual(pivot(key), func(r *region) bool {
		found = r
		return false
	})
	if found != nil && found.contains(key) {
		return found
	}
	return nil
}

// lookupBefore returns the cached region holding the keys just below key
// (see containsBefore), or nil.
func (c *regionCache) lookupBefore(key []byte) *region {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var found *region
	if len(key) == 0 {
		found, _ = c.tree.Max()
	} else {
		c.tree.DescendLessOrEqual(pivot(key), func(r *region) bool {
			if bytes.Equal(r.start(), key) {
				return true // starts at key: the keys below are in the one before
			}
			found = r
			return false
		})
	}
	if found != nil && found.containsBefore(key) {
		return found
	}
	return nil
}

// locate returns the region containing key, asking the scheduler on a miss.
func (c *regionCache) locate(ctx context.Context, key []byte) (*region, error) {
	if r := c.lookup(key); r != nil {
		return r, nil
	}
	sr, err := c.sched.GetRegion(ctx, key)
	if err != nil {
		return nil, schedulerErr(err)
	}
	r, err := c.insert(sr)
	if err == nil && !r.contains(key) {
		err = fmt.Errorf("%w: scheduler returned region %d [%q, %q) for key %q", ErrRegionUnavailable, r.id(), r.start(), r.end(), key)
	}
	return r, err
}

// locateBefore returns the region holding the keys just below key (an empty
// key: the last region), asking the scheduler on a miss. Reverse scans walk
// the key space with it.
func (c *regionCache) locateBefore(ctx context.Context, key []byte) (*region, error) {
	if r := c.lookupBefore(key); r != nil {
		return r, nil
	}
	var sr *schedclient.Region
	if len(key) == 0 {
		// No key names the last region: list the regions from the last one
		// cached (or from the beginning) to the end, and take the last.
		from := []byte(nil)
		c.mu.RLock()
		if last, ok := c.tree.Max(); ok {
			from = last.start()
		}
		c.mu.RUnlock()
		rs, err := c.sched.ScanRegions(ctx, from, nil, 0)
		if err != nil {
			return nil, schedulerErr(err)
		}
		for _, r := range rs[:max(len(rs)-1, 0)] {
			_, _ = c.insert(r)
		}
		if len(rs) == 0 {
			return nil, fmt.Errorf("%w: scheduler lists no region after %q", ErrRegionUnavailable, from)
		}
		sr = rs[len(rs)-1]
	} else {
		var err error
		if sr, err = c.sched.GetRegion(ctx, key); err != nil {
			return nil, schedulerErr(err)
		}
		if bytes.Equal(sr.Meta.GetStartKey(), key) {
			_, _ = c.insert(sr)
			if sr, err = c.sched.GetPrevRegion(ctx, key); err != nil {
				return nil, schedulerErr(err)
			}
		}
	}
	r, err := c.insert(sr)
	if err == nil && !r.containsBefore(key) {
		err = fmt.Errorf("%w: scheduler returned region %d [%q, %q) for keys below %q", ErrRegionUnavailable, r.id(), r.start(), r.end(), key)
	}
	return r, err
}

// schedulerErr marks a scheduler failure as a region-unavailable one, so
// that callers retry it like a region miss.
func schedulerErr(err error) error {
	if errors.Is(err, schedclient.ErrRegionNotFound) {
		return fmt.Errorf("%w: %w", ErrRegionUnavailable, err)
	}
	return fmt.Errorf("client: ask scheduler: %w", err)
}

// insert caches a region the scheduler returned and returns its entry. A
// region older than a cached one it overlaps is returned but not cached: the
// store will answer it with EpochNotMatch and the current regions.
func (c *regionCache) insert(sr *schedclient.Region) (*region, error) {
	r, err := newRegion(sr.Meta, sr.Leader)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insertLocked(r)
	return r, nil
}

// insertLocked replaces the cached regions r overlaps with r, unless one of
// them is newer. It reports whether r was cached.
func (c *regionCache) insertLocked(r *region) bool {
	var overlaps []*region
	c.tree.DescendLessOrEqual(pivot(r.start()), func(o *region) bool {
		if len(o.end()) == 0 || bytes.Compare(o.end(), r.start()) > 0 {
			overlaps = append(overlaps, o)
		}
		return false
	})
	c.tree.AscendGreaterOrEqual(pivot(r.start()), func(o *region) bool {
		if len(r.end()) > 0 && bytes.Compare(o.start(), r.end()) >= 0 {
			return false
		}
		if len(overlaps) == 0 || overlaps[0] != o {
			overlaps = append(overlaps, o)
		}
		return true
	})
	if old := c.byID[r.id()]; old != nil {
		overlaps = append(overlaps, old) // the same region, maybe at an old range
	}
	for _, o := range overlaps {
		if isStale(r.meta, o.meta) {
			return false
		}
	}
	for _, o := range overlaps {
		c.removeLocked(o)
	}
	c.tree.ReplaceOrInsert(r)
	c.byID[r.id()] = r
	return true
}

func (c *regionCache) removeLocked(r *region) {
	if cur, ok := c.tree.Get(r); ok && cur.id() == r.id() {
		c.tree.Delete(r)
	}
	if c.byID[r.id()] != nil && c.byID[r.id()].id() == r.id() && sameEpoch(c.byID[r.id()].meta, r.meta) {
		delete(c.byID, r.id())
	}
}

// currentLocked returns the cached entry for the region r was routed with,
// if the cache still holds it at the same epoch.
func (c *regionCache) currentLocked(r *region) *region {
	cur := c.byID[r.id()]
	if cur == nil || !sameEpoch(cur.meta, r.meta) {
		return nil
	}
	return cur
}

// invalidate drops the region r was routed with, so that the next request
// asks the scheduler. A newer entry for the same region stays.
func (c *regionCache) invalidate(r *region) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.currentLocked(r); cur != nil {
		c.removeLocked(cur)
		c.logger.Debug("region invalidated", zap.Uint64("region-id", r.id()))
	}
}

// updateLeader records a NotLeader hint. It reports false when the hinted
// peer is not among the region's serving peers: then the cached membership
// is stale and the region is dropped.
func (c *regionCache) updateLeader(r *region, leader *metapb.Peer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.currentLocked(r)
	if cur == nil {
		cur = r
	}
	for i, p := range cur.meta.Peers {
		if p.GetId() == leader.GetId() && isServing(p) {
			if i != cur.leader && c.currentLocked(r) != nil {
				c.replaceLocked(cur, i)
			}
			return true
		}
	}
	if c.currentLocked(r) != nil {
		c.removeLocked(cur)
	}
	return false
}

// switchPeer makes the next serving peer after failed the one to try first,
// and returns it (nil when the region has no other serving peer).
func (c *regionCache) switchPeer(r *region, failed *metapb.Peer) *metapb.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.currentLocked(r)
	if cur == nil {
		cur = r
	}
	n := len(cur.meta.Peers)
	at := 0
	for i, p := range cur.meta.Peers {
		if p.GetId() == failed.GetId() {
			at = i
		}
	}
	for step := 1; step < n; step++ {
		i := (at + step) % n
		if p := cur.meta.Peers[i]; isServing(p) && p.GetId() != failed.GetId() {
			if c.currentLocked(r) != nil {
				c.replaceLocked(cur, i)
			}
			return p
		}
	}
	return nil
}

func (c *regionCache) replaceLocked(cur *region, leader int) {
	next := &region{meta: cur.meta, leader: leader}
	c.tree.ReplaceOrInsert(next)
	c.byID[next.id()] = next
}

// onEpochNotMatch installs the regions a store reported as current, in
// place of the one the request was routed with. Peers on the store that
// answered become the leaders to try first: a split leaves the new regions'
// leaders where the old one's was.
func (c *regionCache) onEpochNotMatch(r *region, storeID uint64, current []*metapb.Region) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.currentLocked(r); cur != nil {
		c.removeLocked(cur)
	}
	for _, m := range current {
		var leader *metapb.Peer
		for _, p := range m.GetPeers() {
			if p.GetStoreId() == storeID {
				leader = p
			}
		}
		nr, err := newRegion(m, leader)
		if err != nil {
			continue
		}
		c.insertLocked(nr)
	}
}

// len is the number of cached regions (for tests).
func (c *regionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tree.Len()
}
