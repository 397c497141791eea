package raft

import (
	"fmt"
	"math"
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// A store hands RawNode.Step whatever arrives from the network, and a
// peer's message may be forged or corrupted. Raft's asserts (commitTo,
// maybeAppend, send) treat inconsistent state as a bug of this package and
// panic, which is right for our own state but would let one bad message
// take a store down. So RawNode.Step first checks that the message has a
// shape an honest peer can send and drops (with a warning) any other. The
// checks are structural and cheap and come before Step's term rules, so a
// dropped message changes nothing. A well-formed message with false
// contents (a forged commit index within our log, say) cannot be told
// apart from a true one; raft does not defend against Byzantine peers.

// checkPeerMsg returns an ErrStepMalformedMsg error saying why no honest
// peer could have sent m, or nil.
func (r *raft) checkPeerMsg(m eraftpb.Message) error {
	switch m.MsgType {
	case eraftpb.MessageType_MsgPropose, eraftpb.MessageType_MsgReadIndex:
		// Forwarded to the leader without a term, which then treats them
		// as local (send); with a term, Step would adopt it and forwarding
		// would trip send's assert.
		if m.Term != 0 {
			return malformedMsg("a forwarded request carries term %d", m.Term)
		}
	case eraftpb.MessageType_MsgAppend, eraftpb.MessageType_MsgAppendResponse,
		eraftpb.MessageType_MsgRequestVote, eraftpb.MessageType_MsgRequestVoteResponse,
		eraftpb.MessageType_MsgRequestPreVote, eraftpb.MessageType_MsgRequestPreVoteResponse,
		eraftpb.MessageType_MsgSnapshot, eraftpb.MessageType_MsgHeartbeat, eraftpb.MessageType_MsgHeartbeatResponse,
		eraftpb.MessageType_MsgTransferLeader, eraftpb.MessageType_MsgTimeoutNow, eraftpb.MessageType_MsgReadIndexResp:
		// send stamps a term on everything else. Step takes a term-less
		// message for a local one and skips the term rules (§5.1): a
		// candidate would step down to term 0, a vote would count
		// without a term.
		if m.Term == 0 {
			return malformedMsg("no term")
		}
	default:
		return malformedMsg("not a peer message type")
	}
	if m.To != r.id {
		return malformedMsg("addressed to %d", m.To)
	}
	if m.From == None {
		return malformedMsg("no sender")
	}
	for _, e := range m.Entries {
		if e == nil {
			return malformedMsg("nil entry")
		}
	}
	switch m.MsgType {
	case eraftpb.MessageType_MsgAppend:
		return checkAppendMsg(m)
	case eraftpb.MessageType_MsgSnapshot:
		return checkSnapshotMsg(m)
	}
	return nil
}

// checkAppendMsg checks the entries of a MsgApp against the Log Matching
// Property (§5.3): an honest leader sends entries that directly follow
// (Index, LogTerm), with terms that never decrease and are at most its
// own. Out of order entries would make maybeAppend truncate at the wrong
// place, even below the commit index.
func checkAppendMsg(m eraftpb.Message) error {
	if m.LogTerm > m.Term {
		return malformedMsg("log term %d above the message term", m.LogTerm)
	}
	prevTerm := max(m.LogTerm, 1)
	for i, e := range m.Entries {
		if want := m.Index + 1 + uint64(i); e.Index != want || want == 0 {
			return malformedMsg("entry %d at position %d after index %d", e.Index, i, m.Index)
		}
		if e.Term < prevTerm || e.Term > m.Term {
			return malformedMsg("entry %d has term %d, out of [%d, %d]", e.Index, e.Term, prevTerm, m.Term)
		}
		prevTerm = e.Term
	}
	return nil
}

// checkSnapshotMsg checks a snapshot's metadata. An empty snapshot passes:
// handleSnapshot ignores it.
func checkSnapshotMsg(m eraftpb.Message) error {
	if m.Snapshot == nil || IsEmptySnap(*m.Snapshot) {
		return nil
	}
	md := m.Snapshot.Metadata
	if md.Term == 0 || md.Term > m.Term {
		// The last entry of a snapshot has a term, no later than the
		// leader's own.
		return malformedMsg("snapshot term %d out of [1, %d]", md.Term, m.Term)
	}
	if md.Index == math.MaxUint64 {
		return malformedMsg("snapshot index %d leaves no room for a log", md.Index)
	}
	if cs := md.ConfState; cs != nil && (slices.Contains(cs.Voters, None) || slices.Contains(cs.Learners, None)) {
		return malformedMsg("snapshot members %s include %d", DescribeConfState(*cs), None)
	}
	return nil
}

func malformedMsg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrStepMalformedMsg, fmt.Sprintf(format, args...))
}
