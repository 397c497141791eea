package raft

import (
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// hup starts an election of type t if this node may campaign.
func (r *raft) hup(t campaignType) {
	if r.state == StateLeader {
		r.logger.Debugf("ignore MsgHup because already leader raft-id=%d term=%d", r.id, r.Term)
		return
	}
	if !r.promotable() {
		r.logger.Warnf("not promotable, cannot campaign raft-id=%d term=%d", r.id, r.Term)
		return
	}
	// A committed but unapplied conf change would change who votes; wait
	// until it is applied so we campaign under the right configuration.
	if r.hasUnappliedConfChanges() {
		r.logger.Warnf("cannot campaign with unapplied conf changes raft-id=%d term=%d applied=%d commit=%d",
			r.id, r.Term, r.raftLog.applied, r.raftLog.committed)
		return
	}
	r.logger.Infof("starting a new election raft-id=%d term=%d type=%s", r.id, r.Term, t)
	r.campaign(t)
}

func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	lo := max(r.raftLog.applied+1, r.raftLog.firstIndex())
	ents, err := r.raftLog.slice(lo, r.raftLog.committed+1, noLimit)
	if err != nil {
		panic("raft: cannot read unapplied entries: " + err.Error())
	}
	for i := range ents {
		if ents[i].EntryType == eraftpb.EntryType_EntryConfChange {
			return true
		}
	}
	return false
}

// campaign becomes (pre-)candidate, votes for itself and asks the other
// voters (Raft paper §5.2).
func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg eraftpb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = eraftpb.MessageType_MsgRequestPreVote
		// A pre-vote asks "would you vote for me at the next term?".
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = eraftpb.MessageType_MsgRequestVote
		term = r.Term
	}
	if r.poll(r.id, true) == tracker.VoteWon {
		// Single-voter configuration: we won on our own vote.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransfer {
		ctx = []byte(t)
	}
	lastIndex, lastTerm := r.raftLog.lastIndex(), r.raftLog.lastTerm()
	for _, id := range r.trk.Voters() {
		if id == r.id {
			continue
		}
		r.logger.Infof("sent vote request raft-id=%d term=%d to=%d type=%s last-index=%d last-term=%d",
			r.id, r.Term, id, MessageTypeName(voteMsg), lastIndex, lastTerm)
		r.send(eraftpb.Message{To: id, Term: term, MsgType: voteMsg, Index: lastIndex, LogTerm: lastTerm, Context: ctx})
	}
}

// poll records a vote and returns the election result so far.
func (r *raft) poll(id uint64, granted bool) tracker.VoteResult {
	r.trk.RecordVote(id, granted)
	gr, rj, res := r.trk.TallyVotes()
	r.logger.Infof("vote tally raft-id=%d term=%d from=%d granted=%t total-granted=%d total-rejected=%d result=%s",
		r.id, r.Term, id, granted, gr, rj, res)
	return res
}

// handleVoteRequest decides a (pre)vote for any role. Step has already
// moved us to m.Term for real votes (a pre-vote never changes the term).
func (r *raft) handleVoteRequest(m eraftpb.Message) {
	// We may vote if we already voted for this candidate (a retransmit),
	// if we have neither voted nor seen a leader in this term, or, for a
	// pre-vote, if it is for a future term (pre-votes do not bind).
	canVote := r.Vote == m.From ||
		(r.Vote == None && r.lead == None) ||
		(m.MsgType == eraftpb.MessageType_MsgRequestPreVote && m.Term > r.Term)
	// Election restriction (§5.4.1): only vote for a log at least as
	// up-to-date as ours.
	if canVote && r.raftLog.isUpToDate(m.Index, m.LogTerm) {
		r.logger.Infof("cast vote raft-id=%d term=%d for=%d type=%s last-index=%d last-term=%d msg-index=%d msg-log-term=%d",
			r.id, r.Term, m.From, MessageTypeName(m.MsgType), r.raftLog.lastIndex(), r.raftLog.lastTerm(), m.Index, m.LogTerm)
		// The response carries the term of the request: for a pre-vote
		// that is the future term, which we have not adopted.
		r.send(eraftpb.Message{To: m.From, Term: m.Term, MsgType: voteRespMsgType(m.MsgType)})
		if m.MsgType == eraftpb.MessageType_MsgRequestVote {
			r.electionElapsed = 0
			r.Vote = m.From
		}
		return
	}
	r.logger.Infof("reject vote raft-id=%d term=%d from=%d type=%s vote=%d last-index=%d last-term=%d msg-index=%d msg-log-term=%d",
		r.id, r.Term, m.From, MessageTypeName(m.MsgType), r.Vote, r.raftLog.lastIndex(), r.raftLog.lastTerm(), m.Index, m.LogTerm)
	r.send(eraftpb.Message{To: m.From, Term: r.Term, MsgType: voteRespMsgType(m.MsgType), Reject: true})
}

// stepCandidate dispatches messages for candidates and pre-candidates.
func stepCandidate(r *raft, m eraftpb.Message) error {
	// Only responses to the election we run count; a pre-candidate ignores
	// MsgVoteResp and vice versa.
	myVoteResp := eraftpb.MessageType_MsgRequestVoteResponse
	if r.state == StatePreCandidate {
		myVoteResp = eraftpb.MessageType_MsgRequestPreVoteResponse
	}
	switch m.MsgType {
	case eraftpb.MessageType_MsgPropose:
		r.logger.Infof("no leader, dropping proposal raft-id=%d term=%d", r.id, r.Term)
		return ErrProposalDropped
	case eraftpb.MessageType_MsgAppend:
		// A leader exists at our term (§5.2): step back.
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case eraftpb.MessageType_MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case eraftpb.MessageType_MsgSnapshot:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteResp:
		r.handleVoteResponse(m)
	case eraftpb.MessageType_MsgTimeoutNow:
		r.logger.Debugf("ignore MsgTimeoutNow as candidate raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
	}
	return nil
}

func (r *raft) handleVoteResponse(m eraftpb.Message) {
	switch r.poll(m.From, !m.Reject) {
	case tracker.VoteWon:
		if r.state == StatePreCandidate {
			r.campaign(campaignElection)
			return
		}
		r.becomeLeader()
		r.bcastAppend()
	case tracker.VoteLost:
		// A rejection at a higher term already made us follower in Step;
		// here we lost at our own term.
		r.becomeFollower(r.Term, None)
	}
}
