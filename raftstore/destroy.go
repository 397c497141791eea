package raftstore

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Peer destruction. A peer goes away when it learns it is no longer a
// member of its region:
//
//   - it applies the conf change that removes it (conf_change.go);
//   - another member receives a message from it carrying an older conf_ver
//     while it is not in the member's region, and answers with a tombstone
//     message (is_tombstone) that a peer with an older conf_ver obeys;
//   - after MaxLeaderMissingTicks without a leader it asks the scheduler
//     (GetRegionByID) and finds a newer conf_ver that does not list it.
//
// A destroy waits until the peer's apply worker has caught up with every
// entry handed to it (maybeDestroy): a committed split still in the apply
// queue, or its result still in the mailbox, must create the new regions'
// peers first and shrink the range, or the destroy would delete data that
// belongs to them. Meanwhile the peer steps no raft message, takes no
// Ready and refuses requests.
//
// Destroying marks the region destroying in storeMeta (its range stays
// reserved, so no snapshot or split lands there meanwhile), unregisters the
// peer, and lets the region's apply worker, after every task queued before,
// run destroyRegion:
//
//  1. kv DB, synced, one batch: the tombstone (RegionLocalState Tombstone
//     with the region and epoch; initialized peers only), the apply state
//     deleted, and a PendingDestroy record naming the range to clear;
//  2. raft DB: the raft state and the log deleted;
//  3. kv DB: the region's data deleted in every CF;
//  4. kv DB, synced: the PendingDestroy record deleted; the range released.
//
// A crash anywhere in 2-4 leaves the record, and the restart finishes the
// destroy before it loads any peer (finishDestroys), so neither a raft state
// that a re-added peer would load (a commit index beyond its empty log) nor
// data that no region owns survives. The tombstone keeps stale messages from
// recreating the peer; a message for a newer peer ID with a newer conf_ver
// (the store was added back) may create a new one.

type destroyTask struct {
	region      *metapb.Region
	initialized bool
}

// destroy removes this peer from the store (raft worker holding it), at
// once or as soon as its apply worker has caught up.
func (p *peer) destroy(reason string) {
	if p.destroyed {
		return
	}
	if p.pendingDestroy == "" {
		p.logger.Info("destroying peer", zap.String("reason", reason), zap.Uint64("conf-ver", p.region.RegionEpoch.GetConfVer()),
			zap.Bool("apply-caught-up", p.applyCaughtUp()))
		p.pendingDestroy = reason
		p.failProposals("peer destroyed")
		p.failAllReads(errRegionNotFound(p.region.Id))
	}
	p.maybeDestroy()
}

// maybeDestroy carries out a pending destroy once nothing applied here can
// still change the peer's range.
func (p *peer) maybeDestroy() {
	if p.pendingDestroy == "" || p.destroyed || !p.applyCaughtUp() {
		return
	}
	p.destroyed = true
	s := p.store
	if p.isLeader() {
		s.leaderCount.Add(-1)
	}
	s.meta.mu.Lock()
	s.meta.destroying[p.region.Id] = true
	s.meta.mu.Unlock()
	s.setAwake(p.region.Id, false)
	if f := s.router.unregister(p.region.Id); f != nil {
		for _, m := range f.close() {
			failMsg(m)
		}
	}
	s.applier.schedule(&applyTask{kind: taskDestroy, regionID: p.region.Id,
		destroy: &destroyTask{region: p.region, initialized: p.ps.isInitialized()}})
}

// destroyRegion deletes a destroyed peer's state and data (apply worker).
func (w *applyWorker) destroyRegion(t *applyTask) bool {
	if !w.flush() {
		return false
	}
	r := t.destroy.region
	delete(w.delegates, r.Id)
	delete(w.stopped, r.Id)
	if !w.env.destroyRegionData(r, t.destroy.initialized) {
		return false
	}
	w.logger.Info("destroyed peer", zap.Uint64("region-id", r.Id), zap.Uint64("conf-ver", r.RegionEpoch.GetConfVer()))
	return true
}

// destroyRegionData implements applyEnv: the tombstone, then the region's
// data, its snapshot files and its place in the store's meta. False if the
// store failed.
func (s *Store) destroyRegionData(r *metapb.Region, initialized bool) bool {
	pending, ok := s.writeTombstone(r, initialized)
	if !ok {
		return false
	}
	if !s.engineOp("destroy region", func() error { return s.clearRegion(r.Id, pending.Region, nil) }) {
		return false
	}
	s.snaps.forget(r.Id)
	s.meta.mu.Lock()
	if cur := s.meta.regions[r.Id]; cur != nil {
		s.meta.removeRegionLocked(r.Id)
	}
	delete(s.meta.destroying, r.Id)
	s.meta.mu.Unlock()
	return true
}

// writeTombstone runs step 1 of a destroy and returns the PendingDestroy
// record it wrote; false if the store failed.
func (s *Store) writeTombstone(r *metapb.Region, initialized bool) (*rspb.RegionLocalState, bool) {
	var wb engine.WriteBatch
	pending := &rspb.RegionLocalState{State: rspb.PeerState_Tombstone}
	if initialized {
		pending.Region = r
		if err := wb.SetMeta(engine.RegionStateKey(r.Id), &rspb.RegionLocalState{State: rspb.PeerState_Tombstone, Region: r}); err != nil {
			s.logger.Panic("encode tombstone", zap.Error(err))
		}
	}
	if err := wb.SetMeta(engine.PendingDestroyKey(r.Id), pending); err != nil {
		s.logger.Panic("encode pending destroy", zap.Error(err))
	}
	_ = wb.Delete(engine.ApplyStateKey(r.Id))
	return pending, s.writeKV(&wb) && s.syncKV()
}

// destroyRemoved destroys, at store start, a region whose state on disk no
// longer lists this store: its apply worker applied the removal of our peer
// and the store went down before the peer was destroyed. live are the
// ranges of the regions this store holds.
func (s *Store) destroyRemoved(st *rspb.RegionLocalState, live []*metapb.Region) error {
	s.logger.Info("destroying a peer whose removal was applied before the store went down",
		zap.Uint64("region-id", st.Region.Id), zap.Uint64("conf-ver", st.Region.RegionEpoch.GetConfVer()))
	pending, ok := s.writeTombstone(st.Region, true)
	if !ok {
		return ErrStopped
	}
	var others []*metapb.Region
	for _, r := range live {
		if r.Id != st.Region.Id {
			others = append(others, r)
		}
	}
	return s.clearRegion(st.Region.Id, pending.Region, others)
}

// clearRegion runs steps 2-4 of a destroy: the raft state and log, the data
// of region's range (nil: none) except what the live regions own, then the
// PendingDestroy record.
func (s *Store) clearRegion(regionID uint64, region *metapb.Region, live []*metapb.Region) error {
	var wb engine.WriteBatch
	_ = wb.Delete(engine.RaftStateKey(regionID))
	if err := s.engines.WriteRaft(&wb, true); err != nil {
		return err
	}
	if err := s.engines.DeleteRaftRange(engine.RaftLogKey(regionID, 0), engine.RaftLogKey(regionID, math.MaxUint64)); err != nil {
		return err
	}
	if region != nil {
		for _, rg := range rangeMinus(region.StartKey, region.EndKey, live) {
			for _, cf := range engine.CFs {
				if err := s.engines.DeleteRangeKV(cf, rg[0], rg[1]); err != nil {
					return err
				}
			}
		}
	}
	wb.Reset()
	_ = wb.Delete(engine.PendingDestroyKey(regionID))
	if err := s.engines.WriteKV(&wb, false); err != nil {
		return err
	}
	// Durable before the region may be created here again: a restart must
	// not clear a new peer's state.
	return s.engines.SyncKV()
}

// rangeMinus returns the parts of [start, end) outside every region of
// live, in key order (an empty end is +inf).
func rangeMinus(start, end []byte, live []*metapb.Region) [][2][]byte {
	rs := slices.Clone(live)
	slices.SortFunc(rs, func(a, b *metapb.Region) int { return bytes.Compare(a.StartKey, b.StartKey) })
	var out [][2][]byte
	cur := start
	for _, r := range rs {
		if !rangesOverlap(cur, end, r.StartKey, r.EndKey) {
			continue
		}
		if bytes.Compare(r.StartKey, cur) > 0 {
			out = append(out, [2][]byte{cur, r.StartKey})
		}
		if len(r.EndKey) == 0 {
			return out
		}
		if bytes.Compare(r.EndKey, cur) > 0 {
			cur = r.EndKey
		}
	}
	if len(end) == 0 || bytes.Compare(cur, end) < 0 {
		out = append(out, [2][]byte{cur, end})
	}
	return out
}

// finishDestroys completes the destroys a crash interrupted (store start,
// before any peer is loaded). states are the region states on disk.
func (s *Store) finishDestroys(states []*rspb.RegionLocalState) error {
	var live []*metapb.Region
	byID := make(map[uint64]*rspb.RegionLocalState, len(states))
	for _, st := range states {
		byID[st.Region.GetId()] = st
		if st.State != rspb.PeerState_Tombstone {
			live = append(live, st.Region)
		}
	}
	var pending []uint64
	err := s.engines.ScanRaw(engine.DBKV, engine.RegionMetaPrefix(), nil, func(key, _ []byte) (bool, error) {
		if id, err := engine.DecodePendingDestroyKey(key); err == nil {
			pending = append(pending, id)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range pending {
		var rec rspb.RegionLocalState
		if _, err := engine.GetMeta(s.engines.KV, engine.PendingDestroyKey(id), &rec); err != nil {
			return err
		}
		if st := byID[id]; st != nil && st.State != rspb.PeerState_Tombstone {
			return fmt.Errorf("%w: region %d is %s but its destroy did not finish", ErrCorrupt, id, st.State)
		}
		s.logger.Info("finishing a destroy interrupted by a crash", zap.Uint64("region-id", id))
		if err := s.clearRegion(id, rec.Region, live); err != nil {
			return err
		}
	}
	return nil
}

// epochConfStale reports whether a has an older membership than b.
func epochConfStale(a, b *metapb.RegionEpoch) bool {
	return a.GetConfVer() < b.GetConfVer()
}

func (p *peer) hasPeer(id uint64) bool {
	for _, pr := range p.region.Peers {
		if pr.Id == id {
			return true
		}
	}
	return false
}

// maybeAnswerStale handles a message from a peer that is not in our region
// and knows an older membership: it was removed, so tell it. It reports
// whether the message was consumed.
func (p *peer) maybeAnswerStale(m *rspb.RaftMessage) bool {
	if m.FromPeer == nil || !p.ps.isInitialized() || p.hasPeer(m.FromPeer.Id) ||
		!epochConfStale(m.RegionEpoch, p.region.RegionEpoch) {
		return false
	}
	p.logger.Info("message from a removed peer; telling it", zap.Uint64("from-peer", m.FromPeer.Id),
		zap.Uint64("from-store", m.FromPeer.StoreId), zap.Uint64("its-conf-ver", m.RegionEpoch.GetConfVer()))
	_ = p.store.trans.Send(&rspb.RaftMessage{RegionId: p.region.Id, FromPeer: p.meta, ToPeer: m.FromPeer,
		RegionEpoch: p.region.RegionEpoch, IsTombstone: true})
	return true
}

// onTombstoneMsg obeys a member's word that we were removed.
func (p *peer) onTombstoneMsg(m *rspb.RaftMessage) {
	if m.ToPeer.GetId() != p.meta.Id {
		return
	}
	if p.ps.isInitialized() && !epochConfStale(p.region.RegionEpoch, m.RegionEpoch) {
		return
	}
	p.destroy("a member says this peer was removed")
}

// maybeCheckStale asks the scheduler about the region after a long time
// without hearing from a leader (tick). Knowing a leader is not enough: a
// peer created by a message, whose addition was undone before it got a
// snapshot, keeps the leader it heard from once and never hears again.
func (p *peer) maybeCheckStale() {
	cfg := &p.store.cfg
	if p.isLeader() {
		p.leaderMissingTicks = 0
		return
	}
	p.leaderMissingTicks++
	if p.leaderMissingTicks%cfg.MaxLeaderMissingTicks != 0 {
		return
	}
	s := p.store
	regionID, me, epoch, lingering := p.region.Id, p.meta, p.knownEpoch(), p.lingerIndex > 0
	s.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		meta, err := s.scheduler.GetRegionByID(ctx, regionID)
		if err != nil || meta == nil {
			return
		}
		if !staleBy(epoch, meta.RegionEpoch, lingering) {
			return
		}
		for _, pr := range meta.Peers {
			if pr.Id == me.Id {
				return
			}
		}
		s.router.send(regionID, peerMsg{kind: msgStaleCheck, region: meta})
	})
}

// onStaleCheck destroys the peer if the scheduler's newer region does not
// list it.
func (p *peer) onStaleCheck(r *metapb.Region) {
	if !staleBy(p.knownEpoch(), r.RegionEpoch, p.lingerIndex > 0) {
		return // the scheduler may not know of our membership yet
	}
	for _, pr := range r.Peers {
		if pr.Id == p.meta.Id {
			return
		}
	}
	p.destroy("the scheduler's region no longer lists this peer")
}

// staleBy reports whether the scheduler's region epoch shows a peer known
// by ours removed: a newer membership, or for a peer lingering after its
// own removal (lingerIndex), the membership it applied itself — the
// scheduler hears a membership only from a leader that applied it, and
// that leader knows the removal is committed.
func staleBy(ours, scheduler *metapb.RegionEpoch, lingering bool) bool {
	if lingering {
		return !epochConfStale(scheduler, ours)
	}
	return epochConfStale(ours, scheduler)
}

// knownEpoch is the newest epoch the peer knows its membership by: its
// region's, or for a peer not initialized yet, the newest carried by the
// messages it got (their senders listed us). Only a membership newer than
// that can tell it was removed: the scheduler's view may lag behind the
// change that added us.
func (p *peer) knownEpoch() *metapb.RegionEpoch {
	if p.ps.isInitialized() || p.heardEpoch == nil {
		return p.region.RegionEpoch
	}
	return p.heardEpoch
}

// failDestroyed answers a message that reached a peer destroyed earlier in
// the same round.
func failDestroyed(m *peerMsg, regionID uint64) {
	switch m.kind {
	case msgCommand:
		respondErr(m.cmd.cb, errRegionNotFound(regionID), 0)
	case msgRead:
		m.read.cb(ReadResult{Err: errRegionNotFound(regionID)})
	}
}
