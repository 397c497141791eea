package raftstore

import (
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// adminCmd is how raftstore handles one admin command type, stage by
// stage. adminCmds is the one table of them: a type missing from it is
// refused by the leader, and answered with an error if it ever applies.
type adminCmd struct {
	// onLeader runs when the leader takes the command, before anything is
	// proposed. It returns true when the command ends there: answered
	// without the log (TransferLeader), or refused (cb is answered).
	onLeader func(p *peer, req *raft_cmdpb.AdminRequest, cb Callback, term uint64) (done bool)
	// confChange: proposed as a raft conf change entry (applied through
	// raft's ApplyConfChange, see conf_change.go), not a command entry.
	confChange bool
	// announce: the entry's commit is broadcast to followers at once
	// (LazyCommit would otherwise wait for the next write). A split must
	// reach the followers before the new regions' leaders do, or those
	// would catch them up by snapshot.
	announce bool
	// apply executes a command entry in the apply worker.
	apply func(w *applyWorker, d *applyDelegate, hdr *raft_cmdpb.RaftRequestHeader, req *raft_cmdpb.AdminRequest) *raft_cmdpb.RaftCmdResponse
}

var adminCmds = map[raft_cmdpb.AdminCmdType]adminCmd{
	raft_cmdpb.AdminCmdType_TransferLeader: {onLeader: (*peer).transferLeader},
	raft_cmdpb.AdminCmdType_ChangePeer:     {confChange: true},
	raft_cmdpb.AdminCmdType_BatchSplit:     {onLeader: (*peer).checkSplit, announce: true, apply: (*applyWorker).execBatchSplit},
	raft_cmdpb.AdminCmdType_CompactLog:     {apply: (*applyWorker).execCompactLog},
}

func errAdminUnsupported(t raft_cmdpb.AdminCmdType) *errorpb.Error {
	return &errorpb.Error{Message: "admin command " + t.String() + " is not supported"}
}

// transferLeader starts a leadership transfer; the leader does it without
// the log. The answer means "started", not "done".
func (p *peer) transferLeader(req *raft_cmdpb.AdminRequest, cb Callback, term uint64) bool {
	to := req.TransferLeader.GetPeer()
	if to == nil || p.findPeer(to.Id) == nil {
		respondErr(cb, &errorpb.Error{Message: "transfer leader: unknown peer"}, term)
		return true
	}
	if !isVoter(p.findPeer(to.Id)) {
		respondErr(cb, &errorpb.Error{Message: "transfer leader: the peer is a learner"}, term)
		return true
	}
	// Another peer may win an election soon: stop serving reads from the
	// lease now.
	p.leaseExpire = time.Time{}
	p.rn.TransferLeader(to.Id)
	p.logger.Info("transferring leadership", zap.Uint64("to", to.Id))
	if cb != nil {
		cb(&raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{CurrentTerm: term},
			AdminResponse: &raft_cmdpb.AdminResponse{CmdType: req.CmdType, TransferLeader: &raft_cmdpb.TransferLeaderResponse{}}})
	}
	return true
}

// checkSplit refuses split keys that do not fit the region before they are
// proposed (the apply worker checks them again against the region it has).
func (p *peer) checkSplit(req *raft_cmdpb.AdminRequest, cb Callback, term uint64) bool {
	keys := make([][]byte, 0, len(req.Splits.GetRequests()))
	for _, s := range req.Splits.GetRequests() {
		keys = append(keys, s.SplitKey)
	}
	if err := validateSplitKeys(p.region, keys); err != nil {
		respondErr(cb, &errorpb.Error{Message: err.Error()}, term)
		return true
	}
	return false
}

// maybeProposeCompactLog is the leader's log GC decision (TiKV's
// raft_log_gc): once the log between the truncated and the applied index
// holds more than the count or size limit, compact up to what every live
// follower has; if a follower lags so far that this would leave more than
// the limit, compact to the applied index anyway and let it catch up by
// snapshot. So applied - truncated stays near the limit, below twice it.
func (p *peer) maybeProposeCompactLog(force bool) {
	if !p.isLeader() {
		return
	}
	cfg := &p.store.cfg
	ps := p.ps
	applied, truncated := ps.applied, ps.truncated.Index
	if applied <= truncated {
		return
	}
	over := applied-truncated >= cfg.RaftLogGCCountLimit || ps.logSizeEst >= cfg.RaftLogGCSizeLimit
	if !over && !force {
		return
	}
	if p.compactProposed > truncated && p.ticks-p.compactProposedAt < cfg.ElectionTicks {
		return // one in flight
	}
	st := p.rn.Status()
	idx := applied
	for id, pr := range st.Progress {
		if id != p.meta.Id && pr.RecentActive && pr.Match < idx {
			idx = pr.Match
		}
	}
	if applied-idx >= cfg.RaftLogGCCountLimit || (over && idx <= truncated) {
		idx = applied
	}
	if idx <= truncated {
		return
	}
	term, err := ps.Term(idx)
	if err != nil {
		return
	}
	req := &raft_cmdpb.RaftCmdRequest{
		Header: &raft_cmdpb.RaftRequestHeader{RegionId: p.region.Id, Peer: p.meta, RegionEpoch: p.region.RegionEpoch},
		AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_CompactLog,
			CompactLog: &raft_cmdpb.CompactLogRequest{CompactIndex: idx, CompactTerm: term}},
	}
	p.proposeCommands([]*command{{req: req}}, p.store.now())
	p.compactProposed, p.compactProposedAt = idx, p.ticks
}
