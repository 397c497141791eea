package raftstore

import (
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raft"
)

// The batch system: a fixed pool of raft workers steps every peer of the
// store, and one raft-DB writer persists what they produce. A worker takes
// the regions that have work (workScheduler) and runs the first half of a
// round over them:
//
//  1. Step: for each region, tick if due, step its mailbox (raft messages,
//     apply results, snapshot reports), propose its commands and issue
//     its reads, then take its Ready if it has one. Committed entries that
//     were already durable here before this round go to the apply pool at
//     once: waiting for this round's write would put a sync between a
//     commit and its answer.
//  2. Leaders send their MsgApp messages at once (Raft thesis §10.2.1):
//     the leader counts its own log towards a quorum immediately, and any
//     commit index built on that leaves in a later Ready, after step 4.
//  3. Snapshots: a Ready with a snapshot is taken only once the apply
//     worker caught up (lifecycle.go); its kv side goes to the region's
//     apply worker and the region leaves the round, held, until that is
//     synced; it then resumes in a later round (flagResume), which
//     persists the raft side and finishes the Ready.
//  4. Persist: every Ready's entries (and the deletion of a conflicting
//     suffix), hard state, snapshot raft state, and the log GC deletions
//     of this round go into the round's raft-DB write batch. A hard state
//     whose only change is the commit index is kept in memory until the
//     next write that must be synced.
//
// A round with nothing to write finishes on its worker. Otherwise the worker
// hands it to the writer and takes more work; its regions stay held. The
// writer takes every round handed to it meanwhile, commits their batches
// as one raft-DB write with one sync (group commit across rounds and
// workers), and then finishes each round:
//
//  5. Send every other message.
//  6. Hand the remaining committed entries, with their proposals, to the
//     apply pool.
//  7. Serve answered read indexes, then Advance, and release the regions.
//
// Invariants:
//   - A message other than a leader's MsgApp leaves only after the state
//     it depends on (a vote, an appended entry) is durable: step 5 after 4.
//   - Entries reach the apply pool only after they are durable here, and a
//     region's entries reach its apply worker in log order: a region is in
//     one round at a time (from step 1 until it is released in step 7),
//     and an apply worker's queue is FIFO.
//   - A region's batches reach the raft DB in order, for the same reason:
//     rounds in the writer's queue hold disjoint regions.
//   - The raft state of a snapshot is persisted only after its kv state
//     was synced (the resumed round), so a crash in between leaves a kv DB
//     ahead of the raft DB, which loading repairs (newPeerStorage).
//   - Log entries are deleted (step 4, from apply results) only after the
//     apply worker synced the kv DB past them.
//   - Advance comes last: raft must not hand out the next Ready before this
//     one is handled.
//
// A sync's cost is shared by every region of every round it carries, and
// workers never wait for the disk, so a message that arrives during a sync
// is stepped at once and its write joins the next one. A region without
// work is never touched. Rejected alternatives: one goroutine per region
// (a sync per region per round, and a goroutine per idle region); workers
// that sync their own round (a worker blocked in a sync leaves arriving
// messages waiting, and two workers' syncs are serialized by badger anyway).

type readyPeer struct {
	p  *peer
	rd raft.Ready
	// applyLater are the committed entries of rd that wait for this
	// round's write (step 6); rd itself stays whole for Advance.
	applyLater []eraftpb.Entry
	// snap is rd's snapshot once its kv side is applied (lifecycle.go).
	snap *snapApply
}

// round is one round's state, from a worker's step to the writer's finish.
type round struct {
	ids    []uint64 // regions held by this round
	wb     engine.WriteBatch
	ready  []readyPeer
	msgs   []peerMsg
	cmds   []*command
	sync   bool
	remove []string // snapshot files to delete once persisted
}

func (s *Store) runRaftWorker() {
	defer s.writer.workerExited()
	var (
		ids   []uint64
		flags []uint8
	)
	for {
		ids, flags = s.work.next(s.cfg.MaxRoundPeers, ids[:0], flags[:0])
		if ids == nil || s.failed.Load() {
			return
		}
		r := s.writer.newRound()
		r.ids = append(r.ids[:0], ids...)
		if !s.stepRound(r, flags) {
			return // the store failed
		}
		if !r.wb.IsEmpty() {
			s.writer.submit(r)
			continue
		}
		s.finishRound(r)
	}
}

// stepRound runs steps 1-4 over the round's regions; false if the store
// failed.
func (s *Store) stepRound(r *round, flags []uint8) bool {
	now := s.now()
	s.cfg.Metrics.RaftRounds.Inc()
	r.wb.Reset()
	r.ready = r.ready[:0]
	r.sync = false
	r.remove = r.remove[:0]

	// 1. Step. The round's raft-DB batch must fit one transaction, so the
	// log bytes stepped in are bounded: past the budget, mailboxes are
	// left for the next round (the region is signalled again, and is
	// requeued when this round releases it).
	budget := int(s.engines.BatchLimit(engine.DBRaft).Bytes)
	for i, id := range r.ids {
		f := s.router.get(id)
		if f == nil || f.peer == nil || f.peer.destroyed {
			continue
		}
		p := f.peer
		if flags[i]&flagResume != 0 {
			// Its snapshot is applied on the kv side: finish that Ready
			// this round, and step the mailbox in the next.
			if rest := flags[i] &^ flagResume; rest != 0 {
				s.work.signal(id, rest)
			}
			r.ready = append(r.ready, *p.pendingSnap)
			p.pendingSnap = nil
			continue
		}
		if budget <= 0 {
			s.work.signal(id, flags[i])
			continue
		}
		if flags[i]&flagTick != 0 {
			p.maybeTick()
		}
		if flags[i]&flagMsgs != 0 {
			var used int
			var more bool
			r.msgs, used, more = f.takeUpTo(r.msgs[:0], budget)
			budget -= used
			if more {
				s.work.signal(id, flagMsgs)
			}
			p = s.maybeSplitInit(f, r.msgs)
			s.handleMsgs(r, p, now)
		}
		if p.destroyed || p.pendingDestroy != "" {
			continue
		}
		if p.readyToHandle() {
			r.ready = append(r.ready, readyPeer{p: p, rd: p.rn.Ready()})
		} else {
			p.endRound()
		}
	}
	for i := range r.ready {
		rp := &r.ready[i]
		if rp.snap != nil {
			continue // seen when its snapshot was taken
		}
		rp.p.observeRole()
		rp.p.noteTransfers(rp.rd.Messages)
		rp.applyLater = rp.rd.CommittedEntries
		if raft.IsEmptySnap(rp.rd.Snapshot) {
			// The log up to its last index is durable (rounds of a region
			// do not overlap, and this round has written nothing yet),
			// except where this Ready's entries replace it: a follower's
			// uncommitted tail may be overwritten by entries that the same
			// Ready already reports committed.
			durable := durableBefore(rp.p.ps.raftState.LastIndex, rp.rd.Entries)
			ents := rp.rd.CommittedEntries
			n := 0
			for n < len(ents) && ents[n].Index <= durable {
				n++
			}
			s.applyCommitted(rp.p, ents[:n])
			rp.applyLater = ents[n:]
		}
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
		rp.p.send(apps)
		rp.rd.Messages = rest
	}

	// 3 and 4. Snapshots, then the round's raft-DB batch.
	for i := 0; i < len(r.ready); {
		rp := &r.ready[i]
		if !raft.IsEmptySnap(rp.rd.Snapshot) {
			if rp.snap == nil {
				// Its kv side goes to the apply worker; the region stays
				// held, out of this round, until that is done.
				s.startSnapshot(rp)
				r.ids = slices.DeleteFunc(r.ids, func(id uint64) bool { return id == rp.p.region.Id })
				r.ready = slices.Delete(r.ready, i, i+1)
				continue
			}
			s.installSnapshot(r, rp)
		}
		if err := rp.p.ps.append(&r.wb, rp.rd.Entries); err != nil {
			s.logger.Panic("append entries", zap.Error(err))
		}
		rp.p.ps.setHardState(rp.rd.HardState)
		// A Ready that only moves the commit index writes nothing: the raft
		// DB syncs every write, and a commit index is a hint raft can
		// relearn, so it is persisted with the next state that must be
		// (loading takes max(commit, applied)).
		if rp.rd.MustSync {
			if err := rp.p.ps.writeRaftState(&r.wb); err != nil {
				s.logger.Panic("encode raft state", zap.Error(err))
			}
			r.sync = true
		}
		i++
	}
	return true
}

// finishRound runs steps 5-7 once the round's batch is durable, and
// releases its regions.
func (s *Store) finishRound(r *round) {
	for _, path := range r.remove {
		_ = os.Remove(path)
	}
	for i := range r.ready {
		rp := &r.ready[i]
		p := rp.p
		p.send(rp.rd.Messages)
		s.applyCommitted(p, rp.applyLater)
		if len(rp.rd.ReadStates) > 0 {
			p.onReadStates(rp.rd.ReadStates)
		}
		p.rn.Advance(rp.rd)
		p.endRound()
	}
	clear(r.ready)
	s.work.done(r.ids)
	s.writer.freeRound(r)
}

// durableBefore is the last log index whose entry is durable before a
// Ready that appends ents is persisted, given the log's last index.
func durableBefore(last uint64, ents []eraftpb.Entry) uint64 {
	if len(ents) > 0 && ents[0].Index <= last {
		return ents[0].Index - 1
	}
	return last
}

// applyCommitted hands durable committed entries, with the proposals they
// answer, to the region's apply worker.
func (s *Store) applyCommitted(p *peer, ents []eraftpb.Entry) {
	n := len(ents)
	if n == 0 {
		return
	}
	last := ents[n-1]
	p.handedIndex = last.Index
	props := p.takeProposals(last.Index)
	s.cfg.Metrics.observeCommitted(props, time.Now())
	p.maybeRenewLeaseByCommit(props, last.Term)
	s.applier.schedule(&applyTask{kind: taskEntries, regionID: p.region.Id, entries: ents, proposals: props})
}

// handleMsgs steps a region's mailbox. Commands are proposed together at
// the end, so that one Status call numbers them (proposeCommands).
func (s *Store) handleMsgs(r *round, p *peer, now time.Time) {
	r.cmds = r.cmds[:0]
	var reads []*readRequest
	for i := range r.msgs {
		m := &r.msgs[i]
		if p.destroyed || (p.pendingDestroy != "" && m.kind != msgApplied && m.kind != msgQuery) {
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
	if p.destroyed || p.pendingDestroy != "" {
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
		p.observeRole()
	}
	p.proposeCommands(r.cmds, now)
	clear(r.cmds)
	for _, rd := range reads {
		p.handleRead(rd)
	}
	p.flushReadBatch(now)
}

// onApplied takes an apply worker's report.
func (p *peer) onApplied(r *round, res *applyResult) {
	if res.applied <= p.ps.applied {
		// Reports reach the peer in apply order, and a snapshot is taken
		// only once every report before it arrived (readyToHandle).
		if len(res.admins) > 0 {
			p.logger.Error("stale apply report with admin results dropped", zap.Uint64("report-applied", res.applied),
				zap.Uint64("applied", p.ps.applied))
		}
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
	p.retryFencedReads()
	p.serveApplied()
	p.maybeDestroy()
	if !p.destroyed {
		p.maybeProposeCompactLog(false)
	}
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
