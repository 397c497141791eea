package raft

import (
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// StateType is a node's role.
type StateType uint8

const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

func (st StateType) String() string { return stateNames[st] }

// campaignType says why a node campaigns.
type campaignType string

const (
	// campaignPreElection runs the pre-vote round first (Config.PreVote).
	campaignPreElection campaignType = "CampaignPreElection"
	// campaignElection is a normal election (Raft paper §5.2).
	campaignElection campaignType = "CampaignElection"
	// campaignTransfer is an election forced by leadership transfer; its
	// votes carry this string as context so that voters skip the lease
	// check.
	campaignTransfer campaignType = "CampaignTransfer"
)

type stepFunc func(r *raft, m eraftpb.Message) error

// raft is the consensus state machine of one node. It is not safe for
// concurrent use; RawNode wraps it.
type raft struct {
	id uint64

	// Term and Vote are persisted through HardState (Raft paper §5.1, §5.2).
	Term uint64
	Vote uint64

	raftLog *raftLog
	trk     tracker.ProgressTracker
	state   StateType
	// lead is the leader of the current term, or None.
	lead uint64

	// msgs are the outgoing messages, handed out in the next Ready.
	msgs []eraftpb.Message
	// readStates are answered read requests, handed out in the next Ready.
	readStates []ReadState

	maxMsgSize uint64

	// leadTransferee is the target of a leadership transfer in progress, or
	// None. While set, the leader refuses proposals (thesis §3.10).
	leadTransferee uint64
	// pendingConfIndex is the log index of the latest conf change the
	// leader may have proposed. A new conf change is accepted only once
	// applied >= pendingConfIndex, so at most one is in flight (thesis §4.1).
	pendingConfIndex uint64

	readOnly *readOnly
	// pendingReadIndexMessages holds ReadIndex requests received before the
	// leader committed an entry of its term; until then its commit index
	// may be stale (thesis §6.4).
	pendingReadIndexMessages []eraftpb.Message

	// electionElapsed counts ticks since the last election timeout reset:
	// for followers and candidates since they last heard from a valid leader
	// or voted; for leaders since the last check-quorum round.
	electionElapsed int
	// heartbeatElapsed counts ticks since the last heartbeat (leader only).
	heartbeatElapsed int

	checkQuorum               bool
	preVote                   bool
	disableProposalForwarding bool
	lazyCommit                bool
	// announceIndex: with lazyCommit, commit indexes up to here are still
	// broadcast at once (AnnounceCommit; conf changes set it themselves).
	announceIndex uint64
	// startLease is Config.StartInLease until the first reset or the first
	// election timeout: the vote-ignoring lease of a node that may have
	// acknowledged a leader it no longer remembers.
	startLease bool

	// The leader lease of ReadOnlyLeaseBased (leaseValid), in the leader's
	// ticks of its current term. leaseTick counts them; heartbeats carry
	// it (Message.Index) and followers echo it back; leaseAcks holds, per
	// voter, the newest leaseTick it echoed. timeoutNowSent says that a
	// MsgTimeoutNow left in this term: its transferee may win a forced
	// election at any later time, however late the message arrives, so the
	// lease is over for the rest of the term.
	leaseTick      uint64
	leaseAcks      map[uint64]uint64
	timeoutNowSent bool

	heartbeatTimeout int
	electionTimeout  int
	// randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout)
	// and is redrawn on every reset, so split votes resolve (§5.2).
	randomizedElectionTimeout int

	tick func()
	step stepFunc

	logger Logger
	rand   interface{ IntN(int) int }
}

// newRaft builds a raft from a validated config and the state in storage.
func newRaft(c *Config) (*raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	raftlog := newLog(c.Storage, c.Logger, max(c.MaxSizePerMsg, 1))
	hs, cs, err := c.Storage.InitialState()
	mustStorage(err)

	r := &raft{
		id:                        c.ID,
		lead:                      None,
		raftLog:                   raftlog,
		maxMsgSize:                c.MaxSizePerMsg,
		trk:                       tracker.MakeProgressTracker(c.MaxInflightMsgs),
		electionTimeout:           c.ElectionTick,
		heartbeatTimeout:          c.HeartbeatTick,
		logger:                    c.Logger,
		checkQuorum:               c.CheckQuorum,
		preVote:                   c.PreVote,
		readOnly:                  newReadOnly(c.ReadOnlyOption),
		leaseAcks:                 map[uint64]uint64{},
		disableProposalForwarding: c.DisableProposalForwarding,
		lazyCommit:                c.LazyCommit,
		rand:                      c.Rand,
	}
	r.trk.SetConfig(cs.Voters, cs.Learners, r.newProgress)

	if !IsEmptyHardState(hs) {
		if err := r.loadState(hs); err != nil {
			return nil, err
		}
	}
	if c.Applied > 0 {
		if c.Applied > r.raftLog.committed {
			return nil, fmt.Errorf("%w: Applied (%d) is beyond the committed index (%d)",
				ErrInvalidConfig, c.Applied, r.raftLog.committed)
		}
		r.raftLog.appliedTo(c.Applied)
	}
	r.becomeFollower(r.Term, None)
	r.startLease = c.StartInLease && c.CheckQuorum

	peers := fmt.Sprint(r.trk.Voters())
	if l := r.trk.Learners(); len(l) > 0 {
		peers += fmt.Sprintf(" learners=%v", l)
	}
	r.logger.Infof("newRaft raft-id=%d term=%d peers=%s commit=%d applied=%d last-index=%d last-term=%d",
		r.id, r.Term, peers, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.raftLog.lastTerm())
	return r, nil
}

func (r *raft) loadState(hs eraftpb.HardState) error {
	if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
		return fmt.Errorf("%w: HardState commit %d is out of range [%d, %d]",
			ErrInvalidConfig, hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
	}
	r.raftLog.committed = hs.Commit
	r.Term = hs.Term
	r.Vote = hs.Vote
	return nil
}

func (r *raft) newProgress(id uint64) *tracker.Progress {
	pr := &tracker.Progress{
		Next:         r.raftLog.lastIndex() + 1,
		Inflights:    tracker.NewInflights(r.trk.MaxInflight),
		RecentActive: true,
	}
	if id == r.id {
		pr.Match = r.raftLog.lastIndex()
	}
	return pr
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

func (r *raft) hardState() eraftpb.HardState {
	return eraftpb.HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
}

// send queues m for the next Ready, stamping the sender and term.
func (r *raft) send(m eraftpb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.MsgType {
	case eraftpb.MessageType_MsgRequestVote, eraftpb.MessageType_MsgRequestVoteResponse,
		eraftpb.MessageType_MsgRequestPreVote, eraftpb.MessageType_MsgRequestPreVoteResponse:
		// (Pre)votes carry the term they are for, which for pre-votes is
		// not our current term.
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: term should be set when sending %s", m.MsgType))
		}
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft: term should not be set when sending %s (was %d)", m.MsgType, m.Term))
		}
		// Proposals and read requests forwarded to the leader stay
		// term-less: the leader treats them as local.
		if m.MsgType != eraftpb.MessageType_MsgPropose && m.MsgType != eraftpb.MessageType_MsgReadIndex {
			m.Term = r.Term
		}
	}
	r.msgs = append(r.msgs, m)
}

// reset prepares the node for a new role in term.
func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.startLease = false
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.ResetVotes()
	lastIndex := r.raftLog.lastIndex()
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		*pr = tracker.Progress{
			Next:      lastIndex + 1,
			Inflights: tracker.NewInflights(r.trk.MaxInflight),
			IsLearner: pr.IsLearner,
		}
		if id == r.id {
			pr.Match = lastIndex
		}
	})
	r.pendingConfIndex = 0
	r.readOnly = newReadOnly(r.readOnly.option)
	r.pendingReadIndexMessages = nil
	r.leaseTick = 0
	clear(r.leaseAcks)
	r.timeoutNowSent = false
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

// promotable reports whether this node may campaign: only voters can lead.
func (r *raft) promotable() bool {
	return r.trk.IsVoter(r.id) && !r.raftLog.hasPendingSnapshot()
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Infof("became follower raft-id=%d term=%d lead=%d", r.id, r.Term, lead)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.logger.Infof("became candidate raft-id=%d term=%d", r.id, r.Term)
}

// becomePreCandidate starts a pre-election: unlike a candidate, it changes
// neither term nor vote, so a failed pre-election leaves no trace.
func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition [leader -> pre-candidate]")
	}
	r.step = stepCandidate
	r.trk.ResetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Infof("became pre-candidate raft-id=%d term=%d", r.id, r.Term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	r.leaseTick = 1 // so that 0 in leaseAcks means "no answer this term"
	// The leader itself is always up to date.
	r.trk.Progress[r.id].BecomeReplicate()
	r.trk.Progress[r.id].RecentActive = true

	// Any entry past the commit index may be an unapplied conf change; be
	// conservative and treat the whole tail as pending.
	r.pendingConfIndex = r.raftLog.lastIndex()

	// An empty entry of the new term lets the leader commit (and so learn
	// the commit index of) everything before it (Raft paper §5.4.2, §8).
	if !r.appendEntry(eraftpb.Entry{}) {
		panic("raft: failed to append the empty entry on becoming leader")
	}
	r.logger.Infof("became leader raft-id=%d term=%d", r.id, r.Term)
}

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.startLease = false
	}
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		r.stepOrLog(eraftpb.Message{From: r.id, MsgType: eraftpb.MessageType_MsgHup})
	}
}

// tickHeartbeat is the tick of leaders.
func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	r.leaseTick++

	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			r.stepOrLog(eraftpb.Message{From: r.id, MsgType: eraftpb.MessageType_MsgCheckQuorum})
		}
		// A transfer that did not finish within an election timeout is
		// abandoned so the leader accepts proposals again.
		if r.state == StateLeader && r.leadTransferee != None {
			r.logger.Infof("abort leadership transfer after election timeout raft-id=%d term=%d transferee=%d",
				r.id, r.Term, r.leadTransferee)
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		r.stepOrLog(eraftpb.Message{From: r.id, MsgType: eraftpb.MessageType_MsgBeat})
	}
}

func (r *raft) stepOrLog(m eraftpb.Message) {
	if err := r.Step(m); err != nil {
		r.logger.Debugf("error occurred during %s raft-id=%d term=%d err=%v", MessageTypeName(m.MsgType), r.id, r.Term, err)
	}
}

// Step is the entry point for every message. It applies the term rules of
// Raft paper §5.1 once for all roles, handles votes (identical for every
// role), and hands everything else to the role's step function.
func (r *raft) Step(m eraftpb.Message) error {
	switch {
	case m.Term == 0:
		// Local message (or a forwarded proposal / read request).
	case m.Term > r.Term:
		if !r.stepHigherTerm(m) {
			return nil
		}
	case m.Term < r.Term:
		r.stepLowerTerm(m)
		return nil
	}

	switch m.MsgType {
	case eraftpb.MessageType_MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case eraftpb.MessageType_MsgRequestVote, eraftpb.MessageType_MsgRequestPreVote:
		r.handleVoteRequest(m)
	default:
		return r.step(r, m)
	}
	return nil
}

// stepHigherTerm applies the rule "if a message has a higher term, adopt it
// and become follower" (§5.1), with the exceptions for pre-vote and leader
// lease. It returns false if m must be dropped.
func (r *raft) stepHigherTerm(m eraftpb.Message) bool {
	isVote := m.MsgType == eraftpb.MessageType_MsgRequestVote || m.MsgType == eraftpb.MessageType_MsgRequestPreVote
	if isVote {
		// Leader lease (thesis §4.2.3): a node that heard from a leader
		// within the minimum election timeout ignores vote requests, so a
		// node that cannot see the leader does not depose it. A transfer
		// forces the vote: the leader asked for it.
		force := string(m.Context) == string(campaignTransfer)
		inLease := r.checkQuorum && (r.lead != None || r.startLease) && r.electionElapsed < r.electionTimeout
		if !force && inLease {
			r.logger.Infof("ignore vote request in lease raft-id=%d term=%d from=%d msg-term=%d lead=%d remaining-ticks=%d type=%s",
				r.id, r.Term, m.From, m.Term, r.lead, r.electionTimeout-r.electionElapsed, MessageTypeName(m.MsgType))
			return false
		}
	}
	switch {
	case m.MsgType == eraftpb.MessageType_MsgRequestPreVote:
		// A pre-vote does not change our term.
	case m.MsgType == eraftpb.MessageType_MsgRequestPreVoteResponse && !m.Reject:
		// A granted pre-vote carries the future term; we adopt it only on
		// winning the pre-election.
	default:
		r.logger.Infof("received message with higher term raft-id=%d term=%d from=%d msg-term=%d type=%s",
			r.id, r.Term, m.From, m.Term, MessageTypeName(m.MsgType))
		switch m.MsgType {
		case eraftpb.MessageType_MsgAppend, eraftpb.MessageType_MsgHeartbeat, eraftpb.MessageType_MsgSnapshot:
			r.becomeFollower(m.Term, m.From)
		case eraftpb.MessageType_MsgRequestVote:
			// A candidate is not a leader: adopting its term must not
			// restart our election timer, which only a leader's message or
			// granting our vote does (Raft paper Figure 2; a grant resets
			// it in handleVoteRequest). Otherwise candidates whose logs are
			// too stale to win keep resetting the timers of the nodes that
			// could win, and elections drag on.
			elapsed := r.electionElapsed
			r.becomeFollower(m.Term, None)
			r.electionElapsed = elapsed
		default:
			r.becomeFollower(m.Term, None)
		}
	}
	return true
}

// stepLowerTerm handles a stale message. Normally it is dropped, but two
// cases need an answer so that nobody stays stuck.
func (r *raft) stepLowerTerm(m eraftpb.Message) {
	switch {
	case (r.checkQuorum || r.preVote || !r.trk.IsVoter(m.From)) &&
		(m.MsgType == eraftpb.MessageType_MsgHeartbeat || m.MsgType == eraftpb.MessageType_MsgAppend):
		// A leader with a lower term is talking to us, so we probably
		// bumped our term while partitioned. With check-quorum the others
		// ignore our votes (they are in lease), with pre-vote we would
		// lose pre-elections forever, and if the leader is not in our
		// configuration (we missed membership changes) our vote requests
		// never reach it; without an answer we would never rejoin. The
		// answer carries our term (Raft paper §5.1) and makes the leader
		// step down, after which the cluster elects at our term. In the
		// remaining case our campaign reaches the leader anyway.
		r.send(eraftpb.Message{To: m.From, MsgType: eraftpb.MessageType_MsgAppendResponse})
	case m.MsgType == eraftpb.MessageType_MsgRequestPreVote || m.MsgType == eraftpb.MessageType_MsgRequestVote:
		// Reject with our term so the candidate learns it is behind (the
		// RequestVote reply of Raft paper Figure 2 carries currentTerm).
		// Dropping a stale vote request can block every election for
		// good: a voter whose term ran ahead while it was cut off, and
		// that missed a membership change, may only ask peers that are
		// gone, while the candidates that could win never learn a term
		// high enough to reach it.
		r.logger.Infof("reject stale vote request raft-id=%d term=%d from=%d msg-term=%d type=%s",
			r.id, r.Term, m.From, m.Term, MessageTypeName(m.MsgType))
		r.send(eraftpb.Message{To: m.From, Term: r.Term, MsgType: voteRespMsgType(m.MsgType), Reject: true})
	default:
		r.logger.Debugf("ignore message with lower term raft-id=%d term=%d from=%d msg-term=%d type=%s",
			r.id, r.Term, m.From, m.Term, MessageTypeName(m.MsgType))
	}
}

// stepLeader dispatches messages for a leader.
func stepLeader(r *raft, m eraftpb.Message) error {
	// Messages that do not come from a peer.
	switch m.MsgType {
	case eraftpb.MessageType_MsgBeat:
		r.bcastHeartbeat()
		return nil
	case eraftpb.MessageType_MsgCheckQuorum:
		r.checkQuorumActive()
		return nil
	case eraftpb.MessageType_MsgPropose:
		return r.handlePropose(m)
	case eraftpb.MessageType_MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.Progress[m.From]
	if pr == nil {
		r.logger.Debugf("no progress available raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
		return nil
	}
	switch m.MsgType {
	case eraftpb.MessageType_MsgAppendResponse:
		r.handleAppendResponse(m, pr)
	case eraftpb.MessageType_MsgHeartbeatResponse:
		r.handleHeartbeatResponse(m, pr)
	case eraftpb.MessageType_MsgSnapStatus:
		r.handleSnapStatus(m, pr)
	case eraftpb.MessageType_MsgUnreachable:
		// The transport failed to deliver a MsgApp: stop streaming
		// optimistically and probe again.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.logger.Debugf("failed to send message raft-id=%d term=%d to=%d progress=%s", r.id, r.Term, m.From, pr)
	case eraftpb.MessageType_MsgTransferLeader:
		r.handleTransferLeader(m, pr)
	}
	return nil
}

// stepFollower dispatches messages for a follower.
func stepFollower(r *raft, m eraftpb.Message) error {
	switch m.MsgType {
	case eraftpb.MessageType_MsgPropose:
		return r.forwardProposal(m)
	case eraftpb.MessageType_MsgAppend:
		r.heardFromLeader(m.From)
		r.handleAppendEntries(m)
	case eraftpb.MessageType_MsgHeartbeat:
		r.heardFromLeader(m.From)
		r.handleHeartbeat(m)
	case eraftpb.MessageType_MsgSnapshot:
		r.heardFromLeader(m.From)
		r.handleSnapshot(m)
	case eraftpb.MessageType_MsgTransferLeader:
		r.forwardToLeader(m)
	case eraftpb.MessageType_MsgTimeoutNow:
		// The leader asks us to campaign now, skipping pre-vote: the
		// leader is healthy so there is no partition to protect against.
		r.logger.Infof("received MsgTimeoutNow, campaigning raft-id=%d term=%d from=%d", r.id, r.Term, m.From)
		r.hup(campaignTransfer)
	case eraftpb.MessageType_MsgReadIndex:
		r.forwardToLeader(m)
	case eraftpb.MessageType_MsgReadIndexResp:
		r.handleReadIndexResp(m)
	}
	return nil
}

// heardFromLeader resets the election timer on a message from the leader.
func (r *raft) heardFromLeader(lead uint64) {
	r.electionElapsed = 0
	r.lead = lead
}

func (r *raft) forwardProposal(m eraftpb.Message) error {
	if r.lead == None {
		r.logger.Infof("no leader, dropping proposal raft-id=%d term=%d", r.id, r.Term)
		return ErrProposalDropped
	}
	if r.disableProposalForwarding {
		r.logger.Infof("proposal forwarding disabled, dropping proposal raft-id=%d term=%d lead=%d", r.id, r.Term, r.lead)
		return ErrProposalDropped
	}
	m.To = r.lead
	r.send(m)
	return nil
}

func (r *raft) forwardToLeader(m eraftpb.Message) {
	if r.lead == None {
		r.logger.Infof("no leader, dropping message raft-id=%d term=%d type=%s", r.id, r.Term, MessageTypeName(m.MsgType))
		return
	}
	m.To = r.lead
	m.Term = 0 // send stamps the term where one is needed
	r.send(m)
}
