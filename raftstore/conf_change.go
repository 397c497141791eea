package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft/tracker"
)

// Membership change: one peer added, promoted or removed at a time (raft's
// single-step change, Raft thesis §4.1) through the ChangePeer admin
// command. A peer can join as a learner (AddLearnerNode: it receives the
// log but does not vote or count in a quorum), catch up, and be promoted
// (AddNode of the learner): the quorum never waits for a peer that has
// no data yet. The leader proposes an EntryConfChange whose context is the
// whole RaftCmdRequest (so the apply side knows the peer's store); every
// replica applies it to its region (peers, epoch.conf_ver+1) in the same kv
// batch as its apply state, and the raft worker then installs it in raft
// (ApplyConfChange). A new peer is created on its store by the first
// message that reaches it (Store.maybeCreatePeer) and catches up by
// snapshot; a removed peer destroys itself (destroy.go).

// confChangeResult is what applying a ChangePeer tells the raft worker.
type confChangeResult struct {
	cc     eraftpb.ConfChange
	peer   *metapb.Peer
	region *metapb.Region // after the change
	index  uint64         // of the conf change entry
}

// adminResult is one applied admin command that the raft worker must
// follow up on, in log order.
type adminResult struct {
	split      *splitResult
	confChange *confChangeResult
}

func errConfChange(msg string) *errorpb.Error {
	return &errorpb.Error{Message: "conf change: " + msg}
}

// changedRegion returns region with cp applied (a copy; epoch unchanged):
// AddNode adds a voter, or promotes the store's learner of the same peer
// ID; AddLearnerNode adds a learner; RemoveNode removes a voter or a
// learner. The leader checks a proposal with it and every replica applies
// the entry with it, so they agree.
func changedRegion(region *metapb.Region, cp *raft_cmdpb.ChangePeerRequest) (*metapb.Region, *errorpb.Error) {
	if cp == nil || cp.Peer == nil || cp.Peer.Id == 0 || cp.Peer.StoreId == 0 {
		return nil, errConfChange("missing peer")
	}
	r := cloneRegion(region)
	held := storePeer(r, cp.Peer.StoreId)
	switch cp.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		switch {
		case held == nil:
			np := *cp.Peer
			np.Role = metapb.PeerRole_Voter
			r.Peers = append(r.Peers, &np)
		case held.Id == cp.Peer.Id && held.Role == metapb.PeerRole_Learner:
			held.Role = metapb.PeerRole_Voter // promotion
		default:
			return nil, errConfChange("store already holds a peer of the region")
		}
	case eraftpb.ConfChangeType_AddLearnerNode:
		if held != nil {
			return nil, errConfChange("store already holds a peer of the region")
		}
		np := *cp.Peer
		np.Role = metapb.PeerRole_Learner
		r.Peers = append(r.Peers, &np)
	case eraftpb.ConfChangeType_RemoveNode:
		kept := r.Peers[:0]
		for _, pr := range r.Peers {
			if pr.Id != cp.Peer.Id {
				kept = append(kept, pr)
			}
		}
		if len(kept) == len(r.Peers) {
			return nil, errConfChange("peer not in region")
		}
		r.Peers = kept
	default:
		return nil, errConfChange("unsupported change type " + cp.ChangeType.String())
	}
	return r, nil
}

func isVoter(p *metapb.Peer) bool { return p.Role != metapb.PeerRole_Learner }

// checkChangePeer validates a ChangePeer proposal on the leader.
func (p *peer) checkChangePeer(cp *raft_cmdpb.ChangePeerRequest) *errorpb.Error {
	if p.ps.applied < p.confChangeBarrier {
		// raft accepts a new change once the previous one is handed to
		// apply; we wait until our region reflects it, so that the checks
		// below see the current membership.
		return errServerIsBusy("a membership change is pending")
	}
	after, err := changedRegion(p.region, cp)
	if err != nil {
		return err
	}
	if cp.ChangeType == eraftpb.ConfChangeType_RemoveNode && cp.Peer.Id == p.meta.Id {
		return errConfChange("cannot remove the leader; transfer leadership first")
	}
	voters := 0
	for _, pr := range after.Peers {
		if isVoter(pr) {
			voters++
		}
	}
	if voters == 0 {
		return errConfChange("cannot remove the last voter")
	}
	return p.checkConfChangeSafe(cp, after)
}

// checkConfChangeSafe refuses a membership change after which too few
// peers would be healthy: heard from by the leader within an election
// timeout, and holding the log (no snapshot needed). After a removal they
// must form a quorum of the new membership: removing a healthy peer while
// another is down, or while the only other member is still empty, would
// leave a region that cannot commit. After an addition the new peer counts
// as one that will catch up (a voter must be added before it can catch
// up), so adding is refused only while the existing peers could not reach
// a quorum even with it. The scheduler's view of peer health lags; the
// leader's is current.
func (p *peer) checkConfChangeSafe(cp *raft_cmdpb.ChangePeerRequest, region *metapb.Region) *errorpb.Error {
	st := p.rn.Status()
	now := p.store.now()
	cfg := &p.store.cfg
	window := time.Duration(cfg.ElectionTicks) * cfg.RaftBaseTickInterval
	healthy := func(id uint64) bool {
		if id == p.meta.Id {
			return true
		}
		pr, ok := st.Progress[id]
		heard, heardOK := p.peerHeard[id]
		return ok && heardOK && pr.State != tracker.StateSnapshot && pr.Match >= p.ps.truncated.Index &&
			now.Sub(heard) <= window
	}
	// The voters after the change; a voter added directly (not promoted)
	// counts as one that will catch up.
	newVoter := cp.ChangeType == eraftpb.ConfChangeType_AddNode && storePeer(p.region, cp.Peer.StoreId) == nil
	var after []uint64
	n := 0
	for _, pr := range region.Peers {
		if !isVoter(pr) {
			continue
		}
		after = append(after, pr.Id)
		if (newVoter && pr.Id == cp.Peer.Id) || healthy(pr.Id) {
			n++
		}
	}
	if quorum := len(after)/2 + 1; n < quorum {
		return errConfChange(fmt.Sprintf("unsafe: after %s of peer %d only %d of %d peers would be healthy, below a quorum of %d",
			cp.ChangeType, cp.Peer.Id, n, len(after), quorum))
	}
	return nil
}

// proposeConfChange proposes a checked ChangePeer command.
func (p *peer) proposeConfChange(req *raft_cmdpb.RaftCmdRequest) *errorpb.Error {
	cp := req.AdminRequest.ChangePeer
	if err := p.checkChangePeer(cp); err != nil {
		return err
	}
	data, err := req.Marshal()
	if err != nil {
		return &errorpb.Error{Message: err.Error()}
	}
	cc := eraftpb.ConfChange{ChangeType: cp.ChangeType, NodeId: cp.Peer.Id, Context: data}
	if err := p.rn.ProposeConfChange(cc); err != nil {
		p.logger.Info("conf change proposal rejected", zap.Error(err))
		return errServerIsBusy("conf change rejected: " + err.Error())
	}
	p.logger.Info("proposed conf change", zap.Stringer("type", cp.ChangeType), zap.Uint64("peer", cp.Peer.Id),
		zap.Uint64("store", cp.Peer.StoreId))
	return nil
}

// execConfChange applies an EntryConfChange (apply worker). A change that
// does not fit the region (stale epoch, duplicate) is skipped by every
// replica alike and never reaches raft.
func (w *applyWorker) execConfChange(d *applyDelegate, e *eraftpb.Entry) *raft_cmdpb.RaftCmdResponse {
	var cc eraftpb.ConfChange
	var req raft_cmdpb.RaftCmdRequest
	if err := cc.Unmarshal(e.Data); err != nil {
		return errResp(errConfChange("undecodable"))
	}
	if err := req.Unmarshal(cc.Context); err != nil || req.AdminRequest.GetChangePeer() == nil {
		return errResp(errConfChange("no ChangePeer request in context"))
	}
	cp := req.AdminRequest.ChangePeer
	if ep := req.Header.GetRegionEpoch(); ep == nil || ep.ConfVer != d.region.RegionEpoch.GetConfVer() {
		return errResp(errEpochNotMatch(d.region))
	}
	region, rerr := changedRegion(d.region, cp)
	if rerr != nil {
		return errResp(rerr)
	}
	if cp.ChangeType == eraftpb.ConfChangeType_RemoveNode && cp.Peer.StoreId == w.storeID {
		w.stopped[region.Id] = true
	}
	region.RegionEpoch.ConfVer++
	if err := w.wb.SetMeta(engine.RegionStateKey(region.Id), &rspb.RegionLocalState{State: rspb.PeerState_Normal, Region: region}); err != nil {
		w.logger.Panic("encode region state", zap.Error(err))
	}
	d.region = region
	d.result.admins = append(d.result.admins, adminResult{confChange: &confChangeResult{cc: cc, peer: cp.Peer, region: region, index: e.Index}})
	w.logger.Info("applied conf change", zap.Uint64("region-id", region.Id), zap.Stringer("type", cp.ChangeType),
		zap.Uint64("peer-id", cp.Peer.Id), zap.Uint64("store", cp.Peer.StoreId), zap.Uint64("conf-ver", region.RegionEpoch.ConfVer))
	return &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{},
		AdminResponse: &raft_cmdpb.AdminResponse{CmdType: raft_cmdpb.AdminCmdType_ChangePeer,
			ChangePeer: &raft_cmdpb.ChangePeerResponse{Region: region}}}
}

// onConfChangeApplied installs an applied change in raft and the peer
// (raft worker).
func (p *peer) onConfChangeApplied(res *confChangeResult) {
	leading := p.isLeader()
	p.rn.ApplyConfChange(res.cc)
	p.setRegion(res.region)
	p.store.meta.setRegion(res.region)
	removed := res.cc.ChangeType == eraftpb.ConfChangeType_RemoveNode
	if removed && res.peer.Id == p.meta.Id {
		// The apply worker applies nothing of ours after this entry.
		p.applyStopped = true
		if leading && hasVoter(res.region) {
			// We led and committed our own removal (proposed by an
			// earlier leader). The other voters may not know it is
			// committed yet (one that acknowledged it and crashed before
			// hearing the commit still counts us as a voter), and only we
			// can tell them: linger, answering votes and appends, until a
			// leader tells us it committed past our removal.
			p.lingerIndex = res.index
			p.logger.Info("removed while leading: lingering until a new leader has committed the removal",
				zap.Uint64("index", res.index))
			return
		}
		p.destroy("removed by a membership change")
		return
	}
	if removed {
		delete(p.peerCache, res.peer.Id)
		delete(p.peerHeard, res.peer.Id)
	} else {
		p.peerHeard[res.peer.Id] = p.store.now()
	}
	if p.isLeader() {
		p.heartbeatScheduler()
	}
}

func hasVoter(r *metapb.Region) bool {
	for _, pr := range r.Peers {
		if isVoter(pr) {
			return true
		}
	}
	return false
}

// ErrAdmin wraps the region error of an admin command run through
// Store.Admin.
var ErrAdmin = errors.New("raftstore: admin command failed")

// ErrRegionNotFound: the store holds no initialized peer of the region.
var ErrRegionNotFound = errors.New("raftstore: region not found")

// Admin runs an admin command (ChangePeer, TransferLeader, BatchSplit with
// IDs already allocated) on a region through its peer on this store, with
// the region epoch the store knows, and waits for the response. It must
// reach the leader. For a split prefer SplitRegion, which allocates IDs.
func (s *Store) Admin(ctx context.Context, regionID uint64, admin *raft_cmdpb.AdminRequest) (*raft_cmdpb.AdminResponse, error) {
	region := s.meta.regionByID(regionID)
	if region == nil {
		return nil, fmt.Errorf("%w: region %d on store %d", ErrRegionNotFound, regionID, s.storeID)
	}
	req := &raft_cmdpb.RaftCmdRequest{
		Header:       &raft_cmdpb.RaftRequestHeader{RegionId: regionID, RegionEpoch: region.RegionEpoch},
		AdminRequest: admin,
	}
	ch := make(chan *raft_cmdpb.RaftCmdResponse, 1)
	s.Propose(req, func(r *raft_cmdpb.RaftCmdResponse) { ch <- r })
	select {
	case r := <-ch:
		if e := r.GetHeader().GetError(); e != nil {
			return nil, &AdminError{Err: e}
		}
		return r.AdminResponse, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopCh:
		return nil, ErrStopped
	}
}

// AdminError carries the region error of a failed admin command; it
// matches ErrAdmin.
type AdminError struct{ Err *errorpb.Error }

func (e *AdminError) Error() string        { return "raftstore: admin command failed: " + e.Err.String() }
func (e *AdminError) Is(target error) bool { return target == ErrAdmin }
