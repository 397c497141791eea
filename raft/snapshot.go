package raft

import (
	"errors"
	"fmt"
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// maybeSendSnapshot sends the latest snapshot to a follower whose next
// entries were compacted (Raft paper §7, InstallSnapshot). It returns
// whether a snapshot was sent.
func (r *raft) maybeSendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		// Snapshots are expensive; do not send one into the void.
		r.logger.Debugf("ignore sending snapshot to inactive follower raft-id=%d term=%d to=%d", r.id, r.Term, to)
		return false
	}
	snap, err := r.raftLog.snapshot()
	if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		r.logger.Debugf("snapshot temporarily unavailable raft-id=%d term=%d to=%d", r.id, r.Term, to)
		return false
	}
	mustStorage(err)
	if IsEmptySnap(snap) {
		panic("raft: need a non-empty snapshot to replace compacted entries")
	}
	r.logger.Infof("sent snapshot raft-id=%d term=%d to=%d snap-index=%d snap-term=%d first-index=%d commit=%d progress=%s",
		r.id, r.Term, to, snap.Metadata.Index, snap.Metadata.Term, r.raftLog.firstIndex(), r.raftLog.committed, pr)
	pr.BecomeSnapshot(snap.Metadata.Index)
	r.send(eraftpb.Message{To: to, MsgType: eraftpb.MessageType_MsgSnapshot, Snapshot: &snap})
	return true
}

// handleSnapshot is the follower side of InstallSnapshot.
func (r *raft) handleSnapshot(m eraftpb.Message) {
	if m.Snapshot == nil || IsEmptySnap(*m.Snapshot) {
		r.logger.Warnf("ignore empty snapshot raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
		return
	}
	s := *m.Snapshot
	if r.restore(s) {
		r.logger.Infof("restored snapshot raft-id=%d term=%d commit=%d snap-index=%d snap-term=%d",
			r.id, r.Term, r.raftLog.committed, s.Metadata.Index, s.Metadata.Term)
		r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgAppendResponse, Index: r.raftLog.lastIndex()})
		return
	}
	r.logger.Infof("ignored snapshot raft-id=%d term=%d commit=%d snap-index=%d snap-term=%d",
		r.id, r.Term, r.raftLog.committed, s.Metadata.Index, s.Metadata.Term)
	r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgAppendResponse, Index: r.raftLog.committed})
}

// restore installs snapshot s if it is newer than what we have committed.
// The configuration is taken from the snapshot's ConfState. It returns
// false if the snapshot was not needed.
func (r *raft) restore(s eraftpb.Snapshot) bool {
	if s.Metadata.Index <= r.raftLog.committed {
		return false
	}
	if r.state != StateFollower {
		// Only a follower receives snapshots (Step makes us one first).
		panic(fmt.Sprintf("raft: non-follower %s attempted to restore a snapshot", r.state))
	}
	var cs eraftpb.ConfState
	if s.Metadata.ConfState != nil {
		cs = *s.Metadata.ConfState
	}
	if !slices.Contains(cs.Voters, r.id) && !slices.Contains(cs.Learners, r.id) {
		// A snapshot from before we were added (or after we were
		// removed). Installing it would leave us outside our own
		// configuration; the leader will send a newer one.
		r.logger.Warnf("ignore snapshot without us in its ConfState raft-id=%d term=%d conf-state=%s",
			r.id, r.Term, DescribeConfState(cs))
		return false
	}
	// If our log already has the snapshot's last entry, the log is a
	// superset of the snapshot: just fast-forward the commit index.
	if r.raftLog.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		r.logger.Infof("fast-forwarded commit to snapshot raft-id=%d term=%d snap-index=%d snap-term=%d",
			r.id, r.Term, s.Metadata.Index, s.Metadata.Term)
		r.raftLog.commitTo(s.Metadata.Index)
		return false
	}
	r.raftLog.restore(s)
	r.trk = tracker.MakeProgressTracker(r.trk.MaxInflight)
	r.trk.SetConfig(cs.Voters, cs.Learners, r.newProgress)
	return true
}

// handleSnapStatus is the leader's reaction to RawNode.ReportSnapshot.
func (r *raft) handleSnapStatus(m eraftpb.Message, pr *tracker.Progress) {
	if pr.State != tracker.StateSnapshot {
		return
	}
	if m.Reject {
		// Sending failed: forget the pending snapshot and probe again; the
		// probe decides whether another snapshot is needed.
		pr.PendingSnapshot = 0
		r.logger.Debugf("snapshot failed, resumed sending replication messages raft-id=%d term=%d to=%d", r.id, r.Term, m.From)
	} else {
		r.logger.Debugf("snapshot succeeded, resumed sending replication messages raft-id=%d term=%d to=%d", r.id, r.Term, m.From)
	}
	pr.BecomeProbe()
	// Wait for the follower's MsgAppResp (or a heartbeat response) before
	// the next probe, so we do not probe before the snapshot is applied.
	pr.ProbeSent = true
}
