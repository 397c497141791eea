package raft

import (
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// ReadState answers a ReadIndex request: once the application has applied
// up to Index, it can serve the read identified by RequestCtx
// linearizably (Raft thesis §6.4).
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// readIndexStatus is one ReadIndex request waiting for heartbeat acks.
type readIndexStatus struct {
	req   eraftpb.Message
	index uint64
	// acks holds the voters that acknowledged a heartbeat carrying this
	// request's context (or a later one). Only true values are stored.
	acks map[uint64]bool
}

// readOnly queues ReadIndex requests in the order they arrived. A
// heartbeat ack for a request also confirms every earlier request, since
// it proves leadership at a later time.
type readOnly struct {
	option           ReadOnlyOption
	pendingReadIndex map[string]*readIndexStatus
	readIndexQueue   []string
}

func newReadOnly(option ReadOnlyOption) *readOnly {
	return &readOnly{option: option, pendingReadIndex: map[string]*readIndexStatus{}}
}

// addRequest queues a read at the given commit index. A request whose
// context is already queued is ignored: contexts identify requests.
func (ro *readOnly) addRequest(index uint64, m eraftpb.Message) {
	ctx := string(m.Entries[0].Data)
	if _, ok := ro.pendingReadIndex[ctx]; ok {
		return
	}
	ro.pendingReadIndex[ctx] = &readIndexStatus{index: index, req: m, acks: map[uint64]bool{}}
	ro.readIndexQueue = append(ro.readIndexQueue, ctx)
}

// recvAck records id's ack for the request with context ctx and returns the
// acks so far, or nil if the request is unknown.
func (ro *readOnly) recvAck(id uint64, ctx []byte) map[uint64]bool {
	rs, ok := ro.pendingReadIndex[string(ctx)]
	if !ok {
		return nil
	}
	rs.acks[id] = true
	return rs.acks
}

// advance dequeues and returns every request up to and including the one
// with the context of m.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	found := -1
	for i, c := range ro.readIndexQueue {
		if c == string(ctx) {
			found = i
			break
		}
	}
	if found < 0 {
		return nil
	}
	rss := make([]*readIndexStatus, 0, found+1)
	for _, c := range ro.readIndexQueue[:found+1] {
		rss = append(rss, ro.pendingReadIndex[c])
		delete(ro.pendingReadIndex, c)
	}
	ro.readIndexQueue = append([]string(nil), ro.readIndexQueue[found+1:]...)
	return rss
}

// lastPendingRequestCtx returns the context of the newest queued request.
func (ro *readOnly) lastPendingRequestCtx() string {
	if len(ro.readIndexQueue) == 0 {
		return ""
	}
	return ro.readIndexQueue[len(ro.readIndexQueue)-1]
}

// handleReadIndex serves a ReadIndex request on the leader. The request's
// context is m.Entries[0].Data; m.From is the requesting node (us for a
// local request).
func (r *raft) handleReadIndex(m eraftpb.Message) {
	if len(m.Entries) != 1 {
		r.logger.Warnf("ignore malformed MsgReadIndex raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
		return
	}
	if r.trk.IsSingleton() {
		// No one else can be leader: our commit index is current.
		r.respondToReadIndex(m, r.raftLog.committed)
		return
	}
	// Until the leader commits an entry of its own term it does not know
	// the latest commit index (thesis §6.4 step 1); postpone.
	if !r.committedEntryInCurrentTerm() {
		r.pendingReadIndexMessages = append(r.pendingReadIndexMessages, m)
		return
	}
	r.serveReadIndex(m)
}

func (r *raft) serveReadIndex(m eraftpb.Message) {
	switch r.readOnly.option {
	case ReadOnlySafe:
		// Record the commit index, then confirm we are still leader with
		// a heartbeat round acknowledged by a quorum.
		ctx := m.Entries[0].Data
		r.readOnly.addRequest(r.raftLog.committed, m)
		r.readOnly.recvAck(r.id, ctx)
		r.bcastHeartbeatWithCtx(ctx)
	case ReadOnlyLeaseBased:
		if r.leaseValid() {
			// The lease stands in for the heartbeat round.
			r.respondToReadIndex(m, r.raftLog.committed)
			return
		}
		ctx := m.Entries[0].Data
		r.readOnly.addRequest(r.raftLog.committed, m)
		r.readOnly.recvAck(r.id, ctx)
		r.bcastHeartbeatWithCtx(ctx)
	}
}

// leaseValid reports whether the leader may answer a read from its lease
// (ReadOnlyLeaseBased, thesis §6.4.1): no other leader can exist yet.
//
// A voter that steps our heartbeat sent at leader tick T ignores vote
// requests for its next electionTimeout ticks (stepHigherTerm; it needs
// CheckQuorum). Its first tick may come at once, so, with every node
// ticking at the same rate (the lease's clock assumption, see doc.go), it
// refuses votes at least until our tick T+electionTimeout-1. Once a quorum
// has answered heartbeats sent at tick T or later, no candidate can win
// before then; the lease ends two ticks earlier, a margin for ticks that
// are not delivered in step. The lease is bounded by the last acknowledgement, not by
// the check-quorum round (which may let a cut-off leader lead on for up to
// two election timeouts).
//
// A transfer ends the lease: its transferee campaigns with a forced vote
// that ignores the voters' lease, as soon as MsgTimeoutNow reaches it, and a
// message may be delayed past any abort of the transfer, so once one has
// been sent the rest of the term reads through heartbeat rounds.
func (r *raft) leaseValid() bool {
	if r.state != StateLeader || !r.checkQuorum || r.leadTransferee != None || r.timeoutNowSent {
		return false
	}
	voters := r.trk.Voters()
	acks := make([]uint64, 0, len(voters))
	for _, id := range voters {
		if id == r.id {
			acks = append(acks, r.leaseTick)
		} else {
			acks = append(acks, r.leaseAcks[id])
		}
	}
	// The quorum-th newest acknowledgement.
	slices.Sort(acks)
	q := acks[len(acks)-(len(acks)/2+1)]
	return q > 0 && r.leaseTick+2 < q+uint64(r.electionTimeout)
}

// handleReadIndexAck counts a heartbeat ack towards pending reads and
// answers every read a quorum has confirmed.
func (r *raft) handleReadIndexAck(m eraftpb.Message) {
	acks := r.readOnly.recvAck(m.From, m.Context)
	if acks == nil || r.trk.VoteResult(acks) != tracker.VoteWon {
		return
	}
	for _, rs := range r.readOnly.advance(m.Context) {
		r.respondToReadIndex(rs.req, rs.index)
	}
}

// respondToReadIndex produces the answer locally or sends it to the
// follower that forwarded the request.
func (r *raft) respondToReadIndex(req eraftpb.Message, readIndex uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: readIndex, RequestCtx: req.Entries[0].Data})
		return
	}
	r.send(eraftpb.Message{
		To:      req.From,
		MsgType: eraftpb.MessageType_MsgReadIndexResp,
		Index:   readIndex,
		Entries: req.Entries,
	})
}

// handleReadIndexResp delivers the leader's answer on a follower.
func (r *raft) handleReadIndexResp(m eraftpb.Message) {
	if len(m.Entries) != 1 {
		r.logger.Errorf("invalid MsgReadIndexResp raft-id=%d term=%d from=%d entries=%d", r.id, r.Term, m.From, len(m.Entries))
		return
	}
	r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Entries[0].Data})
}

func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

// releasePendingReadIndexMessages serves the reads that waited for the
// first commit of this term.
func (r *raft) releasePendingReadIndexMessages() {
	if len(r.pendingReadIndexMessages) == 0 || !r.committedEntryInCurrentTerm() {
		return
	}
	msgs := r.pendingReadIndexMessages
	r.pendingReadIndexMessages = nil
	for _, m := range msgs {
		r.serveReadIndex(m)
	}
}
