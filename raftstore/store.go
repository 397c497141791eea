package raftstore

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// Store is one store's Multi-Raft: the peers of every region it holds, the
// batch system that drives them, the apply pool, and the snapshot manager.
//
// Goroutines: RaftWorkers raft workers and one raft-DB writer (batch.go,
// raft_writer.go), ApplyWorkers apply workers (apply.go), one ticker, one
// heartbeat loop, and short-lived snapshot generators. The caller owns the engines, the scheduler client
// and the transport, and closes them after Stop.
type Store struct {
	cfg       Config
	engines   *engine.Engines
	scheduler SchedulerClient
	trans     Transport
	logger    *zap.Logger
	storeID   uint64

	work    *workScheduler
	writer  *raftWriter
	router  *router
	applier *applyPool
	snaps   *snapshotGen
	metrics Metrics

	createMu sync.Mutex
	// failed is set once an engine operation failed (fail): the workers
	// stop taking work and nothing more is acknowledged; the owner of the
	// store sees Failed and stops it.
	failed   atomic.Bool
	failOnce sync.Once
	failErr  error
	failCh   chan struct{}
	tickRate atomic.Int32 // test fault: see SetTickRate (fault.go)
	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
	hbCh     chan *pdpb.RegionHeartbeatRequest

	// Multi-Raft: the ranges held here, the split checker, background
	// work (scheduler calls), and statistics for heartbeats.
	meta        *storeMeta
	splitCheck  *splitChecker
	bgMu        sync.Mutex
	bgStopped   bool
	bgWG        sync.WaitGroup
	bgCtx       context.Context
	bgCancel    context.CancelFunc
	leaderCount atomic.Int64
	startTime   time.Time
	lastStoreHB time.Time
	stats       struct {
		bytesWritten, keysWritten, bytesRead, keysRead atomic.Int64
		gets, scans, puts, deletes, deleteRanges       atomic.Uint64
	}
	hib   hibernation
	fence readFence
	disk  diskGuard

	// now is the store's clock and spawn runs background work (snapshot
	// generation, scheduler calls): time.Now and a new goroutine in
	// production; raftstore's interleaving harness replaces both, so that a
	// test decides when each piece of work runs.
	now   func() time.Time
	spawn func(func())
}

// Metrics are counters a store keeps for benchmarks and tests.
type Metrics struct {
	raftWrites atomic.Int64
}

// RaftDBWrites is the number of raft-DB write batches committed (each one
// sync unless none of its Readys needed it).
func (m *Metrics) RaftDBWrites() int64 { return m.raftWrites.Load() }

// NewStore returns a store over e; Start brings it up.
func NewStore(cfg Config, e *engine.Engines, sched SchedulerClient, trans Transport) (*Store, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, engines: e, scheduler: sched, trans: trans, logger: cfg.Logger,
		work: newWorkScheduler(), writer: newRaftWriter(cfg.RaftWorkers), stopCh: make(chan struct{}), hbCh: make(chan *pdpb.RegionHeartbeatRequest, 1024),
		now: time.Now, spawn: func(f func()) { go f() }, failCh: make(chan struct{})}
	s.router = newRouter(s.work, cfg.MailboxCapacity)
	s.meta = newStoreMeta()
	s.splitCheck = newSplitChecker(s)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.hib.init()
	snaps, err := newSnapshotGen(filepath.Join(e.Dir(), "snap"), s, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.snaps = snaps
	s.applier = newApplyPool(s, cfg.ApplyWorkers)
	return s, nil
}

// StoreID is the store's ID (after Start).
func (s *Store) StoreID() uint64 { return s.storeID }

// Metrics returns the store's counters.
func (s *Store) Metrics() *Metrics { return &s.metrics }

// Start bootstraps the store if it is new, registers it with the scheduler,
// recovers every peer from the kv DB and starts the workers.
func (s *Store) Start(ctx context.Context) error {
	if err := s.bootstrap(ctx); err != nil {
		return err
	}
	s.logger = s.logger.With(zap.Uint64("store-id", s.storeID))
	if err := s.loadPeers(); err != nil {
		return err
	}
	if err := s.scheduler.PutStore(ctx, s.cfg.storeMeta(s.storeID)); err != nil {
		return fmt.Errorf("raftstore: put store: %w", err)
	}
	s.applier.start()
	s.splitCheck.start()
	s.startTime, s.lastStoreHB = time.Now(), time.Now()
	for i := 0; i < s.cfg.RaftWorkers; i++ {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.runRaftWorker() }()
	}
	s.wg.Add(5)
	go func() { defer s.wg.Done(); s.runRaftWriter() }()
	go func() { defer s.wg.Done(); s.runProber() }()
	go func() { defer s.wg.Done(); s.runTicker() }()
	go func() { defer s.wg.Done(); s.runHeartbeats() }()
	go func() { defer s.wg.Done(); s.runOperators() }()
	s.logger.Info("store started", zap.Int("regions", len(s.router.regionIDs())))
	return nil
}

// loadPeers creates a peer for every region state in the kv DB, first
// replaying any snapshot whose application a crash interrupted.
func (s *Store) loadPeers() error {
	var states []*rspb.RegionLocalState
	err := s.engines.ScanRaw(engine.DBKV, engine.RegionMetaPrefix(), nil, func(key, val []byte) (bool, error) {
		if _, err := engine.DecodeRegionStateKey(key); err != nil {
			return true, nil
		}
		st := &rspb.RegionLocalState{}
		if err := st.Unmarshal(val); err != nil {
			return false, fmt.Errorf("%w: region state %x: %w", ErrCorrupt, key, err)
		}
		states = append(states, st)
		return true, nil
	})
	if err != nil {
		return err
	}
	if err := s.finishDestroys(states); err != nil {
		return err
	}
	replays := make(map[uint64]*snapApply)
	keep := make(map[string]bool)
	for _, st := range states {
		if st.State == rspb.PeerState_Applying {
			sa, err := s.interruptedSnapshot(st)
			if err != nil {
				return err
			}
			replays[st.Region.Id], keep[sa.path] = sa, true
		}
	}
	s.snaps.cleanup(keep)
	var live []*metapb.Region
	for _, st := range states {
		if st.State != rspb.PeerState_Tombstone {
			live = append(live, st.Region)
		}
	}
	for _, st := range states {
		switch st.State {
		case rspb.PeerState_Tombstone:
			continue
		case rspb.PeerState_Applying:
			sa := replays[st.Region.Id]
			s.logger.Info("replaying interrupted snapshot", zap.Uint64("region-id", st.Region.Id), zap.Uint64("index", sa.index))
			if err := applySnapshotKV(s, sa); err != nil {
				return err
			}
		}
		var me *metapb.Peer
		for _, p := range st.Region.Peers {
			if p.StoreId == s.storeID {
				me = p
			}
		}
		if me == nil {
			if err := s.destroyRemoved(st, live); err != nil {
				return err
			}
			continue
		}
		if _, err := s.addPeer(st.Region, me, true); err != nil {
			return err
		}
	}
	s.snaps.cleanup(nil)
	return nil
}

// addPeer creates and registers a peer and its apply delegate. restarted
// says the peer is loaded from disk at store start, rather than created by a
// split or a message.
func (s *Store) addPeer(region *metapb.Region, me *metapb.Peer, restarted bool) (*regionEntry, error) {
	p, err := newPeer(s, region, me, restarted)
	if err != nil {
		return nil, err
	}
	f := &regionEntry{regionID: region.Id, peer: p}
	if p.ps.isInitialized() {
		s.meta.setRegion(region)
	}
	s.setAwake(region.Id, true)
	ts := p.ps.truncated
	s.applier.schedule(&applyTask{kind: taskRegister, regionID: region.Id, region: region,
		state: rspb.RaftApplyState{AppliedIndex: p.ps.applied, TruncatedState: &ts}, term: p.ps.appliedT})
	if !s.router.register(f) {
		return nil, fmt.Errorf("raftstore: region %d registered twice", region.Id)
	}
	return f, nil
}

func (s *Store) runTicker() {
	t := time.NewTicker(s.cfg.RaftBaseTickInterval)
	defer t.Stop()
	var ids []uint64
	var skipped int32
	for n := 0; ; n++ {
		select {
		case <-s.stopCh:
			return
		case <-t.C:
			if !s.tickDue(&skipped) {
				continue
			}
			if n%50 == 0 {
				// Listing every region is O(regions): not every tick.
				s.cfg.Metrics.setRegions(s.router.regionIDs())
			}
			ids = s.tickIDs(ids[:0]) // hibernating regions do not tick
			s.work.signalAll(ids, flagTick)
		}
	}
}

func (s *Store) runHeartbeats() {
	t := time.NewTicker(s.cfg.StoreHeartbeatInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stopCh; cancel() }()
	beat := func() {
		_, err := s.scheduler.StoreHeartbeat(ctx, s.storeStats())
		if err != nil && ctx.Err() == nil {
			s.logger.Debug("store heartbeat", zap.Error(err))
		}
	}
	beat()
	sleepers := time.NewTicker(time.Duration(s.cfg.RegionHeartbeatTicks) * s.cfg.RaftBaseTickInterval)
	defer sleepers.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case <-t.C:
			beat()
		case <-sleepers.C:
			for _, req := range s.sleepingLeaderHeartbeats() {
				if err := s.scheduler.RegionHeartbeat(ctx, req); err != nil {
					break
				}
			}
		case req := <-s.hbCh:
			if err := s.scheduler.RegionHeartbeat(ctx, req); err != nil && ctx.Err() == nil {
				s.logger.Debug("region heartbeat", zap.Error(err))
			}
		}
	}
}

// heartbeatRegion queues a leader's region heartbeat; dropped if the queue
// is full (heartbeats are periodic).
func (s *Store) heartbeatRegion(p *peer) { p.heartbeatScheduler() }

// Stop shuts the store down cleanly: workers finish their round, waiting
// callbacks are answered with errors. The engines stay open.
func (s *Store) Stop() { s.stop() }

// Failed is closed once the store failed on an engine error (a full disk,
// a broken device: not a broken invariant): from then on its workers take
// no work and nothing more is acknowledged, and its owner should Stop it.
// Err says why.
func (s *Store) Failed() <-chan struct{} { return s.failCh }

// Err is the engine error the store failed on, or nil.
func (s *Store) Err() error {
	select {
	case <-s.failCh:
		return s.failErr
	default:
		return nil
	}
}

// fail records an engine failure (any goroutine). A write that failed was
// not acknowledged, and nothing after it will be, so nothing acknowledged
// is lost; what is in memory goes, as in a crash.
func (s *Store) fail(op string, err error) {
	s.failOnce.Do(func() {
		s.failErr = fmt.Errorf("raftstore: %s: %w", op, err)
		s.failed.Store(true)
		s.logger.Error("engine failed; the store stops taking work", zap.String("op", op), zap.Error(err))
		close(s.failCh)
	})
}

func (s *Store) stop() {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		s.bgMu.Lock()
		s.bgStopped = true
		s.bgMu.Unlock()
		s.bgCancel()
		s.work.stop()
		s.wg.Wait()
		s.splitCheck.wg.Wait()
		s.applier.stop()
		s.snaps.stop()
		for _, f := range s.router.all() {
			for _, m := range f.close() {
				failMsg(m)
			}
			if p := f.peer; p != nil {
				p.failProposals("store stopped")
				p.failAllReads(errUndetermined("store stopped"))
			}
		}
		for _, w := range s.applier.workers {
			for _, t := range w.queue {
				for _, pr := range t.proposals {
					respondErr(pr.cb, errUndetermined("store stopped"), 0)
				}
			}
			w.queue = nil
		}
		s.bgWG.Wait()
		s.logger.Info("store stopped", zap.Bool("failed", s.failed.Load()))
	})
}

func failMsg(m peerMsg) {
	switch m.kind {
	case msgCommand:
		respondErr(m.cmd.cb, errUndetermined("store stopped"), 0)
	case msgRead:
		m.read.cb(ReadResult{Err: errUndetermined("store stopped")})
	}
}

// writeKV, syncKV and writeRaft run an engine operation; false if it
// failed (the store failed: fail) or the store had failed before.

func (s *Store) writeKV(wb *engine.WriteBatch) bool {
	return s.engineOp("write kv db", func() error { return s.engines.WriteKV(wb, false) })
}

func (s *Store) syncKV() bool {
	return s.engineOp("sync kv db", s.engines.SyncKV)
}

func (s *Store) writeRaft(wb *engine.WriteBatch, sync bool) bool {
	return s.engineOp("write raft db", func() error { return s.engines.WriteRaft(wb, sync) })
}

func (s *Store) engineOp(op string, f func() error) bool {
	if s.failed.Load() {
		return false
	}
	if err := f(); err != nil {
		s.fail(op, err)
		return false
	}
	return true
}

// Propose routes a write or admin command to its region; cb gets the
// response (region errors in its header).
func (s *Store) Propose(req *raft_cmdpb.RaftCmdRequest, cb Callback) {
	id := req.Header.GetRegionId()
	switch s.router.send(id, peerMsg{kind: msgCommand, cmd: &command{req: req, cb: cb}}) {
	case noRegion:
		respondErr(cb, errRegionNotFound(id), 0)
	case mailboxFull:
		respondErr(cb, errServerIsBusy("region mailbox full"), 0)
	}
}

// Read routes a read to its region; cb gets a snapshot at a read index.
func (s *Store) Read(header *raft_cmdpb.RaftRequestHeader, cb ReadCallback) {
	id := header.GetRegionId()
	switch s.router.send(id, peerMsg{kind: msgRead, read: &readRequest{header: header, cb: cb}}) {
	case noRegion:
		cb(ReadResult{Err: errRegionNotFound(id)})
	case mailboxFull:
		cb(ReadResult{Err: errServerIsBusy("region mailbox full")})
	}
}

// HandleRaftMessage implements MessageHandler.
func (s *Store) HandleRaftMessage(msg *rspb.RaftMessage) error {
	if s.failed.Load() || msg.ToPeer.GetStoreId() != s.storeID {
		return nil
	}
	s.hib.heardFrom(msg.FromPeer.GetStoreId())
	m := peerMsg{kind: msgRaft, raft: msg}
	if msg.Message == nil {
		// A tombstone or a store-level side message: for existing peers only.
		if msg.IsTombstone || msg.ExtraMsg != nil {
			s.router.send(msg.RegionId, m)
		}
		return nil
	}
	if s.router.send(msg.RegionId, m) == noRegion && s.maybeCreatePeer(msg) {
		s.router.send(msg.RegionId, m)
	}
	return nil
}

// maybeCreatePeer creates an empty peer for a message from a region this
// store does not hold yet (a peer added by a membership change; it catches
// up by snapshot).
func (s *Store) maybeCreatePeer(msg *rspb.RaftMessage) bool {
	if raft.IsResponseMsg(msg.Message.MsgType) || msg.ToPeer == nil {
		return false
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.router.get(msg.RegionId) != nil {
		return true
	}
	var st rspb.RegionLocalState
	ok, err := engine.GetMeta(s.engines.KV, engine.RegionStateKey(msg.RegionId), &st)
	if err != nil {
		return false
	}
	if ok {
		if st.State != rspb.PeerState_Tombstone {
			return false // a region being loaded, or one a split just wrote
		}
		// Our peer was removed. Only a newer membership that lists us
		// under a newer peer ID may bring the region back here.
		old := storePeer(st.Region, s.storeID)
		if !epochConfStale(st.Region.RegionEpoch, msg.RegionEpoch) || (old != nil && msg.ToPeer.Id <= old.Id) {
			return false
		}
	}
	s.meta.mu.Lock()
	busy := s.meta.destroying[msg.RegionId] || len(s.meta.overlapsLocked(msg.StartKey, msg.EndKey, msg.RegionId)) > 0
	s.meta.mu.Unlock()
	if busy {
		// Overlap safety: a live region here still owns part of the
		// range (it will split or be destroyed); wait for that.
		return false
	}
	region := &metapb.Region{Id: msg.RegionId, RegionEpoch: &metapb.RegionEpoch{}}
	if _, err := s.addPeer(region, msg.ToPeer, false); err != nil {
		s.logger.Warn("create peer", zap.Uint64("region-id", msg.RegionId), zap.Error(err))
		return false
	}
	s.logger.Info("created peer from message", zap.Uint64("region-id", msg.RegionId), zap.Uint64("peer-id", msg.ToPeer.Id))
	return true
}

// HandleSnapshot implements MessageHandler.
func (s *Store) HandleSnapshot(msg *rspb.RaftMessage, r io.Reader) error {
	if s.failed.Load() {
		return ErrStopped
	}
	if msg.Message.GetMsgType() != eraftpb.MessageType_MsgSnapshot {
		return fmt.Errorf("%w: not a snapshot message", ErrSnapshot)
	}
	err := s.snaps.receive(msg, r)
	observeSnapshot(s.cfg.Metrics.SnapshotsRecv, err)
	if err != nil {
		return err
	}
	return s.HandleRaftMessage(msg)
}

// sendSnapshot streams a generated snapshot to a follower and reports the
// outcome to raft.
func (s *Store) sendSnapshot(msg *rspb.RaftMessage) {
	regionID, to := msg.RegionId, msg.ToPeer.Id
	s.trans.SendSnapshot(msg, func() (io.ReadCloser, error) { return s.snaps.openGenerated(msg) }, func(err error) {
		st := raft.SnapshotFinish
		observeSnapshot(s.cfg.Metrics.SnapshotsSent, err)
		if err != nil {
			st = raft.SnapshotFailure
			s.logger.Info("send snapshot failed", zap.Uint64("region-id", regionID), zap.Uint64("to", to), zap.Error(err))
		}
		s.router.send(regionID, peerMsg{kind: msgSnapStatus, to: to, snapStatus: st})
	})
}

// PeerStatus describes a peer, for tests and tools.
type PeerStatus struct {
	Region    *metapb.Region
	PeerID    uint64
	Leader    bool
	LeaderID  uint64
	Term      uint64
	Commit    uint64
	Applied   uint64
	Truncated uint64
	LastIndex uint64
}

// PeerStatus returns a region's peer status, asked through its mailbox.
func (s *Store) PeerStatus(ctx context.Context, regionID uint64) (PeerStatus, error) {
	ch := make(chan PeerStatus, 1)
	q := func(p *peer) {
		ch <- PeerStatus{Region: p.region, PeerID: p.meta.Id, Leader: p.isLeader(), LeaderID: p.leaderID,
			Term: p.term, Commit: p.commit, Applied: p.ps.applied, Truncated: p.ps.truncated.Index,
			LastIndex: p.ps.raftState.LastIndex}
	}
	if s.router.send(regionID, peerMsg{kind: msgQuery, query: q}) != sent {
		return PeerStatus{}, fmt.Errorf("raftstore: region %d not found", regionID)
	}
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		return PeerStatus{}, ctx.Err()
	case <-s.stopCh:
		return PeerStatus{}, ErrStopped
	}
}

// LogUnansweredWrite logs, with the region's state as its peer sees it,
// that a write to the region went unanswered for waited (its caller gave
// up). The state is read in the peer's next round; nothing waits for it.
func (s *Store) LogUnansweredWrite(regionID uint64, waited time.Duration) {
	q := func(p *peer) {
		st := p.rn.BasicStatus()
		p.logger.Warn("write unanswered before its deadline", zap.Duration("waited", waited),
			zap.String("role", st.SoftState.RaftState.String()), zap.Uint64("leader", st.SoftState.Lead),
			zap.Uint64("term", st.HardState.Term), zap.Uint64("commit", st.HardState.Commit),
			zap.Uint64("applied", p.ps.applied), zap.Uint64("last-index", st.LastIndex),
			zap.Int("pending-proposals", len(p.proposals)), zap.Bool("hibernating", p.hib.asleep))
	}
	if s.router.send(regionID, peerMsg{kind: msgQuery, query: q}) != sent {
		s.logger.Warn("write unanswered before its deadline; region not here", zap.Uint64("region-id", regionID),
			zap.Duration("waited", waited))
	}
}

// RegionIDs lists the regions this store holds.
func (s *Store) RegionIDs() []uint64 { return s.router.regionIDs() }
