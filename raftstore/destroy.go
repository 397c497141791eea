package raftstore

import (
	"context"
	"math"
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
// Destroying marks the region destroying in storeMeta (its range stays
// reserved, so no snapshot or split lands there meanwhile), unregisters the
// peer, and lets the region's apply worker, after every task queued before:
// write a tombstone (RegionLocalState Tombstone with the region and epoch)
// and delete the apply state in one synced kv batch, delete the raft state
// and log, delete the region's data in every CF, and only then release the
// range. A tombstone keeps stale messages from recreating the peer; a
// message for a newer peer ID with a newer conf_ver (the store was added
// back) may create a new one.
//
// Known debt: a crash between the tombstone and the end of the data
// deletion leaks the rest of the range's data (harmless: no region owns it
// here, and a snapshot covering it clears its range first).

type destroyTask struct {
	region      *metapb.Region
	initialized bool
}

// destroy removes this peer from the store (raft worker holding it).
func (p *peer) destroy(reason string) {
	if p.destroyed {
		return
	}
	p.destroyed = true
	s := p.store
	p.logger.Info("destroying peer", zap.String("reason", reason), zap.Uint64("conf-ver", p.region.RegionEpoch.GetConfVer()))
	p.failProposals("peer destroyed")
	p.failAllReads(errRegionNotFound(p.region.Id))
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
	s := w.store
	r := t.destroy.region
	delete(w.delegates, r.Id)
	var wb engine.WriteBatch
	if t.destroy.initialized {
		if err := wb.SetMeta(engine.RegionStateKey(r.Id), &rspb.RegionLocalState{State: rspb.PeerState_Tombstone, Region: r}); err != nil {
			w.logger.Panic("encode tombstone", zap.Error(err))
		}
	}
	_ = wb.Delete(engine.ApplyStateKey(r.Id))
	if !s.writeKV(&wb) || !s.syncKV() {
		return false
	}
	wb.Reset()
	_ = wb.Delete(engine.RaftStateKey(r.Id))
	if !s.writeRaft(&wb, true) {
		return false
	}
	if !s.gate() {
		return false
	}
	if err := engine.DeleteInternalRange(s.engines.Raft, engine.RaftLogKey(r.Id, 0), engine.RaftLogKey(r.Id, math.MaxUint64)); err != nil && s.gate() {
		w.logger.Panic("delete raft log", zap.Uint64("region-id", r.Id), zap.Error(err))
	}
	if t.destroy.initialized {
		for _, cf := range engine.CFs {
			if !s.gate() {
				return false
			}
			if err := engine.DeleteRangeCF(s.engines.KV, cf, r.StartKey, r.EndKey); err != nil && s.gate() {
				w.logger.Panic("delete region data", zap.Uint64("region-id", r.Id), zap.Error(err))
			}
		}
	}
	s.snaps.forget(r.Id)
	s.meta.mu.Lock()
	if cur := s.meta.regions[r.Id]; cur != nil {
		s.meta.removeRegionLocked(r.Id)
	}
	delete(s.meta.destroying, r.Id)
	s.meta.mu.Unlock()
	w.logger.Info("destroyed peer", zap.Uint64("region-id", r.Id), zap.Uint64("conf-ver", r.RegionEpoch.GetConfVer()))
	return true
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
// without a leader (tick).
func (p *peer) maybeCheckStale() {
	cfg := &p.store.cfg
	if p.leaderID != 0 || p.isLeader() {
		p.leaderMissingTicks = 0
		return
	}
	p.leaderMissingTicks++
	if p.leaderMissingTicks%cfg.MaxLeaderMissingTicks != 0 {
		return
	}
	s := p.store
	regionID, me, epoch := p.region.Id, p.meta, p.region.RegionEpoch
	s.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := s.sched.GetRegionByID(ctx, regionID)
		if err != nil || r == nil || r.Meta == nil {
			return
		}
		meta := r.Meta
		if !epochConfStale(epoch, meta.RegionEpoch) {
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
	if !epochConfStale(p.region.RegionEpoch, r.RegionEpoch) && p.ps.isInitialized() {
		return
	}
	for _, pr := range r.Peers {
		if pr.Id == p.meta.Id {
			return
		}
	}
	p.destroy("the scheduler's region no longer lists this peer")
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
