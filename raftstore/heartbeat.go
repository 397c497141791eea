package raftstore

import (
	"context"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// Heartbeats to the scheduler and the operators that come back.
//
// A leader heartbeats its region every RegionHeartbeatTicks and at once
// after a split, a membership change or becoming leader: peers, leader,
// pending peers (match below the truncated index: they need a snapshot or
// are still catching up), down peers (no message for
// MaxPeerDownDuration), the size estimate, and the bytes and keys written
// and read and the requests served since its last heartbeat (query_stats:
// gets and scans read, puts, deletes and delete-ranges proposed). The scheduler answers on its stream
// with at most one operator step for the region; runOperators routes each to
// the region, whose leader checks the epoch and executes it (onOperator).

func newHeartbeat(r *metapb.Region, leader *metapb.Peer, term uint64) *pdpb.RegionHeartbeatRequest {
	return &pdpb.RegionHeartbeatRequest{Region: r, Leader: leader, Term: term}
}

// queueHeartbeat hands a region heartbeat to the heartbeat loop; dropped if
// the queue is full (heartbeats are periodic).
func (s *Store) queueHeartbeat(req *pdpb.RegionHeartbeatRequest) {
	select {
	case s.hbCh <- req:
	default:
	}
}

// heartbeatScheduler sends the leader's region heartbeat now.
func (p *peer) heartbeatScheduler() {
	if !p.isLeader() {
		return
	}
	now := p.store.now()
	req := newHeartbeat(p.region, p.meta, p.term)
	st := p.rn.Status()
	p.pendingPeers = p.pendingPeers[:0]
	for id, pr := range st.Progress {
		if id != p.meta.Id && pr.Match < p.ps.truncated.Index {
			if mp := p.findPeer(id); mp != nil {
				p.pendingPeers = append(p.pendingPeers, mp)
			}
		}
	}
	req.PendingPeers = append([]*metapb.Peer(nil), p.pendingPeers...)
	down := p.store.cfg.MaxPeerDownDuration
	for _, pr := range p.region.Peers {
		if pr.Id == p.meta.Id {
			continue
		}
		if last, ok := p.peerHeard[pr.Id]; ok && now.Sub(last) > down {
			req.DownPeers = append(req.DownPeers, &pdpb.PeerStats{Peer: pr, DownSeconds: uint64(now.Sub(last).Seconds())})
		}
	}
	req.ApproximateSize, req.ApproximateKeys = p.approxSize, p.approxKeys
	req.BytesWritten, req.KeysWritten = p.stats.bytesWritten, p.stats.keysWritten
	rc := p.reads.take()
	req.KeysRead, req.BytesRead = rc.keys, rc.bytes
	req.QueryStats = &pdpb.QueryStats{Get: rc.gets, Scan: rc.scans, Put: p.stats.puts, Delete: p.stats.deletes,
		DeleteRange: p.stats.deleteRanges}
	if !p.stats.since.IsZero() {
		req.Interval = &pdpb.TimeInterval{StartTimestamp: uint64(p.stats.since.Unix()), EndTimestamp: uint64(now.Unix())}
	}
	p.stats = peerStats{since: now}
	p.lastHeartbeatTick = p.ticks
	p.store.queueHeartbeat(req)
}

// maybeHeartbeatOnCatchUp heartbeats as soon as a pending peer caught up,
// so that an AddPeer operator finishes without waiting a whole period.
func (p *peer) maybeHeartbeatOnCatchUp() {
	if !p.isLeader() || len(p.pendingPeers) == 0 {
		return
	}
	st := p.rn.Status()
	for _, pp := range p.pendingPeers {
		if pr, ok := st.Progress[pp.Id]; ok && pr.Match < p.ps.truncated.Index {
			return
		}
	}
	p.heartbeatScheduler()
}

// peerStats is traffic since the last heartbeat: bytes and keys applied
// (on every replica), and write requests proposed (on the leader).
type peerStats struct {
	since                       time.Time
	bytesWritten, keysWritten   uint64
	puts, deletes, deleteRanges uint64
}

// countProposed counts the write requests of a command the leader
// proposed, for heartbeats and load-based split.
func (p *peer) countProposed(reqs []*raft_cmdpb.Request) {
	st := &p.store.stats
	for _, r := range reqs {
		switch r.CmdType {
		case raft_cmdpb.CmdType_Put:
			p.stats.puts++
			st.puts.Add(1)
			p.load.record(r.Put.Key, nil, true, len(r.Put.Key)+len(r.Put.Value))
		case raft_cmdpb.CmdType_Delete:
			p.stats.deletes++
			st.deletes.Add(1)
			p.load.record(r.Delete.Key, nil, true, len(r.Delete.Key))
		case raft_cmdpb.CmdType_DeleteRange:
			p.stats.deleteRanges++
			st.deleteRanges.Add(1)
			p.load.record(r.DeleteRange.StartKey, r.DeleteRange.EndKey, false, 0)
		}
	}
}

// runOperators routes the scheduler's heartbeat responses to regions.
func (s *Store) runOperators() {
	ch := s.scheduler.RegionHeartbeatResponses()
	for {
		select {
		case <-s.stopCh:
			return
		case resp, ok := <-ch:
			if !ok {
				return
			}
			if resp == nil || resp.RegionId == 0 {
				continue
			}
			s.router.send(resp.RegionId, peerMsg{kind: msgOperator, op: resp})
		}
	}
}

// onOperator executes one operator step from the scheduler on the leader.
func (p *peer) onOperator(op *pdpb.RegionHeartbeatResponse) {
	if !p.isLeader() {
		return
	}
	p.wake()
	ep, cur := op.RegionEpoch, p.region.RegionEpoch
	if ep == nil || ep.Version != cur.GetVersion() || ep.ConfVer != cur.GetConfVer() {
		p.logger.Info("operator for another epoch ignored", zap.Stringer("op-epoch", ep), zap.Stringer("epoch", cur))
		return
	}
	hdr := &raft_cmdpb.RaftRequestHeader{RegionId: p.region.Id, Peer: p.meta, RegionEpoch: ep}
	logResult := func(what string) Callback {
		return func(r *raft_cmdpb.RaftCmdResponse) {
			if e := r.GetHeader().GetError(); e != nil {
				p.store.logger.Info("operator step failed", zap.Uint64("region-id", hdr.RegionId), zap.String("step", what),
					zap.String("error", e.Message))
			}
		}
	}
	switch {
	case op.ChangePeer != nil:
		cp := op.ChangePeer
		if changePeerDone(p.region, cp) {
			// The scheduler resends a step until a heartbeat shows it done;
			// this one is, and the next heartbeat will say so.
			p.logger.Debug("operator step already done", zap.Stringer("type", cp.ChangeType), zap.Uint64("peer", cp.Peer.GetId()))
			return
		}
		p.logger.Info("executing operator: change peer", zap.Stringer("type", cp.ChangeType), zap.Uint64("peer", cp.Peer.GetId()),
			zap.Uint64("store", cp.Peer.GetStoreId()))
		switch cp.ChangeType {
		case eraftpb.ConfChangeType_AddNode, eraftpb.ConfChangeType_AddLearnerNode, eraftpb.ConfChangeType_RemoveNode:
		default:
			p.logger.Warn("operator step of unknown conf change type ignored", zap.Stringer("type", cp.ChangeType))
			return
		}
		p.proposeCommands([]*command{{req: &raft_cmdpb.RaftCmdRequest{Header: hdr,
			AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_ChangePeer,
				ChangePeer: &raft_cmdpb.ChangePeerRequest{ChangeType: cp.ChangeType, Peer: cp.Peer}}},
			cb: logResult("change peer")}}, p.store.now())
	case op.TransferLeader != nil:
		to := op.TransferLeader.Peer
		if to == nil && len(op.TransferLeader.Peers) > 0 {
			to = op.TransferLeader.Peers[0]
		}
		p.logger.Info("executing operator: transfer leader", zap.Uint64("to", to.GetId()))
		p.proposeCommands([]*command{{req: &raft_cmdpb.RaftCmdRequest{Header: hdr,
			AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_TransferLeader,
				TransferLeader: &raft_cmdpb.TransferLeaderRequest{Peer: to}}},
			cb: logResult("transfer leader")}}, p.store.now())
	case op.SplitRegion != nil:
		sr := op.SplitRegion
		p.logger.Info("executing operator: split", zap.Stringer("policy", sr.Policy), zap.Int("keys", len(sr.Keys)))
		if sr.Policy == pdpb.CheckPolicy_USEKEY && len(sr.Keys) > 0 {
			logger := p.logger
			p.store.askSplit(p.region, sr.Keys, func(_ []*metapb.Region, err error) {
				if err != nil {
					logger.Info("operator split failed", zap.Error(err))
				}
			})
			return
		}
		if !p.splitChecking && p.store.splitCheck.schedule(splitCheckTask{region: p.region, half: true}) {
			p.splitChecking = true
		}
	}
}

// storeStats builds the store heartbeat.
func (s *Store) storeStats() *pdpb.StoreStats {
	st := &pdpb.StoreStats{
		StoreId:     s.storeID,
		RegionCount: uint32(s.router.count()),
		StartTime:   uint32(s.startTime.Unix()),
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.engines.Dir(), &fs); err == nil {
		st.Capacity = fs.Blocks * uint64(fs.Bsize)
		st.Available = fs.Bavail * uint64(fs.Bsize)
		st.UsedSize = st.Capacity - fs.Bfree*uint64(fs.Bsize)
	}
	now := time.Now()
	st.BytesWritten = uint64(s.stats.bytesWritten.Swap(0))
	st.KeysWritten = uint64(s.stats.keysWritten.Swap(0))
	st.BytesRead = uint64(s.stats.bytesRead.Swap(0))
	st.KeysRead = uint64(s.stats.keysRead.Swap(0))
	st.QueryStats = &pdpb.QueryStats{Get: s.stats.gets.Swap(0), Scan: s.stats.scans.Swap(0), Put: s.stats.puts.Swap(0),
		Delete: s.stats.deletes.Swap(0), DeleteRange: s.stats.deleteRanges.Swap(0)}
	st.Interval = &pdpb.TimeInterval{StartTimestamp: uint64(s.lastStoreHB.Unix()), EndTimestamp: uint64(now.Unix())}
	s.lastStoreHB = now
	return st
}

// LeaderCount is the number of regions this store leads.
func (s *Store) LeaderCount() int { return int(s.leaderCount.Load()) }

// goBackground runs f on its own goroutine with a context canceled when
// the store stops; Stop waits for it.
func (s *Store) goBackground(f func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgStopped {
		return
	}
	s.bgWG.Add(1)
	s.spawn(func() {
		defer s.bgWG.Done()
		f(s.bgCtx)
	})
}

// changePeerDone reports whether region already reflects cp: the peer added
// is there, or the peer removed is gone.
func changePeerDone(region *metapb.Region, cp *pdpb.ChangePeer) bool {
	present, voter := false, false
	for _, pr := range region.GetPeers() {
		if pr.Id == cp.Peer.GetId() {
			present, voter = true, isVoter(pr)
		}
	}
	switch cp.ChangeType {
	case eraftpb.ConfChangeType_AddNode:
		// A learner with this ID is not done: the step promotes it.
		return voter
	case eraftpb.ConfChangeType_AddLearnerNode:
		return present
	case eraftpb.ConfChangeType_RemoveNode:
		return !present
	}
	return false
}
