package raftstore

import (
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// execAdminLocally runs admin commands that a leader executes without the
// log (TransferLeader, as TiKV does) and reports whether it handled req.
func (p *peer) execAdminLocally(req *raft_cmdpb.AdminRequest, cb Callback, term uint64) bool {
	switch req.CmdType {
	case raft_cmdpb.AdminCmdType_TransferLeader:
		to := req.TransferLeader.GetPeer()
		if to == nil || p.findPeer(to.Id) == nil {
			respondErr(cb, &errorpb.Error{Message: "transfer leader: unknown peer"}, term)
			return true
		}
		if !isVoter(p.findPeer(to.Id)) {
			respondErr(cb, &errorpb.Error{Message: "transfer leader: the peer is a learner"}, term)
			return true
		}
		// Another peer may win an election soon: stop serving reads
		// from the lease now.
		p.leaseExpire = time.Time{}
		p.rn.TransferLeader(to.Id)
		p.logger.Info("transferring leadership", zap.Uint64("to", to.Id))
		if cb != nil {
			cb(&raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{CurrentTerm: term},
				AdminResponse: &raft_cmdpb.AdminResponse{CmdType: req.CmdType, TransferLeader: &raft_cmdpb.TransferLeaderResponse{}}})
		}
		return true
	case raft_cmdpb.AdminCmdType_CompactLog, raft_cmdpb.AdminCmdType_ChangePeer:
		return false
	case raft_cmdpb.AdminCmdType_BatchSplit:
		keys := make([][]byte, 0, len(req.Splits.GetRequests()))
		for _, s := range req.Splits.GetRequests() {
			keys = append(keys, s.SplitKey)
		}
		if err := validateSplitKeys(p.region, keys); err != nil {
			respondErr(cb, &errorpb.Error{Message: err.Error()}, term)
			return true
		}
		return false
	default:
		respondErr(cb, &errorpb.Error{Message: "admin command " + req.CmdType.String() + " is not supported yet"}, term)
		return true
	}
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
