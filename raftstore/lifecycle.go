package raftstore

import (
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// The region lifecycle: which key range a store's data belongs to.
//
// Creating a peer (bootstrap, a raft message, a split), applying a
// snapshot, splitting and destroying move ranges between peers. They run on
// three kinds of goroutines — the raft worker holding the region, the
// region's apply worker, and the raft-DB writer — that hand work to each
// other through queues: committed entries and snapshots go to the apply
// worker in log order; its reports (applyResult: applied index, split and
// conf-change results) come back through the region's mailbox in the same
// order. This file, with split.go and destroy.go, decides the transitions;
// they keep these invariants, whatever order the queues are served in:
//
//  1. Each byte of the store's data range belongs to exactly one live peer,
//     or to none. storeMeta holds the ranges of initialized peers and the
//     reservations of snapshots and destroys in progress; they never
//     overlap.
//  2. Only the peer's own view moves its range, and that view follows the
//     apply worker's: a transition that depends on the range — applying a
//     snapshot (which clears the old range) and destroying (which deletes
//     it) — waits until every entry handed to the apply worker has been
//     applied and reported (applyCaughtUp). So a committed split, still
//     queued or with its report still in the mailbox, always creates its
//     new regions' peers and shrinks the parent first; otherwise the
//     snapshot or destroy would delete the new regions' data and drop the
//     report, leaving a region Normal on disk with no peer and no data.
//  3. A region state on disk matches a live peer in memory, or becomes one
//     at restart: a split writes its new regions' states in the same batch
//     as the parent's apply state; a snapshot marks its region Applying,
//     with which snapshot, until it is wholly applied (interruptedSnapshot);
//     a destroy records itself until it has deleted everything
//     (finishDestroys). A restart replays or finishes each.
//  4. After the apply worker applied the removal of this store's peer, it
//     applies nothing more of that region: the entries after it belong to
//     a membership without us.
//  5. A reader's view of a region's data is taken at an entry boundary
//     (readFence).
//
// A snapshot's kv side runs on the apply worker while the region stays held
// by its raft round (pendingSnap): the worker that took the Ready moves on
// to other regions, and the region resumes (flagResume) to persist the raft
// side once the kv side is synced.

// applyCaughtUp reports whether the apply worker has applied, and the peer
// has seen the report of, every entry handed to it, with no snapshot in
// flight.
func (p *peer) applyCaughtUp() bool {
	return p.pendingSnap == nil && (p.applyStopped || p.ps.applied >= p.handedIndex)
}

// readyToHandle reports whether the round may take the peer's Ready. A
// Ready with a snapshot waits until apply caught up (invariant 2).
func (p *peer) readyToHandle() bool {
	if !p.rn.HasReady() {
		return false
	}
	return !p.rn.HasPendingSnapshot() || p.applyCaughtUp()
}

// endRound ends the peer's part of a round. Once raft holds no snapshot,
// the received snapshot files it did not take are dropped, and the range a
// snapshot reserved is released (applied: storeMeta has the region now).
func (p *peer) endRound() {
	if p.pendingSnap != nil || p.rn.HasPendingSnapshot() {
		return
	}
	for _, path := range p.receivedSnaps {
		_ = os.Remove(path)
	}
	p.receivedSnaps = p.receivedSnaps[:0]
	p.releaseSnapshotRange()
}

// startSnapshot sends a Ready's snapshot to the region's apply worker and
// parks the Ready in the peer until the kv side is done.
func (s *Store) startSnapshot(rp *readyPeer) {
	p := rp.p
	snap := rp.rd.Snapshot
	var data rspb.RaftSnapshotData
	if err := data.Unmarshal(snap.Data); err != nil || data.Region == nil {
		s.logger.Panic("undecodable snapshot accepted by raft", zap.Uint64("region-id", p.region.Id), zap.Error(err))
	}
	md := snap.Metadata
	regionID := p.region.Id
	sa := &snapApply{region: data.Region, oldRegion: p.region, index: md.Index, term: md.Term,
		path: s.snaps.receivedFile(regionID, md.Term, md.Index)}
	sa.done = func() { s.work.resume(regionID) }
	held := *rp
	held.snap = sa
	p.pendingSnap = &held
	s.applier.schedule(&applyTask{kind: taskSnapshot, regionID: regionID, snap: sa})
}

// installSnapshot persists the raft side of a snapshot whose kv side is
// applied: the snapshot replaces the whole log.
func (s *Store) installSnapshot(r *round, rp *readyPeer) {
	p, sa := rp.p, rp.snap
	ps := p.ps
	for i := ps.truncated.Index + 1; i <= ps.raftState.LastIndex; i++ {
		if err := r.wb.Delete(engine.RaftLogKey(p.region.Id, i)); err != nil {
			s.logger.Panic("delete log", zap.Error(err))
		}
	}
	ps.raftState.LastIndex = sa.index
	ps.truncated = rspb.RaftTruncatedState{Index: sa.index, Term: sa.term}
	ps.applied, ps.appliedT = sa.index, sa.term
	ps.cache.reset()
	ps.logSizeEst = 0
	p.handedIndex, p.applyStopped = sa.index, false
	p.setRegion(sa.region)
	s.meta.setRegion(sa.region)
	r.remove = append(r.remove, sa.path)
	r.sync = true
	p.failProposals("peer replaced by a snapshot")
	p.serveApplied()
	s.logger.Info("applied snapshot", zap.Uint64("region-id", p.region.Id), zap.Uint64("index", sa.index),
		zap.Uint64("term", sa.term))
}

// noteTransfers ends the lease for the rest of the term once raft sends a
// MsgTimeoutNow: its transferee may win an election that ignores the
// followers' lease whenever the message arrives, even after the transfer
// was aborted here.
func (p *peer) noteTransfers(msgs []eraftpb.Message) {
	for i := range msgs {
		if msgs[i].MsgType == eraftpb.MessageType_MsgTimeoutNow {
			p.noLeaseTerm = p.term
			p.leaseExpire = time.Time{}
		}
	}
}
