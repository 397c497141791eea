package raft

import (
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// handleTransferLeader starts a leadership transfer to m.From (thesis §3.10):
// the leader stops accepting proposals, brings the transferee's log up to
// date and then tells it to campaign immediately with MsgTimeoutNow. The
// transfer is aborted if it does not finish within an election timeout.
func (r *raft) handleTransferLeader(m eraftpb.Message, pr *tracker.Progress) {
	transferee := m.From
	if last := r.leadTransferee; last != None {
		if last == transferee {
			r.logger.Infof("ignore repeated leadership transfer raft-id=%d term=%d transferee=%d", r.id, r.Term, transferee)
			return
		}
		r.abortLeaderTransfer()
		r.logger.Infof("abort previous leadership transfer raft-id=%d term=%d transferee=%d", r.id, r.Term, last)
	}
	if transferee == r.id {
		r.logger.Debugf("already leader, ignore transfer to self raft-id=%d term=%d", r.id, r.Term)
		return
	}
	if !r.trk.IsVoter(transferee) {
		// A learner cannot campaign: the transfer could never finish.
		r.logger.Infof("ignore transfer to a learner raft-id=%d term=%d transferee=%d", r.id, r.Term, transferee)
		return
	}
	r.logger.Infof("starts to transfer leadership raft-id=%d term=%d transferee=%d", r.id, r.Term, transferee)
	// The transfer must finish within one election timeout.
	r.electionElapsed = 0
	r.leadTransferee = transferee
	if pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("sent MsgTimeoutNow immediately as log is up to date raft-id=%d term=%d to=%d", r.id, r.Term, transferee)
		r.sendTimeoutNow(transferee)
	} else {
		r.sendAppend(transferee)
	}
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.timeoutNowSent = true
	r.send(eraftpb.Message{To: to, MsgType: eraftpb.MessageType_MsgTimeoutNow})
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }
