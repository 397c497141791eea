package raftstore

import (
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// The batch system: a fixed pool of raft workers drives every peer of the
// store. A worker takes the regions that have work (workScheduler) and runs
// one round over them:
//
//  1. Step: for each region, tick if due, step its mailbox (raft messages,
//     apply results, snapshot reports), propose its commands and issue
//     its reads, then take its Ready if it has one.
//  2. Leaders send their MsgApp messages at once (Raft thesis §10.2.1):
//     the leader counts its own log towards a quorum immediately, and any
//     commit index built on that leaves in a later Ready, after step 4.
//  3. Snapshots: a Ready's snapshot is applied on the kv side through the
//     region's apply worker (ordered after earlier entries), ending with a
//     kv sync.
//  4. Persist: every Ready's entries (and the deletion of a conflicting
//     suffix), hard state, snapshot raft state, and the log GC deletions
//     of this round go into ONE raft-DB write batch, committed with ONE
//     sync (group commit).
//  5. Send every other message.
//  6. Hand committed entries, with their proposals, to the apply pool.
//  7. Serve answered read indexes, then Advance.
//
// Invariants:
//   - A message other than a leader's MsgApp leaves only after the state
//     it depends on (a vote, an appended entry) is durable: step 5 after 4.
//   - Entries reach the apply pool only after they are durable here, and a
//     region's entries reach its apply worker in log order: a region is in
//     one round at a time, and a worker's queue is FIFO.
//   - The raft state of a snapshot is persisted only after its kv state
//     was synced (step 3 before 4), so a crash in between leaves a kv DB
//     ahead of the raft DB, which loading repairs (newPeerStorage).
//   - Log entries are deleted (step 4, from apply results) only after the
//     apply worker synced the kv DB past them.
//   - Advance comes last: raft must not hand out the next Ready before this
//     one is handled.
//
// A round's cost (one sync) is shared by all regions in it; a region
// without work is never touched. Rejected alternative: one goroutine per
// region, which costs a sync per region per round and a goroutine per idle
// region.

type readyPeer struct {
	p  *peer
	rd raft.Ready
}

// round is a worker's reusable state.
type round struct {
	wb     engine.WriteBatch
	ready  []readyPeer
	msgs   []peerMsg
	cmds   []*command
	sync   bool
	remove []string // snapshot files to delete once persisted
}

func (s *Store) runRaftWorker() {
	var (
		ids   []uint64
		flags []uint8
		r     round
	)
	for {
		ids, flags = s.work.next(s.cfg.MaxRoundPeers, ids[:0], flags[:0])
		if ids == nil {
			return
		}
		ok := s.runRound(&r, ids, flags)
		s.work.done(ids)
		if !ok {
			return // crashed
		}
	}
}

// runRound runs steps 1-7 over the regions; false if the store crashed.
func (s *Store) runRound(r *round, ids []uint64, flags []uint8) bool {
	now := time.Now()
	s.cfg.Metrics.RaftRounds.Inc()
	r.wb.Reset()
	r.ready = r.ready[:0]
	r.sync = false
	r.remove = r.remove[:0]

	// 1. Step.
	for i, id := range ids {
		f := s.router.get(id)
		if f == nil || f.peer == nil || f.peer.destroyed {
			continue
		}
		p := f.peer
		if flags[i]&flagTick != 0 {
			p.onTick()
		}
		if flags[i]&flagMsgs != 0 {
			r.msgs = f.take(r.msgs[:0])
			p = s.maybeSplitInit(f, r.msgs)
			s.handleMsgs(r, p, now)
		}
		if p.destroyed {
			continue
		}
		if p.rn.HasReady() {
			r.ready = append(r.ready, readyPeer{p: p, rd: p.rn.Ready()})
		} else {
			p.releaseSnapshotRange()
		}
	}
	for i := range r.ready {
		rp := &r.ready[i]
		rp.p.onHardState(rp.rd.HardState)
		rp.p.onSoftState(rp.rd.SoftState)
	}

	// 2. Leaders' MsgApp.
	for i := range r.ready {
		rp := &r.ready[i]
		if !rp.p.isLeader() {
			continue
		}
		rest := rp.rd.Messages[:0:0]
		var apps []eraftpb.Message
		for _, m := range rp.rd.Messages {
			if m.MsgType == eraftpb.MessageType_MsgAppend {
				apps = append(apps, m)
			} else {
				rest = append(rest, m)
			}
		}
		if !s.gate() {
			return false
		}
		rp.p.send(apps)
		rp.rd.Messages = rest
	}

	// 3 and 4. Snapshots, then one raft-DB batch.
	for i := range r.ready {
		rp := &r.ready[i]
		if !raft.IsEmptySnap(rp.rd.Snapshot) {
			if !s.applyReadySnapshot(r, rp) {
				return false
			}
		}
		if err := rp.p.ps.append(&r.wb, rp.rd.Entries); err != nil {
			s.logger.Panic("append entries", zap.Error(err))
		}
		if !raft.IsEmptyHardState(rp.rd.HardState) || len(rp.rd.Entries) > 0 || !raft.IsEmptySnap(rp.rd.Snapshot) {
			rp.p.ps.setHardState(rp.rd.HardState)
			if err := rp.p.ps.writeRaftState(&r.wb); err != nil {
				s.logger.Panic("encode raft state", zap.Error(err))
			}
		}
		r.sync = r.sync || rp.rd.MustSync
	}
	if !r.wb.IsEmpty() {
		writeStart := time.Now()
		if !s.writeRaft(&r.wb, r.sync) {
			return false
		}
		s.metrics.raftSyncs.Add(1)
		s.cfg.Metrics.observeRaftWrite(writeStart, r.sync)
	}
	for _, path := range r.remove {
		_ = os.Remove(path)
	}

	// 5, 6, 7.
	for i := range r.ready {
		rp := &r.ready[i]
		p := rp.p
		if !s.gate() {
			return false
		}
		p.send(rp.rd.Messages)
		if n := len(rp.rd.CommittedEntries); n > 0 {
			last := rp.rd.CommittedEntries[n-1]
			props := p.takeProposals(last.Index)
			s.cfg.Metrics.observeCommitted(props, time.Now())
			p.maybeRenewLeaseByCommit(props, last.Term)
			s.applier.schedule(&applyTask{kind: taskEntries, regionID: p.region.Id,
				entries: rp.rd.CommittedEntries, proposals: props})
		}
		if len(rp.rd.ReadStates) > 0 {
			p.onReadStates(rp.rd.ReadStates)
		}
		if p.pendingSnapFile != "" {
			// raft ignored the snapshot we received: drop its file.
			_ = os.Remove(p.pendingSnapFile)
			p.pendingSnapFile = ""
		}
		p.releaseSnapshotRange()
		p.rn.Advance(rp.rd)
	}
	clear(r.ready)
	return true
}

// handleMsgs steps a region's mailbox. Commands are proposed together at
// the end, so that one Status call numbers them (proposeCommands).
func (s *Store) handleMsgs(r *round, p *peer, now time.Time) {
	r.cmds = r.cmds[:0]
	var reads []*readRequest
	for i := range r.msgs {
		m := &r.msgs[i]
		if p.destroyed {
			failDestroyed(m, p.region.Id)
			continue
		}
		switch m.kind {
		case msgRaft:
			p.stepRaft(m.raft)
		case msgCommand:
			r.cmds = append(r.cmds, m.cmd)
		case msgRead:
			reads = append(reads, m.read)
		case msgApplied:
			p.onApplied(r, m.applied)
		case msgSnapStatus:
			p.rn.ReportSnapshot(m.to, m.snapStatus)
		case msgUnreachable:
			p.rn.ReportUnreachable(m.to)
		case msgQuery:
			m.query(p)
		case msgSplitCheck:
			p.onSplitCheck(m.splitCheck)
		case msgOperator:
			p.onOperator(m.op)
		case msgStaleCheck:
			p.onStaleCheck(m.region)
		case msgWake:
			p.wake()
		}
	}
	clear(r.msgs)
	if p.destroyed {
		for _, c := range r.cmds {
			respondErr(c.cb, errRegionNotFound(p.region.Id), 0)
		}
		for _, rd := range reads {
			rd.cb(ReadResult{Err: errRegionNotFound(p.region.Id)})
		}
		clear(r.cmds)
		return
	}
	if len(r.cmds) > 0 || len(reads) > 0 {
		p.wakeByRequest()
	}
	if len(r.cmds) > 0 || len(reads) > 0 {
		st := p.rn.Status()
		p.role, p.leaderID = st.SoftState.RaftState, st.SoftState.Lead
		if st.HardState.Term != p.term {
			p.onHardState(st.HardState)
		}
	}
	p.proposeCommands(r.cmds, now)
	clear(r.cmds)
	for _, rd := range reads {
		p.handleRead(rd, now)
	}
	p.flushReadBatch(now)
}

// onApplied takes an apply worker's report.
func (p *peer) onApplied(r *round, res *applyResult) {
	if res.applied <= p.ps.applied {
		return
	}
	for _, a := range res.admins {
		switch {
		case a.split != nil:
			p.onSplitApplied(a.split)
		case a.confChange != nil:
			p.onConfChangeApplied(a.confChange)
		}
		if p.destroyed {
			return
		}
	}
	p.onWritten(res.bytesWritten, res.keysWritten)
	p.ps.applied, p.ps.appliedT = res.applied, res.appliedTerm
	if res.truncated != nil {
		if err := p.ps.compactTo(&r.wb, *res.truncated); err != nil {
			p.logger.Panic("compact log", zap.Error(err))
		}
	}
	p.serveApplied()
	p.maybeProposeCompactLog(false)
}

// applyReadySnapshot applies a Ready's snapshot: kv side first (synced),
// then the raft state goes into the round's batch.
func (s *Store) applyReadySnapshot(r *round, rp *readyPeer) bool {
	p := rp.p
	snap := rp.rd.Snapshot
	var data rspb.RaftSnapshotData
	if err := data.Unmarshal(snap.Data); err != nil || data.Region == nil {
		s.logger.Panic("undecodable snapshot accepted by raft", zap.Uint64("region-id", p.region.Id), zap.Error(err))
	}
	path := p.pendingSnapFile
	p.pendingSnapFile = ""
	sa := &snapApply{region: data.Region, oldRegion: p.region, index: snap.Metadata.Index, term: snap.Metadata.Term,
		path: path, done: make(chan error, 1)}
	s.applier.schedule(&applyTask{kind: taskSnapshot, regionID: p.region.Id, snap: sa})
	if err := <-sa.done; err != nil {
		if !s.gate() {
			return false
		}
		s.logger.Panic("apply snapshot", zap.Uint64("region-id", p.region.Id), zap.Error(err))
	}
	// Raft side: the snapshot replaces the whole log.
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
	p.setRegion(data.Region)
	s.meta.setRegion(data.Region)
	r.remove = append(r.remove, path)
	r.sync = true
	p.failProposals("peer replaced by a snapshot")
	p.serveApplied()
	s.logger.Info("applied snapshot", zap.Uint64("region-id", p.region.Id), zap.Uint64("index", sa.index),
		zap.Uint64("term", sa.term))
	return true
}

// setRegion installs a new region meta in the peer and its storage.
func (p *peer) setRegion(r *metapb.Region) {
	p.region = r
	p.ps.region = r
	for _, pr := range r.Peers {
		if pr.Id == p.meta.Id {
			p.meta = pr
		}
	}
}
