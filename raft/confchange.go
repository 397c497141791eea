package raft

import (
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// Membership changes are single-step (Raft paper §6, thesis §4.1): each
// change adds or removes one voter, which keeps any old and new majority
// overlapping, so no joint consensus is needed. Learners (AddLearnerNode)
// change no majority at all; promoting one (AddNode of a learner) adds one
// voter whose log is typically caught up already, so the new quorum does
// not have to wait for it (thesis §4.2.1). Safety needs at most one
// change in flight: the leader accepts a new EntryConfChange only once the
// previous one is applied (pendingConfIndex <= applied); otherwise the
// proposal is rejected with ErrProposalDropped, and the caller retries after
// the pending change applies. A configuration takes effect when the
// application calls ApplyConfChange for the committed entry.

// checkConfChangeProposal validates a proposed conf change entry on the
// leader.
func (r *raft) checkConfChangeProposal(e eraftpb.Entry) error {
	if r.pendingConfIndex > r.raftLog.applied {
		r.logger.Infof("reject conf change while another is pending raft-id=%d term=%d pending-index=%d applied=%d",
			r.id, r.Term, r.pendingConfIndex, r.raftLog.applied)
		return ErrProposalDropped
	}
	var cc eraftpb.ConfChange
	if err := cc.Unmarshal(e.Data); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfChange, err)
	}
	if _, _, err := r.trk.ApplyConfChange(cc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfChange, err)
	}
	return nil
}

// applyConfChange installs a committed conf change and returns the new
// configuration.
func (r *raft) applyConfChange(cc eraftpb.ConfChange) eraftpb.ConfState {
	voters, learners, err := r.trk.ApplyConfChange(cc)
	if err != nil {
		// Proposals are validated on the leader, against the same
		// configuration (only one change is in flight), so this entry
		// could not have been proposed through this library.
		r.logger.Errorf("ignore invalid conf change raft-id=%d term=%d change=%s err=%v",
			r.id, r.Term, DescribeConfChange(cc), err)
		return r.trk.ConfState()
	}
	added := r.trk.Progress[cc.NodeId] == nil && cc.ChangeType != eraftpb.ConfChangeType_RemoveNode
	r.trk.SetConfig(voters, learners, r.newProgress)
	r.logger.Infof("applied conf change raft-id=%d term=%d change=%s %s",
		r.id, r.Term, DescribeConfChange(cc), describeMembers(voters, learners))
	if r.state == StateLeader {
		if added {
			// Probe the new member right away instead of waiting for the
			// next heartbeat.
			r.sendAppend(cc.NodeId)
		}
		r.afterConfChangeAsLeader()
	}
	return r.trk.ConfState()
}

func (r *raft) afterConfChangeAsLeader() {
	if r.trk.Progress[r.id] == nil {
		r.stepDownAfterRemoval()
		return
	}
	if r.leadTransferee != None && !r.trk.IsVoter(r.leadTransferee) {
		r.abortLeaderTransfer()
	}
	// Removing a voter may shrink the quorum enough to commit more; either
	// way, new voters need their first MsgApp.
	if r.maybeCommit() {
		r.bcastAppend()
		return
	}
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if id != r.id {
			r.maybeSendAppend(id, false)
		}
	})
}

// stepDownAfterRemoval hands off leadership when the leader removed itself.
// The removal is committed; the leader tells the remaining voters so, asks
// the most caught-up one to campaign at once, so the cluster does not wait
// an election timeout, and becomes a follower that never campaigns again.
//
// The commit index goes out in heartbeats, which flow control never holds
// back: the MsgApp that carried it when it advanced skipped paused
// followers (full inflight window, probing) or may have been lost, and this
// leader sends nothing after this. A voter that never learns the removal
// committed keeps counting us in its quorum, while we, often holding the
// longest log, refuse it our vote.
func (r *raft) stepDownAfterRemoval() {
	r.bcastHeartbeatWithCtx(nil)
	var best uint64
	var bestMatch uint64
	r.trk.VisitVoters(func(id uint64, pr *tracker.Progress) {
		if pr.Match > bestMatch || best == None {
			best, bestMatch = id, pr.Match
		}
	})
	if best != None && bestMatch == r.raftLog.lastIndex() {
		r.logger.Infof("removed from configuration, handing off leadership raft-id=%d term=%d to=%d", r.id, r.Term, best)
		r.sendTimeoutNow(best)
	} else {
		r.logger.Infof("removed from configuration, stepping down raft-id=%d term=%d", r.id, r.Term)
	}
	r.becomeFollower(r.Term, None)
}

// describeMembers renders a configuration for log lines: the voters, and
// the learners when there are any.
func describeMembers(voters, learners []uint64) string {
	if len(learners) == 0 {
		return fmt.Sprintf("voters=%v", voters)
	}
	return fmt.Sprintf("voters=%v learners=%v", voters, learners)
}
