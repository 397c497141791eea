package raftstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/disk_usage"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// peer is one region's replica on this store. Only the raft worker holding
// the region touches it (see workScheduler).
type peer struct {
	store  *Store
	meta   *metapb.Peer
	region *metapb.Region // shared with ps; replaced, never mutated
	ps     *peerStorage
	rn     *raft.RawNode
	logger *zap.Logger

	// peerCache remembers peers of other stores learned from messages, for
	// a peer that does not know its region yet.
	peerCache map[uint64]*metapb.Peer
	// heardEpoch, for a peer not initialized yet, is the newest region
	// epoch of the messages it got (knownEpoch).
	heardEpoch *metapb.RegionEpoch
	// peerDisk is the disk state of the peers whose stores said they are
	// low on disk (only those: a map only when needed).
	peerDisk map[uint64]disk_usage.DiskUsage

	role     raft.StateType
	leaderID uint64
	term     uint64
	commit   uint64

	proposals []*proposal // ascending index
	// warnedProposal is the index of the last proposal logged as slow.
	warnedProposal uint64

	// Reads: a batch collecting this round's ReadIndex reads, batches
	// waiting for their read index (by request context), and reads
	// waiting for apply, ascending read index.
	readBatch    []*readRequest
	readSeq      uint64
	pendingReads map[string]*readIndexBatch
	waitingReads []*readRequest

	// Lease: while now < leaseExpire and the term is leaseTerm, no other
	// leader can exist (see Config.leaseDuration).
	leaseExpire time.Time
	leaseTerm   uint64

	ticks             int
	lastTickAt        time.Time // when the last tick was stepped (maybeTick)
	compactProposedAt int       // tick of the last CompactLog proposal
	compactProposed   uint64    // its index
	// noLeaseTerm is a term in which a MsgTimeoutNow left: no lease for
	// the rest of it (renewLease).
	noLeaseTerm uint64

	// The region lifecycle (lifecycle.go). handedIndex is the last log
	// index handed to the apply worker; applyStopped says the worker
	// applies nothing more for this peer (it applied our removal).
	// pendingSnap is the Ready of a snapshot being applied on the kv side:
	// while set, the region stays held and its mailbox waits.
	// pendingDestroy is why the peer is to be destroyed once apply caught
	// up; destroyed, that it was.
	handedIndex  uint64
	applyStopped bool
	// lingerIndex is the index of our own removal, applied while we led:
	// the peer stays (voting, appending) until a leader's message commits
	// past it, then is destroyed (onConfChangeApplied).
	lingerIndex    uint64
	pendingSnap    *readyPeer
	receivedSnaps  []string // received snapshot files raft may still ask for
	pendingDestroy string
	destroyed      bool
	fencedReads    []*readRequest // reads that met the read fence

	// Multi-Raft (split.go, conf_change.go, heartbeat.go, destroy.go).
	derived            []uint64 // regions our last split created, for EpochNotMatch
	approxSize         uint64
	approxKeys         uint64
	sizeDiffHint       uint64 // bytes written since the last split check
	splitChecking      bool
	confChangeBarrier  uint64 // no new ChangePeer until applied reaches it
	peerHeard          map[uint64]time.Time
	pendingPeers       []*metapb.Peer
	stats              peerStats
	reads              ReadStats   // what readers read; taken by heartbeats
	load               loadSampler // requests for load-based split (load_split.go)
	lastHeartbeatTick  int
	leaderMissingTicks int
	hib                peerHibernation
	snapReserved       bool
}

type readIndexBatch struct {
	reads    []*readRequest
	issuedAt time.Time
	term     uint64
	tick     int
}

func newPeer(s *Store, region *metapb.Region, meta *metapb.Peer, restarted bool) (*peer, error) {
	logger := s.logger.With(zap.Uint64("region-id", region.Id), zap.Uint64("peer-id", meta.Id))
	ps, err := newPeerStorage(s.engines, region, s.cfg.EntryCacheLimit, s.snaps, logger)
	if err != nil {
		return nil, err
	}
	rc := &raft.Config{
		ID:                        meta.Id,
		ElectionTick:              s.cfg.ElectionTicks,
		HeartbeatTick:             s.cfg.HeartbeatTicks,
		Storage:                   ps,
		Applied:                   ps.applied,
		MaxSizePerMsg:             s.cfg.MaxSizePerMsg,
		MaxInflightMsgs:           s.cfg.MaxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		// Followers learn a commit index from the next MsgApp or
		// heartbeat: half the messages per write of a lone proposal.
		// Splits and conf changes are still announced at once.
		LazyCommit: true,
		// A peer loaded from disk may have acknowledged a leader just
		// before the store went down; that leader's lease reads count on
		// this peer voting for nobody else until an election timeout.
		StartInLease: restarted,
		Logger:       raftLogger{logger.Sugar()},
		Rand:         rand.New(rand.NewPCG(meta.Id, s.cfg.seed())),
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raftstore: region %d peer %d: %w", region.Id, meta.Id, err)
	}
	hs, _, _ := ps.InitialState()
	p := &peer{
		store: s, meta: meta, region: region, ps: ps, rn: rn, logger: logger,
		peerCache: make(map[uint64]*metapb.Peer), pendingReads: make(map[string]*readIndexBatch),
		term: hs.Term, commit: hs.Commit, role: raft.StateFollower,
		peerHeard: make(map[uint64]time.Time), sizeDiffHint: s.cfg.splitCheckDiff(),
		handedIndex: ps.applied,
	}
	p.reads.store = s
	p.load.init(&s.cfg.LoadSplit, meta.Id^s.cfg.seed())
	p.reads.load = &p.load
	return p, nil
}

// raftLogger adapts zap to raft.Logger; raft's info chatter goes to debug.
type raftLogger struct{ l *zap.SugaredLogger }

func (r raftLogger) Debugf(f string, a ...any) { r.l.Debugf(f, a...) }
func (r raftLogger) Infof(f string, a ...any)  { r.l.Debugf(f, a...) }
func (r raftLogger) Warnf(f string, a ...any)  { r.l.Warnf(f, a...) }
func (r raftLogger) Errorf(f string, a ...any) { r.l.Errorf(f, a...) }

func (p *peer) regionID() uint64 { return p.region.Id }

func (p *peer) isLeader() bool { return p.role == raft.StateLeader }

// findPeer returns the metapb.Peer of a raft ID.
func (p *peer) findPeer(id uint64) *metapb.Peer {
	for _, pr := range p.region.Peers {
		if pr.Id == id {
			return pr
		}
	}
	return p.peerCache[id]
}

func (p *peer) leader() *metapb.Peer {
	if p.leaderID == raft.None {
		return nil
	}
	return p.findPeer(p.leaderID)
}

// stepRaft feeds a message from another store.
func (p *peer) stepRaft(m *rspb.RaftMessage) {
	if m.IsTombstone {
		p.onTombstoneMsg(m)
		return
	}
	if m.ExtraMsg != nil {
		p.onExtraMsg(m)
		return
	}
	if m.ToPeer.GetId() != p.meta.Id || m.Message == nil {
		if m.ToPeer.GetId() < p.meta.Id && m.FromPeer != nil {
			// For an older incarnation of our peer: the sender may be a
			// removed peer still talking to it.
			p.maybeAnswerStale(m)
		}
		return
	}
	if p.maybeAnswerStale(m) {
		return
	}
	if !p.ps.isInitialized() && m.RegionEpoch != nil && (p.heardEpoch == nil || epochConfStale(p.heardEpoch, m.RegionEpoch)) {
		ep := *m.RegionEpoch
		p.heardEpoch = &ep
	}
	if m.FromPeer != nil {
		p.notePeerDisk(m.FromPeer.Id, m.DiskUsage)
		if p.findPeer(m.FromPeer.Id) == nil {
			p.peerCache[m.FromPeer.Id] = m.FromPeer
		}
		if p.isLeader() {
			p.peerHeard[m.FromPeer.Id] = p.store.now()
		}
	}
	if !quietMsg(m) {
		p.wake()
	}
	if m.Message.MsgType == eraftpb.MessageType_MsgSnapshot {
		if !p.checkSnapshot(m) {
			_ = os.Remove(p.store.snaps.receivedPath(m))
			return
		}
		p.receivedSnaps = append(p.receivedSnaps, p.store.snaps.receivedPath(m))
	}
	if err := p.rn.Step(*m.Message); err != nil {
		p.logger.Debug("step raft message", zap.Error(err), zap.Stringer("msg-type", m.Message.MsgType))
	}
	switch m.Message.MsgType {
	case eraftpb.MessageType_MsgAppend, eraftpb.MessageType_MsgHeartbeat, eraftpb.MessageType_MsgSnapshot:
		if m.Message.Term == p.rn.BasicStatus().HardState.Term {
			p.leaderMissingTicks = 0 // a leader of our term talks to us
		}
		if p.lingerIndex > 0 && m.Message.Commit >= p.lingerIndex {
			p.destroy("removed by a membership change a new leader has committed")
		}
	}
}

// raftMessage wraps a raft message for the transport.
func (p *peer) raftMessage(m eraftpb.Message, disk disk_usage.DiskUsage) (*rspb.RaftMessage, bool) {
	to := p.findPeer(m.To)
	if to == nil {
		p.logger.Warn("message to unknown peer dropped", zap.Uint64("to", m.To))
		return nil, false
	}
	msg := m
	return &rspb.RaftMessage{
		RegionId:    p.region.Id,
		FromPeer:    p.meta,
		ToPeer:      to,
		Message:     &msg,
		RegionEpoch: p.region.RegionEpoch,
		StartKey:    p.region.StartKey,
		EndKey:      p.region.EndKey,
		DiskUsage:   disk,
	}, true
}

// send hands messages to the transport. A message that cannot be queued is
// reported unreachable so that raft slows down instead of piling up.
func (p *peer) send(msgs []eraftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	disk := p.store.diskUsage() // once per batch: it reads the clock
	for _, m := range msgs {
		rm, ok := p.raftMessage(m, disk)
		if !ok {
			continue
		}
		p.store.cfg.Metrics.observeSent(m.MsgType)
		if m.MsgType == eraftpb.MessageType_MsgSnapshot {
			p.store.sendSnapshot(rm)
			continue
		}
		if err := p.store.trans.Send(rm); err != nil {
			p.rn.ReportUnreachable(m.To)
		}
	}
}

// observeRole brings the peer's view of its role and leader up to date with
// raft's, and runs the bookkeeping of a change exactly once, whoever sees it
// first: a round that proposes or reads right after an election (raft
// already leads, the Ready comes later), a tick, or the Ready. Nothing may
// copy raft's role into p.role any other way, or a change would skip its
// bookkeeping: the conf-change barrier of a new leader (a membership change
// may only follow an entry of the new term), the down-peer clock, the leader
// count, the heartbeat on election, and failing reads on a step-down.
func (p *peer) observeRole() {
	st := p.rn.BasicStatus()
	p.onHardState(st.HardState)
	ss := st.SoftState
	if ss.RaftState == p.role && ss.Lead == p.leaderID {
		return
	}
	wasLeader := p.isLeader()
	p.role, p.leaderID = ss.RaftState, ss.Lead
	p.wake()
	p.leaseExpire = time.Time{}
	if wasLeader == p.isLeader() {
		return
	}
	if wasLeader {
		p.store.leaderCount.Add(-1)
		p.failReads(errNotLeader(p.region.Id, p.leader()))
		return
	}
	p.store.leaderCount.Add(1)
	p.logger.Info("became leader", zap.Uint64("term", p.term))
	now := p.store.now()
	for _, pr := range p.region.Peers {
		p.peerHeard[pr.Id] = now
	}
	// raft treats its whole log tail as a possibly pending change; the
	// barrier is the new term's first entry, at raft's last index now.
	p.confChangeBarrier = st.LastIndex
	p.stats = peerStats{since: now}
	p.store.heartbeatRegion(p)
}

func (p *peer) onHardState(hs eraftpb.HardState) {
	if raft.IsEmptyHardState(hs) {
		return
	}
	if hs.Term != p.term {
		p.leaseExpire = time.Time{}
		p.failReads(errNotLeader(p.region.Id, nil))
	}
	p.term, p.commit = hs.Term, hs.Commit
}
