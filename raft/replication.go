package raft

import (
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// appendEntry assigns term and index to es and appends them to the leader's
// log. It returns false if nothing was appended.
func (r *raft) appendEntry(es ...eraftpb.Entry) bool {
	li := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	li = r.raftLog.append(es...)
	// The leader counts its own log towards the quorum right away; the
	// application persists it before applying anything (doc.go).
	if pr := r.trk.Progress[r.id]; pr != nil {
		pr.MaybeUpdate(li)
	}
	r.maybeCommit()
	return true
}

// maybeCommit advances the commit index to what a quorum matched, if that
// entry is from the current term (§5.4.2). It returns true if it advanced.
func (r *raft) maybeCommit() bool {
	if !r.raftLog.maybeCommit(r.trk.Committed(), r.Term) {
		return false
	}
	// Reads that waited for the first commit of this term can go now.
	r.releasePendingReadIndexMessages()
	return true
}

// handlePropose appends a client proposal on the leader and replicates it.
func (r *raft) handlePropose(m eraftpb.Message) error {
	if len(m.Entries) == 0 {
		r.logger.Warnf("dropping empty proposal raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
		return ErrProposalDropped
	}
	if r.trk.Progress[r.id] == nil {
		// We were removed from the configuration but are still leader
		// until we step down; nothing we append could commit safely.
		return ErrProposalDropped
	}
	if r.leadTransferee != None {
		r.logger.Debugf("dropping proposal during leadership transfer raft-id=%d term=%d transferee=%d",
			r.id, r.Term, r.leadTransferee)
		return ErrProposalDropped
	}
	ents := entryVals(m.Entries)
	for i := range ents {
		if ents[i].EntryType != eraftpb.EntryType_EntryConfChange {
			continue
		}
		if err := r.checkConfChangeProposal(ents[i]); err != nil {
			return err
		}
		r.pendingConfIndex = r.raftLog.lastIndex() + uint64(i) + 1
		// Every member must learn a conf change soon, a removed one
		// before the leader stops talking to it.
		r.announceIndex = r.pendingConfIndex
	}
	if !r.appendEntry(ents...) {
		return ErrProposalDropped
	}
	r.bcastAppend()
	return nil
}

// bcastAppend sends MsgApp (possibly empty, to carry the commit index) to
// every follower that is not paused.
func (r *raft) bcastAppend() {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendAppend(id)
		}
	})
}

// sendableCommit is the commit index a MsgApp may carry: what a quorum
// holds counting only the entries this leader persisted. A MsgApp may leave
// before the Ready that appended its entries is written (doc.go), and the
// leader counts its own log at once: a single voter commits what it
// appends in that same Ready. A learner (or a voter) told that commit
// would apply an entry the leader can still lose in a crash.
// Entries up to the leader's persisted index are durable here and, being
// committed, on a quorum; past it, only what a quorum holds without the
// leader's unpersisted entries.
func (r *raft) sendableCommit() uint64 {
	p := r.raftLog.persistedIndex()
	return min(r.raftLog.committed, max(p, r.trk.CommittedCapped(r.id, p)))
}

// sendAppend sends a MsgApp to id, even an empty one.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends a MsgApp with the entries id is missing, or a
// snapshot if those were compacted. It returns whether a message was sent.
// With sendIfEmpty false, a MsgApp without entries is not sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.Progress[to]
	if pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	var ents []eraftpb.Entry
	var erre error
	// In replicate state an empty message is useless once the window is
	// full; in probe state a single message is in flight anyway.
	if pr.State != tracker.StateReplicate || !pr.Inflights.Full() {
		ents, erre = r.raftLog.entries(pr.Next, r.maxMsgSize)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		// The entries (or the term before them) were compacted (§7).
		return r.maybeSendSnapshot(to, pr)
	}
	r.send(eraftpb.Message{
		To:      to,
		MsgType: eraftpb.MessageType_MsgAppend,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: entryPtrs(ents),
		Commit:  r.sendableCommit(),
	})
	pr.SentEntries(len(ents), prevIndex+uint64(len(ents)))
	return true
}

// bcastHeartbeat sends a heartbeat to every follower, carrying the context
// of the latest pending ReadIndex request so its acks confirm that read.
func (r *raft) bcastHeartbeat() {
	r.bcastHeartbeatWithCtx([]byte(r.readOnly.lastPendingRequestCtx()))
}

func (r *raft) bcastHeartbeatWithCtx(ctx []byte) {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	})
}

func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	// A follower may not have the entries up to our commit index yet; tell
	// it only what it can commit, so its commit index never exceeds its
	// log.
	commit := min(r.trk.Progress[to].Match, r.raftLog.committed)
	m := eraftpb.Message{To: to, MsgType: eraftpb.MessageType_MsgHeartbeat, Commit: commit, Context: ctx}
	if r.readOnly.option == ReadOnlyLeaseBased {
		// The follower echoes it, so its answer dates the lease (leaseValid).
		m.Index = r.leaseTick
	}
	r.send(m)
}

// checkQuorumActive makes the leader step down if a quorum was not active
// during the last election timeout (check-quorum), then starts a new round.
func (r *raft) checkQuorumActive() {
	r.trk.Progress[r.id].RecentActive = true
	if !r.trk.QuorumActive() {
		r.logger.Warnf("stepped down to follower since quorum is not active raft-id=%d term=%d", r.id, r.Term)
		r.becomeFollower(r.Term, None)
		return
	}
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if id != r.id {
			pr.RecentActive = false
		}
	})
}

// handleAppendEntries is the follower side of AppendEntries (§5.3).
func (r *raft) handleAppendEntries(m eraftpb.Message) {
	if m.Index < r.raftLog.committed {
		// Everything up to our commit index is settled; tell the leader
		// where we are so it skips ahead.
		r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgAppendResponse, Index: r.raftLog.committed})
		return
	}
	if last, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, entryVals(m.Entries)); ok {
		r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgAppendResponse, Index: last})
		return
	}
	// Reject with a hint: the largest index <= m.Index whose term is <=
	// m.LogTerm. Entries after it cannot match the leader's log at or
	// before m.Index, so the leader can skip them all at once.
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debugf("rejected MsgApp raft-id=%d term=%d from=%d index=%d log-term=%d hint-index=%d hint-term=%d",
		r.id, r.Term, m.From, m.Index, m.LogTerm, hintIndex, hintTerm)
	r.send(eraftpb.Message{
		To:         m.From,
		MsgType:    eraftpb.MessageType_MsgAppendResponse,
		Index:      m.Index,
		Reject:     true,
		RejectHint: hintIndex,
		LogTerm:    hintTerm,
	})
}

// handleAppendResponse is the leader side of AppendEntries.
func (r *raft) handleAppendResponse(m eraftpb.Message, pr *tracker.Progress) {
	if !m.Reject && m.Index > r.raftLog.lastIndex() {
		// A leader's log only grows during its term, and a follower acks
		// only what it was sent, so this ack is forged or corrupted.
		// Counting it could commit, or send, entries we do not have.
		r.logger.Warnf("ignore MsgAppResp beyond the last index raft-id=%d term=%d from=%d index=%d last-index=%d",
			r.id, r.Term, m.From, m.Index, r.raftLog.lastIndex())
		return
	}
	pr.RecentActive = true
	if m.Reject {
		r.handleAppendReject(m, pr)
		return
	}
	wasPaused := pr.IsPaused()
	if !pr.MaybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The follower caught up through the snapshot (or otherwise) and
		// the log has what it needs next: resume normal replication.
		r.logger.Debugf("recovered from needing snapshot raft-id=%d term=%d from=%d progress=%s", r.id, r.Term, m.From, pr)
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == tracker.StateReplicate:
		pr.Inflights.FreeLE(m.Index)
	}

	prevCommit := r.raftLog.committed
	if r.maybeCommit() && (!r.lazyCommit || r.announceIndex > prevCommit) {
		r.bcastAppend()
	} else if wasPaused {
		// The follower was paused; the ack may have unblocked it.
		r.sendAppend(m.From)
	}
	// Fill the window: send as many MsgApp as flow control allows.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("sent MsgTimeoutNow after log caught up raft-id=%d term=%d to=%d", r.id, r.Term, m.From)
		r.sendTimeoutNow(m.From)
	}
}

func (r *raft) handleAppendReject(m eraftpb.Message, pr *tracker.Progress) {
	r.logger.Debugf("received MsgAppResp rejection raft-id=%d term=%d from=%d index=%d hint-index=%d hint-term=%d",
		r.id, r.Term, m.From, m.Index, m.RejectHint, m.LogTerm)
	// The follower's hint (index, term) says its log at index has term <=
	// m.LogTerm. Find the largest index <= hint at which our term is <=
	// that term: entries after it cannot match, so probe there next. This
	// skips a whole term per round trip, on either side's log.
	nextProbe := m.RejectHint
	if m.LogTerm > 0 {
		nextProbe, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
	}
	if pr.MaybeDecrTo(m.Index, nextProbe) {
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.logger.Debugf("decreased progress raft-id=%d term=%d to=%d progress=%s", r.id, r.Term, m.From, pr)
		r.sendAppend(m.From)
	}
}

// handleHeartbeat is the follower side of heartbeats.
func (r *raft) handleHeartbeat(m eraftpb.Message) {
	if m.Commit <= r.raftLog.lastIndex() {
		r.raftLog.commitTo(m.Commit)
	} else {
		// An honest leader sends min(Match, committed) (sendHeartbeat),
		// which our log holds. So the message is corrupted, or we lost
		// entries we had acknowledged; then even our last index may hold
		// a stale tail that the leader never matched, and clamping to it
		// could commit that. Keep our commit index and count the rest of
		// the heartbeat.
		r.logger.Warnf("ignore heartbeat commit beyond the last index raft-id=%d term=%d from=%d commit=%d last-index=%d",
			r.id, r.Term, m.From, m.Commit, r.raftLog.lastIndex())
	}
	r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgHeartbeatResponse, Index: m.Index, Context: m.Context})
}

// handleHeartbeatResponse is the leader side of heartbeats: the follower is
// alive, so resume sending to it, and count the ack for pending reads.
func (r *raft) handleHeartbeatResponse(m eraftpb.Message, pr *tracker.Progress) {
	pr.RecentActive = true
	pr.ProbeSent = false
	// A full window with a live follower means MsgApps were lost; free a
	// slot so replication resumes (the follower then rejects the gap and we
	// fall back to probing).
	if pr.State == tracker.StateReplicate && pr.Inflights.Full() {
		pr.Inflights.FreeFirstOne()
	}
	if pr.Match < r.raftLog.lastIndex() {
		r.sendAppend(m.From)
	}
	if m.Index > r.leaseAcks[m.From] && m.Index <= r.leaseTick {
		r.leaseAcks[m.From] = m.Index
	}
	if len(m.Context) > 0 {
		r.handleReadIndexAck(m)
	}
}

// assertCommitInvariant checks applied <= committed <= lastIndex. Tests and
// RawNode call it after every step.
func (r *raft) assertCommitInvariant() {
	l := r.raftLog
	if l.applied > l.committed || l.committed > l.lastIndex() {
		panic(fmt.Sprintf("raft: log invariant broken: applied=%d committed=%d last-index=%d",
			l.applied, l.committed, l.lastIndex()))
	}
}
