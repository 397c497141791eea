package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// The interleaving harness: a cluster of stores in one goroutine, whose raft
// workers, raft-DB writers, apply workers, background work and network the
// test steps by hand. Nothing runs unless the test says so, so a test names
// the exact order of events — which round takes which region's mailbox,
// when the apply worker runs which task, which message arrives when — and
// the same steps always give the same result.
//
// A store here is a real Store over real engines, built by NewStore but
// never started: the harness calls the same functions the goroutines call
// (stepRound, writeRounds/finishRound, applyBatch), replaces the store's
// clock and background spawner, and is its transport and scheduler. A crash
// drops the Store with everything in memory and builds a new one over the
// same engines (a process crash: whatever the engines committed stays); a
// crash can also be armed to hit between two writes inside a step
// (crashAt), through the engines' BeforeWrite hook.

const harnessTick = 100 * time.Millisecond

var errFenced = errors.New("harness: store crashed")

type harness struct {
	t      testing.TB
	sched  *harnessScheduler
	stores map[uint64]*hStore
	ids    []uint64 // store IDs, ascending
	now    time.Time
	cfg    Config
	// net holds raft messages in flight, oldest first; snaps the snapshot
	// transfers in flight.
	net   []hMsg
	snaps []hSnap
	// trace records every event, for failure messages and determinism.
	trace []string
	// checkData makes every apply step check the store (checkStore); memo
	// is what those checks remember.
	checkData bool
	memo      dataMemo
	memoData  map[string]map[string]string
}

type hMsg struct {
	from, to uint64
	msg      *rspb.RaftMessage
}

type hSnap struct {
	from, to uint64
	msg      *rspb.RaftMessage
	open     func() (io.ReadCloser, error)
	done     func(error)
}

type hStore struct {
	h       *harness
	id      uint64
	engines *engine.Engines
	s       *Store // nil while down
	bg      []func()
	// writes counts the engine writes of this incarnation; crashAt, if
	// positive, is the write that crashes it.
	writes  int
	crashAt int
	crashed bool
	// onWrite, if set, runs before each engine write (after counting it):
	// a test's way into the middle of a step.
	onWrite func(n int)
}

// newHarness builds stores 1..n and bootstraps region 1 ([-inf, +inf), peer
// 1+id on each store, index 5) on the first `peers` of them.
func newHarness(t testing.TB, n, peers int, tune func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Logger = zap.NewNop()
	cfg.RaftWorkers, cfg.ApplyWorkers = 1, 1
	cfg.HibernateRegions = false
	cfg.LeaseEnabled = false
	cfg.MaxLeaderMissingTicks = 30
	cfg.RaftLogGCTickInterval = 1
	cfg.SplitCheckTicks = 1 << 30 // splits only when a test asks
	cfg.RegionHeartbeatTicks = 1 << 30
	if tune != nil {
		tune(&cfg)
	}
	h := &harness{t: t, stores: map[uint64]*hStore{}, now: time.Unix(1_000_000, 0), cfg: cfg, memoData: map[string]map[string]string{},
		sched: &harnessScheduler{nextID: 1000, regions: map[uint64]*metapb.Region{}}}
	region := &metapb.Region{Id: 1, RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
	for i := 1; i <= peers; i++ {
		region.Peers = append(region.Peers, &metapb.Peer{Id: uint64(100 + i), StoreId: uint64(i)})
	}
	h.sched.regions[1] = region
	for id := uint64(1); id <= uint64(n); id++ {
		hs := &hStore{h: h, id: id}
		e, err := engine.Open(t.TempDir(), engine.Options{MemTableSize: 1 << 20, BlockCacheSize: 1 << 20, NoSync: true,
			BeforeWrite: hs.beforeWrite})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		hs.engines = e
		if err := BootstrapStore(e, 1, id); err != nil {
			t.Fatal(err)
		}
		if int(id) <= peers {
			if err := PrepareBootstrapRegion(e, region); err != nil {
				t.Fatal(err)
			}
		}
		h.stores[id] = hs
		h.ids = append(h.ids, id)
		hs.start()
	}
	return h
}

func (h *harness) tracef(format string, args ...any) {
	h.trace = append(h.trace, fmt.Sprintf(format, args...))
}

// fatalf fails the test with the last events of the trace.
func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	tail := h.trace
	if len(tail) > 60 && !*exploreTrace {
		tail = tail[len(tail)-60:]
	}
	h.t.Fatalf("%s\nlast events:\n  %s", fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

func (h *harness) store(id uint64) *hStore { return h.stores[id] }

// beforeWrite is the engines' hook: it crashes the store at its armed write.
func (hs *hStore) beforeWrite(db engine.DB) error {
	if hs.crashed {
		return errFenced
	}
	hs.writes++
	if hs.onWrite != nil {
		hs.onWrite(hs.writes)
	}
	if hs.crashAt > 0 && hs.writes >= hs.crashAt {
		hs.crashed = true
		hs.h.tracef("store %d crashes before write %d (%s db)", hs.id, hs.writes, db)
		return errFenced
	}
	return nil
}

// start builds the store's Store over its engines and loads its peers, as
// Store.Start does, without starting any goroutine.
func (hs *hStore) start() {
	h := hs.h
	hs.crashed, hs.writes, hs.crashAt, hs.bg = false, 0, 0, nil
	s, err := NewStore(h.cfg, hs.engines, h.sched, &hTransport{h: h, from: hs.id})
	if err != nil {
		h.t.Fatal(err)
	}
	s.now = func() time.Time { return h.now }
	s.spawn = func(f func()) { hs.bg = append(hs.bg, f) }
	s.storeID = hs.id
	if err := s.loadPeers(); err != nil {
		h.fatalf("store %d restart: %v", hs.id, err)
	}
	hs.s = s
	h.tracef("store %d up: regions %v", hs.id, hs.regionIDs())
	// Every region state Normal on disk became a peer.
	for id, dr := range hs.diskRegions() {
		if dr.state.State == rspb.PeerState_Normal && hs.peer(id) == nil {
			h.fatalf("store %d restarted without a peer of region %s, Normal on disk", hs.id, describeRegion(dr.state.Region))
		}
	}
}

func (hs *hStore) up() bool { return hs.s != nil }

func (hs *hStore) regionIDs() []uint64 {
	ids := hs.s.router.regionIDs()
	slices.Sort(ids)
	return ids
}

// crash drops the store's memory: queued rounds, apply tasks, mailboxes and
// callbacks are lost; the engines keep what they committed.
func (hs *hStore) crash() {
	if hs.s == nil {
		return
	}
	hs.s = nil
	hs.crashed = true
	hs.h.tracef("store %d crashed", hs.id)
}

// afterStep ends a step of the store: a crash armed inside it takes the
// store down.
func (hs *hStore) afterStep() bool {
	if hs.crashed && hs.s != nil {
		hs.s = nil
		hs.h.tracef("store %d down after its crash", hs.id)
		return false
	}
	return hs.s != nil
}

// raftRound runs one raft worker round over the regions queued for work
// (only those in only, if given): steps 1-4, then hands the round to the
// raft-DB writer's queue, or finishes it at once if it wrote nothing. It
// reports whether there was anything to do.
func (hs *hStore) raftRound(only ...uint64) bool {
	s := hs.s
	if s == nil {
		return false
	}
	ids, flags := s.work.tryNext(s.cfg.MaxRoundPeers, only)
	if len(ids) == 0 {
		return false
	}
	hs.h.tracef("store %d raft round %v", hs.id, ids)
	r := s.writer.newRound()
	r.ids = append(r.ids[:0], ids...)
	ok := s.stepRound(r, flags)
	if ok {
		if !r.wb.IsEmpty() {
			s.writer.submit(r)
		} else {
			s.finishRound(r)
		}
	}
	hs.drainHeartbeats()
	hs.afterStep()
	return true
}

// raftWrite runs the raft-DB writer once over every round queued.
func (hs *hStore) raftWrite() bool {
	s := hs.s
	if s == nil {
		return false
	}
	rounds := s.writer.tryTake()
	if len(rounds) == 0 {
		return false
	}
	hs.h.tracef("store %d raft write of %d rounds", hs.id, len(rounds))
	if s.writeRounds(rounds) {
		for _, r := range rounds {
			s.finishRound(r)
		}
	}
	hs.drainHeartbeats()
	hs.afterStep()
	return true
}

// apply runs the apply worker over up to n queued tasks (0: all).
func (hs *hStore) apply(n int) bool {
	s := hs.s
	if s == nil {
		return false
	}
	w := s.applier.workers[0]
	w.mu.Lock()
	if n <= 0 {
		n = len(w.queue)
	}
	tasks := w.takeLocked(nil, n)
	w.mu.Unlock()
	if len(tasks) == 0 {
		return false
	}
	hs.h.tracef("store %d apply %s", hs.id, describeTasks(tasks))
	w.applyBatch(tasks)
	hs.drainHeartbeats()
	if hs.afterStep() && hs.h.checkData {
		hs.h.checkStore(hs)
	}
	return true
}

func describeTasks(tasks []*applyTask) string {
	var b strings.Builder
	for i, t := range tasks {
		if i > 0 {
			b.WriteString(" ")
		}
		switch t.kind {
		case taskEntries:
			fmt.Fprintf(&b, "r%d:entries[%d..%d]", t.regionID, t.entries[0].Index, t.entries[len(t.entries)-1].Index)
		case taskRegister:
			fmt.Fprintf(&b, "r%d:register", t.regionID)
		case taskSnapshot:
			fmt.Fprintf(&b, "r%d:snapshot@%d", t.regionID, t.snap.index)
		case taskDestroy:
			fmt.Fprintf(&b, "r%d:destroy(%s)", t.regionID, describeRegion(t.destroy.region))
		}
	}
	return b.String()
}

// pendingApply is the number of tasks queued for the apply worker.
func (hs *hStore) pendingApply() int {
	w := hs.s.applier.workers[0]
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// background runs the oldest piece of background work (scheduler calls,
// snapshot generation) and the split checks queued.
func (hs *hStore) background() bool {
	s := hs.s
	if s == nil {
		return false
	}
	ran := false
	select {
	case t := <-s.splitCheck.tasks:
		res, err := s.splitCheck.check(t)
		if err != nil {
			res = &splitCheckResult{epoch: t.region.RegionEpoch}
		}
		s.router.send(t.region.Id, peerMsg{kind: msgSplitCheck, splitCheck: res})
		ran = true
	default:
	}
	if len(hs.bg) > 0 {
		f := hs.bg[0]
		hs.bg = hs.bg[1:]
		hs.h.tracef("store %d background work", hs.id)
		f()
		ran = true
	}
	hs.drainHeartbeats()
	hs.afterStep()
	return ran
}

// tick delivers one tick to every region of every store that is up, and
// moves the clock by one tick interval.
func (h *harness) tick() {
	h.now = h.now.Add(harnessTick)
	for _, id := range h.ids {
		if hs := h.stores[id]; hs.up() {
			hs.s.work.signalAll(hs.regionIDs(), flagTick)
		}
	}
	h.tracef("tick")
}

// ticks runs n ticks, settling the cluster after each.
func (h *harness) ticks(n int) {
	h.t.Helper()
	h.ticksWith(n, nil)
}

// ticksWith is ticks with settleWith(hold).
func (h *harness) ticksWith(n int, hold func(uint64, string) bool) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		h.tick()
		h.settleWith(hold)
	}
}

// drainHeartbeats hands queued region heartbeats to the scheduler.
func (hs *hStore) drainHeartbeats() {
	if hs.s == nil {
		return
	}
	for {
		select {
		case req := <-hs.s.hbCh:
			_ = hs.h.sched.RegionHeartbeat(context.Background(), req)
		default:
			return
		}
	}
}

// deliver hands the i-th message in flight to its store (dropped if the
// store is down).
func (h *harness) deliver(i int) {
	m := h.net[i]
	h.net = slices.Delete(h.net, i, i+1)
	to := h.stores[m.to]
	if to == nil || !to.up() {
		h.tracef("drop %s (store %d down)", describeMsg(m.msg), m.to)
		return
	}
	h.tracef("deliver %d->%d %s", m.from, m.to, describeMsg(m.msg))
	_ = to.s.HandleRaftMessage(m.msg)
}

// dropFor loses every message and snapshot in flight to or from store.
func (h *harness) dropFor(store uint64) {
	for i := len(h.net) - 1; i >= 0; i-- {
		if m := h.net[i]; m.to == store || m.from == store {
			h.drop(i)
		}
	}
	for i := len(h.snaps) - 1; i >= 0; i-- {
		if sn := h.snaps[i]; sn.to == store || sn.from == store {
			h.deliverSnap(i, true)
		}
	}
}

// drop loses the i-th message in flight.
func (h *harness) drop(i int) {
	h.tracef("lose %d->%d %s", h.net[i].from, h.net[i].to, describeMsg(h.net[i].msg))
	h.net = slices.Delete(h.net, i, i+1)
}

// deliverSnap runs the i-th snapshot transfer in flight; fail makes it fail.
func (h *harness) deliverSnap(i int, fail bool) {
	sn := h.snaps[i]
	h.snaps = slices.Delete(h.snaps, i, i+1)
	to := h.stores[sn.to]
	var err error
	switch {
	case fail || to == nil || !to.up():
		err = errors.New("harness: snapshot transfer failed")
	default:
		var rc io.ReadCloser
		rc, err = sn.open()
		if err == nil {
			err = to.s.HandleSnapshot(sn.msg, rc)
			rc.Close()
		}
	}
	h.tracef("snapshot %d->%d %s: %v", sn.from, sn.to, describeMsg(sn.msg), err)
	sn.done(err)
}

func describeMsg(m *rspb.RaftMessage) string {
	switch {
	case m.IsTombstone:
		return fmt.Sprintf("r%d tombstone to peer %d", m.RegionId, m.ToPeer.GetId())
	case m.ExtraMsg != nil:
		return fmt.Sprintf("r%d %s", m.RegionId, m.ExtraMsg.Type)
	case m.Message != nil:
		mm := m.Message
		return fmt.Sprintf("r%d %s %d->%d term %d index %d commit %d ents %d", m.RegionId, mm.MsgType, mm.From, mm.To,
			mm.Term, mm.Index, mm.Commit, len(mm.Entries))
	}
	return fmt.Sprintf("r%d ?", m.RegionId)
}

// hTransport queues a store's outgoing messages in the harness network.
type hTransport struct {
	h    *harness
	from uint64
}

func (t *hTransport) Send(m *rspb.RaftMessage) error {
	if hs := t.h.stores[t.from]; hs.crashed {
		return nil
	}
	c := *m
	if m.Message != nil {
		mm := *m.Message
		c.Message = &mm
	}
	t.h.net = append(t.h.net, hMsg{from: t.from, to: m.ToPeer.GetStoreId(), msg: &c})
	return nil
}

func (t *hTransport) SendSnapshot(m *rspb.RaftMessage, open func() (io.ReadCloser, error), done func(error)) {
	if hs := t.h.stores[t.from]; hs.crashed {
		return
	}
	t.h.snaps = append(t.h.snaps, hSnap{from: t.from, to: m.ToPeer.GetStoreId(), msg: m, open: open, done: done})
}

// harnessScheduler is the cluster's scheduler: IDs, and the newest region
// metadata it heard of (from splits and leaders' heartbeats).
type harnessScheduler struct {
	mu      sync.Mutex
	nextID  uint64
	regions map[uint64]*metapb.Region
}

func (f *harnessScheduler) GetClusterID(context.Context) uint64 { return 1 }
func (f *harnessScheduler) AllocID(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}
func (f *harnessScheduler) Bootstrap(context.Context, *metapb.Store, *metapb.Region) error {
	return nil
}
func (f *harnessScheduler) IsBootstrapped(context.Context) (bool, error)  { return true, nil }
func (f *harnessScheduler) PutStore(context.Context, *metapb.Store) error { return nil }
func (f *harnessScheduler) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	return &metapb.Store{Id: id}, nil
}
func (f *harnessScheduler) StoreHeartbeat(context.Context, *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error) {
	return &pdpb.StoreHeartbeatResponse{}, nil
}
func (f *harnessScheduler) RegionHeartbeat(_ context.Context, req *pdpb.RegionHeartbeatRequest) error {
	f.learn(req.Region)
	return nil
}
func (f *harnessScheduler) RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse {
	return nil
}
func (f *harnessScheduler) AskBatchSplit(_ context.Context, r *metapb.Region, count int) ([]*pdpb.SplitID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*pdpb.SplitID, count)
	for i := range out {
		f.nextID++
		id := &pdpb.SplitID{NewRegionId: f.nextID}
		for range r.Peers {
			f.nextID++
			id.NewPeerIds = append(id.NewPeerIds, f.nextID)
		}
		out[i] = id
	}
	return out, nil
}
func (f *harnessScheduler) ReportBatchSplit(_ context.Context, regions []*metapb.Region) error {
	for _, r := range regions {
		f.learn(r)
	}
	return nil
}
func (f *harnessScheduler) GetRegionByID(_ context.Context, id uint64) (*metapb.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.regions[id]
	if r == nil {
		return nil, errors.New("harness: region not found")
	}
	return cloneRegion(r), nil
}

func (f *harnessScheduler) learn(r *metapb.Region) {
	if r == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.regions[r.Id]
	if old == nil || old.RegionEpoch.GetVersion() < r.RegionEpoch.GetVersion() ||
		(old.RegionEpoch.GetVersion() == r.RegionEpoch.GetVersion() && old.RegionEpoch.GetConfVer() < r.RegionEpoch.GetConfVer()) {
		f.regions[r.Id] = cloneRegion(r)
	}
}

// tryNext is workScheduler.next without blocking, optionally restricted to
// some regions (the others stay queued in order).
func (s *workScheduler) tryNext(max int, only []uint64) ([]uint64, []uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint64
	var flags []uint8
	kept := s.queue[:0]
	for _, id := range s.queue {
		if len(ids) >= max || (len(only) > 0 && !slices.Contains(only, id)) {
			kept = append(kept, id)
			continue
		}
		st := s.state[id]
		ids = append(ids, id)
		flags = append(flags, st&workFlags)
		s.state[id] = flagProcessing
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	return ids, flags
}

// queued reports whether a region is queued for a round.
func (s *workScheduler) queued(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[id]&flagQueued != 0
}

// tryTake is raftWriter.take without blocking.
func (w *raftWriter) tryTake() []*round {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.queue)
	clear(w.queue)
	w.queue = w.queue[:0]
	return out
}

// ---- Driving the cluster ----

// peer returns store's peer of a region, or nil.
func (hs *hStore) peer(regionID uint64) *peer {
	if hs.s == nil {
		return nil
	}
	if f := hs.s.router.get(regionID); f != nil {
		return f.peer
	}
	return nil
}

// settle runs every store's rounds, writes, applies and background work,
// and delivers every message and snapshot, until nothing is left (bounded).
// It does not tick.
func (h *harness) settle() {
	h.t.Helper()
	h.settleWith(nil)
}

// A step kind, for settleWith's hold.
const (
	hRound = "round"
	hWrite = "write"
	hApply = "apply"
	hBG    = "background"
	hRecv  = "receive" // a message or snapshot delivered to the store
	hSend  = "send"    // a message or snapshot from the store delivered
)

// settleWith is settle, except that the steps hold says yes to are not
// taken (held messages stay in flight).
func (h *harness) settleWith(hold func(store uint64, step string) bool) {
	h.t.Helper()
	for i := 0; i < 10000; i++ {
		if !h.stepAny(hold) {
			return
		}
	}
	h.fatalf("cluster did not settle")
}

// stepAny performs the first thing there is to do that hold allows, in a
// fixed order; false when nothing is.
func (h *harness) stepAny(hold func(store uint64, step string) bool) bool {
	held := func(store uint64, step string) bool { return hold != nil && hold(store, step) }
	for _, id := range h.ids {
		hs := h.stores[id]
		if (!held(id, hRound) && hs.raftRound()) || (!held(id, hWrite) && hs.raftWrite()) ||
			(!held(id, hApply) && hs.apply(0)) || (!held(id, hBG) && hs.background()) {
			return true
		}
	}
	for i, m := range h.net {
		if !held(m.to, hRecv) && !held(m.from, hSend) {
			h.deliver(i)
			return true
		}
	}
	for i, sn := range h.snaps {
		if !held(sn.to, hRecv) && !held(sn.from, hSend) {
			h.deliverSnap(i, false)
			return true
		}
	}
	return false
}

// isolate is a hold that cuts a store off the network.
func isolate(store uint64) func(uint64, string) bool {
	return func(s uint64, step string) bool { return s == store && (step == hRecv || step == hSend) }
}

// holdSteps is a hold of the given steps of one store.
func holdSteps(store uint64, steps ...string) func(uint64, string) bool {
	return func(s uint64, step string) bool { return s == store && slices.Contains(steps, step) }
}

// anyHold holds a step if any of holds does.
func anyHold(holds ...func(uint64, string) bool) func(uint64, string) bool {
	return func(s uint64, step string) bool {
		for _, h := range holds {
			if h(s, step) {
				return true
			}
		}
		return false
	}
}

// elect makes store's peer of the region campaign until it leads (peers
// loaded from disk ignore votes for an election timeout: ticks pass).
func (h *harness) elect(storeID, regionID uint64) {
	h.t.Helper()
	for i := 0; i < 4*h.cfg.ElectionTicks; i++ {
		p := h.store(storeID).peer(regionID)
		if p == nil {
			h.fatalf("store %d has no peer of region %d", storeID, regionID)
		}
		if p.isLeader() {
			return
		}
		_ = p.rn.Campaign()
		h.store(storeID).s.work.signal(regionID, flagMsgs)
		h.settle()
		if h.store(storeID).peer(regionID).isLeader() {
			return
		}
		h.tick()
		h.settle()
	}
	h.fatalf("store %d did not become leader of region %d", storeID, regionID)
}

// leaderOf returns the store whose peer leads the region in the highest
// term, or 0.
func (h *harness) leaderOf(regionID uint64) uint64 {
	var lead, term uint64
	for _, id := range h.ids {
		if p := h.store(id).peer(regionID); p != nil && p.isLeader() && p.term >= term {
			lead, term = id, p.term
		}
	}
	return lead
}

// outcome is what a proposal's callback said.
type outcome struct {
	done bool
	resp *raft_cmdpb.RaftCmdResponse
}

func (o *outcome) err() *string {
	if !o.done {
		s := "no answer"
		return &s
	}
	if e := o.resp.GetHeader().GetError(); e != nil {
		s := e.String()
		return &s
	}
	return nil
}

// propose sends a command to store's peer of the region, with the region
// epoch that peer knows; the outcome fills in when it is answered.
func (h *harness) propose(storeID uint64, req *raft_cmdpb.RaftCmdRequest) *outcome {
	hs := h.store(storeID)
	o := &outcome{}
	if p := hs.peer(req.Header.RegionId); p != nil && req.Header.RegionEpoch == nil {
		req.Header.RegionEpoch = p.region.RegionEpoch
	}
	hs.s.Propose(req, func(r *raft_cmdpb.RaftCmdResponse) { o.done, o.resp = true, r })
	return o
}

// operatorStep hands store's peer of the region one operator step, the way
// the scheduler's heartbeat response does, with the epoch that peer knows.
func (h *harness) operatorStep(storeID, regionID uint64, typ eraftpb.ConfChangeType, peer *metapb.Peer) {
	hs := h.store(storeID)
	p := hs.peer(regionID)
	if p == nil {
		h.fatalf("store %d has no peer of region %d", storeID, regionID)
	}
	hs.s.router.send(regionID, peerMsg{kind: msgOperator, op: &pdpb.RegionHeartbeatResponse{RegionId: regionID,
		RegionEpoch: p.region.RegionEpoch, ChangePeer: &pdpb.ChangePeer{ChangeType: typ, Peer: peer}}})
}

func putCmd(regionID uint64, key, value string) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID},
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Put,
			Put: &raft_cmdpb.PutRequest{Key: []byte(key), Value: []byte(value)}}}}
}

func deleteRangeCmd(regionID uint64, start, end string) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID},
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_DeleteRange,
			DeleteRange: &raft_cmdpb.DeleteRangeRequest{StartKey: []byte(start), EndKey: []byte(end)}}}}
}

func changePeerCmd(regionID uint64, typ eraftpb.ConfChangeType, peer *metapb.Peer) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID},
		AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_ChangePeer,
			ChangePeer: &raft_cmdpb.ChangePeerRequest{ChangeType: typ, Peer: peer}}}
}

func transferCmd(regionID uint64, to *metapb.Peer) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID},
		AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_TransferLeader,
			TransferLeader: &raft_cmdpb.TransferLeaderRequest{Peer: to}}}
}

// split asks the store's peer (the leader) to split the region at keys; the
// ID request runs as background work.
func (h *harness) split(storeID, regionID uint64, keys ...string) *outcome {
	hs := h.store(storeID)
	p := hs.peer(regionID)
	o := &outcome{}
	var bk [][]byte
	for _, k := range keys {
		bk = append(bk, []byte(k))
	}
	hs.s.askSplit(p.region, bk, func(rs []*metapb.Region, err error) {
		o.done = true
		o.resp = &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{}}
		if err != nil {
			o.resp.Header.Error = errConfChange(err.Error())
		}
	})
	return o
}

// dataOf returns every key-value of a store's kv DB in [start, end) (all
// CFs, cf-prefixed keys), for comparisons.
func (hs *hStore) dataOf(start, end []byte) map[string]string {
	out := map[string]string{}
	view, err := hs.engines.NewSnapshot()
	if err != nil {
		hs.h.t.Fatal(err)
	}
	defer view.Close()
	for _, cf := range engine.CFs {
		it, err := view.NewCFIterator(cf, engine.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			hs.h.t.Fatal(err)
		}
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Value()
			if err != nil {
				hs.h.t.Fatal(err)
			}
			out[cf+"/"+string(it.Key())] = string(v)
		}
		it.Close()
	}
	return out
}

func (hs *hStore) get(key string) (string, bool) {
	v, ok := hs.dataOf([]byte(key), append([]byte(key), 0))[engine.CFDefault+"/"+key]
	return v, ok
}

// regionState reads a region's state from a store's kv DB.
func (hs *hStore) regionState(regionID uint64) (*rspb.RegionLocalState, bool) {
	var st rspb.RegionLocalState
	ok, err := engine.GetMeta(hs.engines.KV, engine.RegionStateKey(regionID), &st)
	if err != nil {
		hs.h.t.Fatal(err)
	}
	return &st, ok
}

func sameData(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func firstDiff(a, b map[string]string) string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		if aok != bok || av != bv {
			return fmt.Sprintf("key %q: %q (%t) vs %q (%t)", k, av, aok, bv, bok)
		}
	}
	return "none"
}
