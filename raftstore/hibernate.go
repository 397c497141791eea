package raftstore

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Hibernation: a region without traffic stops ticking, so an idle store
// costs (almost) nothing however many regions it holds.
//
// The rule. A leader that has been idle for HibernateIdleTicks (no
// proposal, read, pending conf change, transfer or snapshot; every voter's
// match, the commit and the applied index equal its last index) asks its
// followers with MsgHibernateRequest carrying that last index. A follower
// whose leader is the sender and whose log and commit are at that index
// answers MsgHibernateResponse and stops ticking. Once every follower
// answered for the current last index, the leader stops ticking too (and
// so stops sending heartbeats). A region wakes (ticks again) on any message
// other than a heartbeat or its response, on any proposal or read, and on
// an operator from the scheduler; a follower woken by a request also wakes
// its leader (MsgRegionWakeUp). A sleeping follower steps heartbeats
// without waking, so the leader's last heartbeats do not undo the sleep.
//
// Dead leaders. Each store probes the stores it has heard from every
// StoreProbeInterval (a store-level message, region 0). A store not heard
// from for StoreDeadDuration is presumed dead, and the sleeping followers
// whose leader was on it are woken: they time out and elect a new leader,
// so a region whose leader's store died gets one within StoreDeadDuration
// plus a couple of election timeouts, without a client having to ask.
//
// The scheduler still hears from sleeping leaders: the heartbeat loop
// re-sends, every region heartbeat period, the heartbeat each one cached
// when it fell asleep.

// hibernation is the store-level state.
type hibernation struct {
	mu sync.Mutex
	// awake holds the regions the ticker ticks.
	awake map[uint64]struct{}
	// sleepers maps a sleeping follower's region to its leader's store.
	sleepers map[uint64]uint64
	// leaders caches the heartbeat of each sleeping leader.
	leaders map[uint64]*pdpb.RegionHeartbeatRequest

	storesMu sync.RWMutex
	heard    map[uint64]*atomic.Int64 // store -> unix nanos of its last message
	dead     map[uint64]bool          // under mu
}

func (h *hibernation) init() {
	h.awake = make(map[uint64]struct{})
	h.sleepers = make(map[uint64]uint64)
	h.leaders = make(map[uint64]*pdpb.RegionHeartbeatRequest)
	h.heard = make(map[uint64]*atomic.Int64)
	h.dead = make(map[uint64]bool)
}

// heardFrom records a message from a store.
func (h *hibernation) heardFrom(storeID uint64) {
	if storeID == 0 {
		return
	}
	now := time.Now().UnixNano()
	h.storesMu.RLock()
	t := h.heard[storeID]
	h.storesMu.RUnlock()
	if t == nil {
		h.storesMu.Lock()
		if t = h.heard[storeID]; t == nil {
			t = new(atomic.Int64)
			h.heard[storeID] = t
		}
		h.storesMu.Unlock()
	}
	t.Store(now)
}

func (s *Store) setAwake(regionID uint64, awake bool) {
	s.hib.mu.Lock()
	if awake {
		s.hib.awake[regionID] = struct{}{}
	} else {
		delete(s.hib.awake, regionID)
		delete(s.hib.sleepers, regionID)
		delete(s.hib.leaders, regionID)
	}
	s.hib.mu.Unlock()
}

// tickIDs lists the regions to tick: the awake ones, or all of them
// without hibernation.
func (s *Store) tickIDs(buf []uint64) []uint64 {
	if !s.cfg.HibernateRegions {
		return append(buf, s.router.regionIDs()...)
	}
	s.hib.mu.Lock()
	for id := range s.hib.awake {
		buf = append(buf, id)
	}
	s.hib.mu.Unlock()
	return buf
}

// AwakeRegions is the number of regions ticking, for tests and benchmarks.
func (s *Store) AwakeRegions() int {
	s.hib.mu.Lock()
	defer s.hib.mu.Unlock()
	return len(s.hib.awake)
}

// peerHibernation is a peer's side.
type peerHibernation struct {
	asleep    bool
	idleTicks int
	askedAt   uint64          // last index of our latest request
	votes     map[uint64]bool // followers that agreed to askedAt
}

// wake makes the peer tick again and restarts its idle count.
func (p *peer) wake() {
	p.hib.idleTicks = 0
	if !p.hib.asleep {
		return
	}
	p.hib.asleep = false
	p.hib.votes = nil
	p.store.setAwake(p.region.Id, true)
	if p.isLeader() {
		// The sleep heartbeats reported the time asleep; the next
		// heartbeat's interval starts now, not where the last one before
		// sleep ended.
		p.stats.since = p.store.now()
	}
}

// quietMsg reports whether a message may reach a sleeping peer without
// waking it: heartbeats and their answers.
func quietMsg(m *rspb.RaftMessage) bool {
	t := m.Message.MsgType
	return t == eraftpb.MessageType_MsgHeartbeat || t == eraftpb.MessageType_MsgHeartbeatResponse
}

// busy reports whether the region has work that keeps it awake.
//
// A split check that is due (the size estimate moved past splitCheckDiff)
// counts: split checks run on ticks, so a region written past its max size
// that fell asleep before its next check tick would never split.
func (p *peer) busy() bool {
	return len(p.proposals) > 0 || len(p.readBatch) > 0 || len(p.pendingReads) > 0 || len(p.waitingReads) > 0 ||
		len(p.receivedSnaps) > 0 || p.pendingSnap != nil || p.splitChecking || p.sizeDiffHint >= p.store.cfg.splitCheckDiff() ||
		p.ps.applied < p.confChangeBarrier ||
		p.ps.applied < p.commit || p.commit < p.ps.raftState.LastIndex
}

// maybeHibernate runs on every tick of an awake peer.
func (p *peer) maybeHibernate() {
	cfg := &p.store.cfg
	if !cfg.HibernateRegions || !p.isLeader() {
		return
	}
	if p.busy() {
		p.hib.idleTicks = 0
		return
	}
	p.hib.idleTicks++
	if p.hib.idleTicks < cfg.HibernateIdleTicks {
		return
	}
	last := p.ps.raftState.LastIndex
	st := p.rn.Status()
	if st.LeadTransferee != 0 {
		return
	}
	for _, pr := range st.Progress {
		if pr.Match != last {
			return
		}
	}
	if p.hib.askedAt == last && len(p.hib.votes) >= len(p.region.Peers)-1 {
		p.sleep()
		return
	}
	if p.hib.askedAt != last {
		p.hib.askedAt, p.hib.votes = last, make(map[uint64]bool)
	}
	if p.hib.idleTicks%cfg.HeartbeatTicks != 0 {
		return
	}
	for _, pr := range p.region.Peers {
		if pr.Id != p.meta.Id && !p.hib.votes[pr.Id] {
			p.sendExtra(pr, rspb.ExtraMessageType_MsgHibernateRequest, last)
		}
	}
}

// sleep stops ticking. A leader first reports the traffic it saw since its
// last heartbeat: the heartbeat it keeps sending while asleep carries none,
// so that traffic would otherwise never reach the scheduler (whose key
// visualizer would show a burst of writes followed by sleep as nothing).
func (p *peer) sleep() {
	if p.isLeader() && (p.stats.bytesWritten > 0 || p.stats.keysWritten > 0 || p.stats.puts+p.stats.deletes+p.stats.deleteRanges > 0 ||
		p.reads.pending()) {
		p.heartbeatScheduler()
	}
	p.hib.asleep = true
	s := p.store
	s.hib.mu.Lock()
	delete(s.hib.awake, p.region.Id)
	if p.isLeader() {
		s.hib.leaders[p.region.Id] = p.sleepHeartbeat()
	} else if l := p.leader(); l != nil {
		s.hib.sleepers[p.region.Id] = l.StoreId
	}
	s.hib.mu.Unlock()
}

// sleepHeartbeat is the heartbeat a sleeping leader keeps sending. Its
// interval starts now: each one sent reports no traffic since the one
// before, so the scheduler's load averages decay while the region sleeps.
func (p *peer) sleepHeartbeat() *pdpb.RegionHeartbeatRequest {
	req := newHeartbeat(p.region, p.meta, p.term)
	req.ApproximateSize, req.ApproximateKeys = p.approxSize, p.approxKeys
	now := uint64(p.store.now().Unix())
	req.Interval = &pdpb.TimeInterval{StartTimestamp: now, EndTimestamp: now}
	return req
}

func (p *peer) sendExtra(to *metapb.Peer, typ rspb.ExtraMessageType, index uint64) {
	_ = p.store.trans.Send(&rspb.RaftMessage{RegionId: p.region.Id, FromPeer: p.meta, ToPeer: to,
		RegionEpoch: p.region.RegionEpoch, StartKey: p.region.StartKey, EndKey: p.region.EndKey,
		ExtraMsg: &rspb.ExtraMessage{Type: typ, Index: index}})
}

// onExtraMsg handles the hibernation messages.
func (p *peer) onExtraMsg(m *rspb.RaftMessage) {
	from := m.FromPeer
	if from == nil || m.ToPeer.GetId() != p.meta.Id {
		return
	}
	switch m.ExtraMsg.Type {
	case rspb.ExtraMessageType_MsgHibernateRequest:
		idx := m.ExtraMsg.Index
		if p.isLeader() || p.leaderID != from.Id || p.ps.raftState.LastIndex != idx || p.commit != idx {
			return
		}
		p.sendExtra(from, rspb.ExtraMessageType_MsgHibernateResponse, idx)
		if !p.hib.asleep && len(p.proposals) == 0 && len(p.readBatch) == 0 && len(p.pendingReads) == 0 {
			p.sleep()
		}
	case rspb.ExtraMessageType_MsgHibernateResponse:
		if p.isLeader() && m.ExtraMsg.Index == p.hib.askedAt && p.hib.votes != nil {
			p.hib.votes[from.Id] = true
		}
	case rspb.ExtraMessageType_MsgRegionWakeUp:
		p.wake()
	}
}

// wakeByRequest wakes a peer for a client request; a sleeping follower
// also wakes its leader, which answers with heartbeats before this
// follower would time out.
func (p *peer) wakeByRequest() {
	wasAsleep := p.hib.asleep
	p.wake()
	if wasAsleep && !p.isLeader() {
		if l := p.leader(); l != nil {
			p.sendExtra(l, rspb.ExtraMessageType_MsgRegionWakeUp, 0)
		}
	}
}

// runProber probes the stores we heard from and wakes the sleeping
// followers of the ones that went silent.
func (s *Store) runProber() {
	t := time.NewTicker(s.cfg.StoreProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case <-t.C:
		}
		now := time.Now()
		s.hib.storesMu.RLock()
		heard := make(map[uint64]time.Time, len(s.hib.heard))
		for id, ts := range s.hib.heard {
			heard[id] = time.Unix(0, ts.Load())
		}
		s.hib.storesMu.RUnlock()
		for id := range heard {
			if id != s.storeID {
				_ = s.trans.Send(&rspb.RaftMessage{FromPeer: &metapb.Peer{StoreId: s.storeID}, ToPeer: &metapb.Peer{StoreId: id},
					ExtraMsg: &rspb.ExtraMessage{Type: rspb.ExtraMessageType_MsgCheckStalePeer}})
			}
		}
		var wake []uint64
		s.hib.mu.Lock()
		for id, last := range heard {
			dead := now.Sub(last) > s.cfg.StoreDeadDuration
			if dead && !s.hib.dead[id] {
				for region, leaderStore := range s.hib.sleepers {
					if leaderStore == id {
						wake = append(wake, region)
					}
				}
			}
			s.hib.dead[id] = dead
		}
		s.hib.mu.Unlock()
		if len(wake) > 0 {
			s.logger.Info("store went silent; waking the regions it led", zap.Int("regions", len(wake)))
		}
		for _, id := range wake {
			s.router.send(id, peerMsg{kind: msgWake})
		}
	}
}

// sleepingLeaderHeartbeats returns the cached heartbeats of sleeping
// leaders.
func (s *Store) sleepingLeaderHeartbeats() []*pdpb.RegionHeartbeatRequest {
	s.hib.mu.Lock()
	defer s.hib.mu.Unlock()
	out := make([]*pdpb.RegionHeartbeatRequest, 0, len(s.hib.leaders))
	now := uint64(s.now().Unix())
	for _, r := range s.hib.leaders {
		c := *r
		c.Interval = &pdpb.TimeInterval{StartTimestamp: r.Interval.GetEndTimestamp(), EndTimestamp: now}
		r.Interval = c.Interval
		out = append(out, &c)
	}
	return out
}
