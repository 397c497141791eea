package raft

import (
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// SoftState is volatile state that need not be persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is a batch of work for the application: state to persist, messages
// to send, entries to apply. See the package documentation for the order in
// which to handle it. All fields are read-only for the application.
type Ready struct {
	// SoftState is set when the leader or role changed.
	SoftState *SoftState

	// HardState is set (non-empty) when term, vote or commit changed; it
	// must be persisted.
	HardState eraftpb.HardState

	// ReadStates are answered ReadIndex requests.
	ReadStates []ReadState

	// Entries must be appended to stable storage before Messages are sent
	// (see the package documentation for the leader exception).
	Entries []eraftpb.Entry

	// Snapshot, if not empty, must be written to stable storage.
	Snapshot eraftpb.Snapshot

	// CommittedEntries are to be applied to the state machine, in order.
	// They were persisted earlier or are in Entries of this Ready.
	CommittedEntries []eraftpb.Entry

	// Messages are to be sent after Entries and HardState are persisted.
	Messages []eraftpb.Message

	// MustSync says whether HardState, Entries and Snapshot must be synced
	// to disk (fsync) before sending Messages, rather than just written. It
	// is false when only the commit index changed: a lost commit index is
	// relearned from the leader.
	MustSync bool
}

func (rd Ready) containsUpdates() bool {
	return rd.SoftState != nil || !IsEmptyHardState(rd.HardState) ||
		!IsEmptySnap(rd.Snapshot) || len(rd.Entries) > 0 ||
		len(rd.CommittedEntries) > 0 || len(rd.Messages) > 0 || len(rd.ReadStates) != 0
}

// mustSync reports whether the change from prev to st, plus the new entries,
// requires an fsync: term, vote and log entries must survive a crash (Raft
// paper §5, Figure 2 "persistent state"); commit need not.
func mustSync(st, prev eraftpb.HardState, entsnum int) bool {
	return entsnum != 0 || st.Vote != prev.Vote || st.Term != prev.Term
}

// SnapshotStatus is reported by the application after sending a snapshot.
type SnapshotStatus int

const (
	SnapshotFinish SnapshotStatus = iota + 1
	SnapshotFailure
)

// RawNode is the application's handle on a raft node. It is a pure state
// machine: methods only change memory and return; the application performs
// all I/O through Ready and Advance. It is not safe for concurrent use.
type RawNode struct {
	raft       *raft
	prevSoftSt SoftState
	prevHardSt eraftpb.HardState
}

// NewRawNode returns a node restored from c.Storage. For a new cluster, the
// application seeds Storage with the initial configuration first, for example
// MemoryStorage.ApplySnapshot with a ConfState listing the voters.
func NewRawNode(c *Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	return &RawNode{raft: r, prevSoftSt: r.softState(), prevHardSt: r.hardState()}, nil
}

// Tick advances the logical clock by one tick. Election and heartbeat
// timeouts are counted in ticks.
func (rn *RawNode) Tick() { rn.raft.tick() }

// Campaign makes the node start an election now (a pre-election with
// PreVote).
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(eraftpb.Message{MsgType: eraftpb.MessageType_MsgHup})
}

// Propose proposes data to be appended to the log. A nil error does not mean
// the entry will commit; the application learns that from CommittedEntries.
func (rn *RawNode) Propose(data []byte) error {
	return rn.raft.Step(eraftpb.Message{
		MsgType: eraftpb.MessageType_MsgPropose,
		From:    rn.raft.id,
		Entries: []*eraftpb.Entry{{Data: data}},
	})
}

// ProposeConfChange proposes a single-step membership change. It fails with
// ErrProposalDropped while another change is pending and with
// ErrInvalidConfChange for a change that could never apply.
func (rn *RawNode) ProposeConfChange(cc eraftpb.ConfChange) error {
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	return rn.raft.Step(eraftpb.Message{
		MsgType: eraftpb.MessageType_MsgPropose,
		From:    rn.raft.id,
		Entries: []*eraftpb.Entry{{EntryType: eraftpb.EntryType_EntryConfChange, Data: data}},
	})
}

// ApplyConfChange applies a committed conf change to the node. The
// application calls it for every EntryConfChange in CommittedEntries, in
// log order, and persists the returned ConfState with its snapshot.
func (rn *RawNode) ApplyConfChange(cc eraftpb.ConfChange) *eraftpb.ConfState {
	cs := rn.raft.applyConfChange(cc)
	return &cs
}

// Step feeds a message received from a peer into the node. A message no
// honest peer sends (forged or corrupted on the way) is dropped with a
// warning and ErrStepMalformedMsg rather than trusted.
func (rn *RawNode) Step(m eraftpb.Message) error {
	r := rn.raft
	if IsLocalMsg(m.MsgType) {
		return ErrStepLocalMsg
	}
	if IsResponseMsg(m.MsgType) && r.trk.Progress[m.From] == nil {
		return ErrStepPeerNotFound
	}
	if err := r.checkPeerMsg(m); err != nil {
		r.logger.Warnf("drop malformed message raft-id=%d term=%d from=%d to=%d type=%s msg-term=%d err=%v",
			r.id, r.Term, m.From, m.To, MessageTypeName(m.MsgType), m.Term, err)
		return err
	}
	return r.Step(m)
}

// TransferLeader asks the leader to hand leadership to transferee. On a
// follower the request is forwarded to the leader.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(eraftpb.Message{MsgType: eraftpb.MessageType_MsgTransferLeader, From: transferee})
}

// ReadIndex requests a linearizable read point. The answer arrives as a
// ReadState with RequestCtx == rctx in a later Ready; it may never arrive (a
// lost leader, a dropped message), so the application needs a timeout.
// rctx must be unique among pending requests.
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(eraftpb.Message{
		MsgType: eraftpb.MessageType_MsgReadIndex,
		From:    rn.raft.id,
		Entries: []*eraftpb.Entry{{Data: rctx}},
	})
}

// ReportUnreachable tells the leader that a message to id could not be
// delivered; replication to id falls back to probing.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(eraftpb.Message{MsgType: eraftpb.MessageType_MsgUnreachable, From: id})
}

// ReportSnapshot reports the outcome of sending a snapshot to id.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(eraftpb.Message{
		MsgType: eraftpb.MessageType_MsgSnapStatus,
		From:    id,
		Reject:  status == SnapshotFailure,
	})
}

// HasPendingSnapshot reports whether raft holds a snapshot received from
// the leader that no Advance has yet marked as persisted. The next Ready
// carries it, so an application that applies snapshots only at certain
// points (after its own pending work) checks this before calling Ready.
func (rn *RawNode) HasPendingSnapshot() bool { return rn.raft.raftLog.hasPendingSnapshot() }

// HasReady reports whether Ready would return something to do.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !IsEmptyHardState(hs) && !isHardStateEqual(hs, rn.prevHardSt) {
		return true
	}
	return r.raftLog.hasPendingSnapshot() || len(r.msgs) > 0 || len(r.raftLog.unstableEntries()) > 0 ||
		r.raftLog.hasNextEnts() || len(r.readStates) != 0
}

// Ready returns the pending work. The application must handle it and call
// Advance before calling Ready again.
func (rn *RawNode) Ready() Ready {
	r := rn.raft
	rd := Ready{
		Entries:          r.raftLog.unstableEntries(),
		CommittedEntries: r.raftLog.nextEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	if ss := r.softState(); ss != rn.prevSoftSt {
		rd.SoftState = &ss
		rn.prevSoftSt = ss
	}
	if hs := r.hardState(); !isHardStateEqual(hs, rn.prevHardSt) {
		rd.HardState = hs
	}
	if r.raftLog.unstable.snapshot != nil {
		rd.Snapshot = *r.raftLog.unstable.snapshot
	}
	// A snapshot replaces the log and is acknowledged by this Ready's
	// messages (MsgAppResp at its index), so, like entries, it must be
	// durable before they leave: a follower that lost an acknowledged
	// snapshot in a crash would be sent a commit index beyond its log.
	rd.MustSync = mustSync(r.hardState(), rn.prevHardSt, len(rd.Entries)) || !IsEmptySnap(rd.Snapshot)
	// Messages and read states are handed over now; the rest is
	// acknowledged by Advance.
	r.msgs = nil
	r.readStates = nil
	return rd
}

// Advance tells the node that rd was handled: state persisted, committed
// entries applied.
func (rn *RawNode) Advance(rd Ready) {
	r := rn.raft
	if !IsEmptyHardState(rd.HardState) {
		rn.prevHardSt = rd.HardState
	}
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.raftLog.stableTo(e.Index, e.Term)
	}
	if !IsEmptySnap(rd.Snapshot) {
		r.raftLog.stableSnapTo(rd.Snapshot.Metadata.Index)
		// The state machine now reflects the snapshot.
		if rd.Snapshot.Metadata.Index > r.raftLog.applied {
			r.raftLog.applied = min(rd.Snapshot.Metadata.Index, r.raftLog.committed)
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
	}
	r.assertCommitInvariant()
}

// Status returns the current status. Progress is set on the leader only.
func (rn *RawNode) Status() Status { return getStatus(rn.raft) }

// AnnounceCommit makes a leader with Config.LazyCommit broadcast its commit
// index at once each time it moves, until the entry at index is committed:
// for entries every replica should apply without delay (a conf change does
// this by itself). A no-op on followers and without LazyCommit.
func (rn *RawNode) AnnounceCommit(index uint64) {
	if rn.raft.state == StateLeader {
		rn.raft.announceIndex = max(rn.raft.announceIndex, index)
	}
}

// BasicStatus returns the current status without the leader's progress,
// without allocating.
func (rn *RawNode) BasicStatus() BasicStatus { return getBasicStatus(rn.raft) }
