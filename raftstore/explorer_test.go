package raftstore

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// The explorer draws random interleavings on the harness: three stores,
// regions that split, change membership and move leaders, log GC with tiny
// limits (so followers catch up by snapshot), a network that delays, drops
// and reorders, raft rounds, raft-DB writes and apply batches in any order,
// and crashes both between steps and between two writes inside a step. It
// checks the lifecycle invariants (harness_check_test.go) after every step,
// and at the end, once every store is back and the cluster has settled,
// that every replica of a region holds the same data and no acknowledged
// write was lost.
//
// Every run is determined by its seed, which a failure prints; replay one
// with -explore.seed (add -explore.trace to log every event):
//
//	go test ./raftstore -run TestExplore -explore.seed=N -explore.trace
//
// The default tier runs in about a minute; a long tier:
//
//	go test ./raftstore -run TestExplore -explore.seeds=2000 -explore.steps=3000 -timeout=2h

var (
	exploreSeed  = flag.Int64("explore.seed", -1, "explorer: run only this seed")
	exploreSeeds = flag.Int("explore.seeds", 0, "explorer: seeds to run (0: default tier)")
	exploreSteps = flag.Int("explore.steps", 0, "explorer: steps per seed (0: default tier)")
	exploreTrace = flag.Bool("explore.trace", false, "explorer: log every event of the run")
)

const (
	defaultExploreSeeds = 60
	defaultExploreSteps = 3000
)

// exploreStats counts what a run exercised (from its events and its end
// state), so the default tier can show it reaches every kind of event.
type exploreStats struct {
	snapshots, destroys, crashes, midStepCrashes, splits, confChanges, acked int
}

func (a *exploreStats) add(b exploreStats) {
	a.snapshots += b.snapshots
	a.destroys += b.destroys
	a.crashes += b.crashes
	a.midStepCrashes += b.midStepCrashes
	a.splits += b.splits
	a.confChanges += b.confChanges
	a.acked += b.acked
}

func TestExplore(t *testing.T) {
	seeds, steps := defaultExploreSeeds, defaultExploreSteps
	if *exploreSeeds > 0 {
		seeds = *exploreSeeds
	}
	if *exploreSteps > 0 {
		steps = *exploreSteps
	}
	if testing.Short() {
		seeds /= 6
	}
	if *exploreSeed >= 0 {
		runExplore(t, uint64(*exploreSeed), steps)
		return
	}
	var total exploreStats
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			_, st := runExplore(t, seed, steps)
			total.add(st)
		})
	}
	t.Logf("%d seeds x %d steps: %+v", seeds, steps, total)
	// The tier must reach every kind of lifecycle event, or it proves
	// little about them.
	for name, n := range map[string]int{"snapshot applied": total.snapshots, "peer destroyed": total.destroys,
		"crash between steps": total.crashes, "crash inside a step": total.midStepCrashes, "split": total.splits,
		"membership change": total.confChanges, "acknowledged write": total.acked} {
		if n == 0 && !t.Failed() {
			t.Errorf("no %s in %d seeds", name, seeds)
		}
	}
}

// TestExploreDeterministic: one seed run twice gives the same events.
func TestExploreDeterministic(t *testing.T) {
	a, _ := runExplore(t, 7, 600)
	b, _ := runExplore(t, 7, 600)
	if a != b {
		t.Fatalf("seed 7 ran differently twice: event hashes %x and %x", a, b)
	}
}

// TestExploreRegressions replays the long tier's seeds that once failed,
// each a forced interleaving of its bug: 139, 211, 258, 354 — a single
// voter told a learner a commit index covering entries it had not
// persisted, lost them in a crash, and the replicas diverged (raft
// sendableCommit); 377 — a leader committed and applied its own removal,
// proposed by an earlier leader, while the other voter had not heard the
// commit, and with the removed peer destroyed that voter could never win
// an election (lingerIndex).
func TestExploreRegressions(t *testing.T) {
	for _, seed := range []uint64{139, 211, 258, 354, 377} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runExplore(t, seed, 5000) })
	}
}

// write is one client write in the explorer's history.
type write struct {
	key, value string // value "" deletes (a DeleteRange)
	start, end string // a DeleteRange's range
	issued     int
	acked      int  // step of the acknowledgement, or -1
	failed     bool // definitely not applied
}

type explorer struct {
	h      *harness
	rng    *rand.Rand
	step   int
	writes []*write
	keys   []string
}

// runExplore runs one seed and returns a hash of its events and what it
// exercised.
func runExplore(t *testing.T, seed uint64, steps int) (uint64, exploreStats) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	gc := uint64(3 + rng.IntN(8))
	lease := rng.IntN(2) == 0
	h := newHarness(t, 3, 3, func(c *Config) {
		c.RaftLogGCCountLimit = gc
		c.LeaseEnabled = lease
		c.MaxLeaderMissingTicks = 20
		c.Seed = seed
	})
	h.checkData = true
	e := &explorer{h: h, rng: rng}
	for i := 0; i < 40; i++ {
		e.keys = append(e.keys, fmt.Sprintf("k%02d", i))
	}
	defer func() {
		if t.Failed() {
			t.Logf("explorer seed=%d (gc limit %d, lease %t); replay: go test ./raftstore -run TestExplore -explore.seed=%d -explore.trace",
				seed, gc, lease, seed)
		}
	}()
	for e.step = 0; e.step < steps; e.step++ {
		e.randomStep()
		h.checkAll()
	}
	e.heal()
	h.checkAll()
	h.checkSettled()
	e.checkWrites()
	if *exploreTrace {
		for _, ev := range h.trace {
			t.Log(ev)
		}
	}
	sum := fnv.New64a()
	var st exploreStats
	for _, ev := range h.trace {
		fmt.Fprintln(sum, ev)
		switch {
		case strings.Contains(ev, " apply ") && strings.Contains(ev, ":snapshot@"):
			st.snapshots += strings.Count(ev, ":snapshot@")
		case strings.Contains(ev, " apply ") && strings.Contains(ev, ":destroy("):
			st.destroys += strings.Count(ev, ":destroy(")
		case strings.Contains(ev, "crashes before write"):
			st.midStepCrashes++
		case strings.HasSuffix(ev, " crashed"):
			st.crashes++
		}
	}
	for _, id := range h.ids {
		for _, rid := range h.stores[id].regionIDs() {
			if r := h.stores[id].peer(rid).region; r.RegionEpoch != nil {
				st.splits = max(st.splits, int(r.RegionEpoch.Version)-1)
				st.confChanges = max(st.confChanges, int(r.RegionEpoch.ConfVer)-1)
			}
		}
	}
	for _, w := range e.writes {
		if w.acked >= 0 {
			st.acked++
		}
	}
	return sum.Sum64(), st
}

func (e *explorer) upStores() []*hStore {
	var out []*hStore
	for _, id := range e.h.ids {
		if hs := e.h.stores[id]; hs.up() {
			out = append(out, hs)
		}
	}
	return out
}

func (e *explorer) randomUp() *hStore {
	up := e.upStores()
	if len(up) == 0 {
		return nil
	}
	return up[e.rng.IntN(len(up))]
}

// leaders returns (store, peer) of every live leader, by region ID.
func (e *explorer) leaders() []*peer {
	var out []*peer
	for _, hs := range e.upStores() {
		for _, id := range hs.regionIDs() {
			if p := hs.peer(id); p != nil && p.isLeader() && !p.destroyed && p.pendingDestroy == "" {
				out = append(out, p)
			}
		}
	}
	return out
}

type action struct {
	weight float64
	run    func()
}

func (e *explorer) randomStep() {
	h := e.h
	acts := []action{
		{45, e.workStep},
		{30, func() {
			if len(h.net) > 0 {
				h.deliver(e.rng.IntN(min(len(h.net), 8)))
			}
		}},
		{1.5, func() {
			if len(h.net) > 0 {
				h.drop(e.rng.IntN(len(h.net)))
			}
		}},
		{0.5, func() {
			if len(h.net) > 0 {
				m := h.net[e.rng.IntN(len(h.net))]
				h.net = append(h.net, m)
				h.tracef("duplicate %d->%d %s", m.from, m.to, describeMsg(m.msg))
			}
		}},
		{3, func() {
			if len(h.snaps) > 0 {
				h.deliverSnap(e.rng.IntN(len(h.snaps)), e.rng.IntN(10) == 0)
			}
		}},
		{5, func() { h.tick() }},
		{8, e.clientWrite},
		{0.7, e.clientDeleteRange},
		{3, e.splitRegion},
		{3, e.changeMembership},
		{1.5, e.transferLeader},
		{0.7, func() {
			if hs := e.randomUp(); hs != nil && len(hs.regionIDs()) > 0 {
				if p := hs.peer(hs.regionIDs()[e.rng.IntN(len(hs.regionIDs()))]); p != nil && !p.destroyed {
					h.tracef("store %d region %d campaigns", hs.id, p.region.Id)
					_ = p.rn.Campaign()
					hs.s.work.signal(p.region.Id, flagMsgs)
				}
			}
		}},
		{0.3, func() {
			if hs := e.randomUp(); hs != nil {
				hs.crash()
			}
		}},
		{0.3, func() {
			if hs := e.randomUp(); hs != nil && hs.crashAt == 0 {
				hs.crashAt = hs.writes + 1 + e.rng.IntN(6)
				h.tracef("store %d will crash before write %d", hs.id, hs.crashAt)
			}
		}},
		{1.5, func() {
			for _, id := range h.ids {
				if hs := h.stores[id]; !hs.up() {
					hs.start()
					return
				}
			}
		}},
	}
	total := 0.0
	for _, a := range acts {
		total += a.weight
	}
	r := e.rng.Float64() * total
	for _, a := range acts {
		if r < a.weight {
			a.run()
			return
		}
		r -= a.weight
	}
}

// peerFor returns a random store's live peer whose region holds key.
func (e *explorer) peerFor(key string) (*hStore, *peer) {
	var cands []*peer
	var stores []*hStore
	for _, hs := range e.upStores() {
		for _, id := range hs.regionIDs() {
			p := hs.peer(id)
			if p != nil && !p.destroyed && p.ps.isInitialized() && keyInRegion([]byte(key), p.region) {
				cands = append(cands, p)
				stores = append(stores, hs)
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	i := e.rng.IntN(len(cands))
	if e.rng.IntN(5) != 0 {
		// Mostly the leader, as a client that follows NotLeader would.
		for j, p := range cands {
			if p.isLeader() {
				i = j
			}
		}
	}
	return stores[i], cands[i]
}

// record tracks a proposal's outcome in the history.
func (e *explorer) record(w *write, hs *hStore, req *raft_cmdpb.RaftCmdRequest) {
	e.writes = append(e.writes, w)
	req.Header.RegionEpoch = nil
	p := hs.peer(req.Header.RegionId)
	req.Header.RegionEpoch = p.region.RegionEpoch
	hs.s.Propose(req, func(resp *raft_cmdpb.RaftCmdResponse) {
		err := resp.GetHeader().GetError()
		switch {
		case err == nil:
			w.acked = e.step
		case err.UndeterminedResult != nil:
			// maybe applied
		default:
			w.failed = true
		}
	})
}

// workStep runs one piece of work a store has: a raft round, a raft-DB
// write, an apply batch (of one to three tasks) or background work.
func (e *explorer) workStep() {
	type work struct {
		hs   *hStore
		kind string
	}
	var ws []work
	for _, hs := range e.upStores() {
		s := hs.s
		s.work.mu.Lock()
		if len(s.work.queue) > 0 {
			ws = append(ws, work{hs, hRound})
		}
		s.work.mu.Unlock()
		s.writer.mu.Lock()
		if len(s.writer.queue) > 0 {
			ws = append(ws, work{hs, hWrite})
		}
		s.writer.mu.Unlock()
		if hs.pendingApply() > 0 {
			ws = append(ws, work{hs, hApply})
		}
		if len(hs.bg) > 0 || len(s.splitCheck.tasks) > 0 {
			ws = append(ws, work{hs, hBG})
		}
	}
	if len(ws) == 0 {
		return
	}
	w := ws[e.rng.IntN(len(ws))]
	switch w.kind {
	case hRound:
		w.hs.raftRound()
	case hWrite:
		w.hs.raftWrite()
	case hApply:
		w.hs.apply(1 + e.rng.IntN(3))
	case hBG:
		w.hs.background()
	}
}

func (e *explorer) clientWrite() {
	key := e.keys[e.rng.IntN(len(e.keys))]
	hs, p := e.peerFor(key)
	if p == nil {
		return
	}
	w := &write{key: key, value: fmt.Sprintf("s%d", e.step), issued: e.step, acked: -1}
	e.h.tracef("client put %s=%s via store %d region %d", key, w.value, hs.id, p.region.Id)
	e.record(w, hs, putCmd(p.region.Id, key, w.value))
}

func (e *explorer) clientDeleteRange() {
	i := e.rng.IntN(len(e.keys))
	j := min(len(e.keys)-1, i+1+e.rng.IntN(4))
	hs, p := e.peerFor(e.keys[i])
	if p == nil {
		return
	}
	// The store clamps a DeleteRange to the region it is proposed to (a
	// split in between fails it on the epoch check).
	w := &write{start: max(e.keys[i], string(p.region.StartKey)), end: e.keys[j], issued: e.step, acked: -1}
	if re := string(p.region.EndKey); re != "" && re < w.end {
		w.end = re
	}
	e.h.tracef("client delete-range [%s,%s) via store %d region %d", w.start, w.end, hs.id, p.region.Id)
	e.record(w, hs, deleteRangeCmd(p.region.Id, w.start, w.end))
}

func (e *explorer) splitRegion() {
	ls := e.leaders()
	if len(ls) == 0 {
		return
	}
	p := ls[e.rng.IntN(len(ls))]
	key := e.keys[e.rng.IntN(len(e.keys))]
	if !keyInRegion([]byte(key), p.region) || string(p.region.StartKey) == key {
		return
	}
	e.h.tracef("split region %d at %s on store %d", p.region.Id, key, p.meta.StoreId)
	e.h.split(p.meta.StoreId, p.region.Id, key)
}

func (e *explorer) changeMembership() {
	ls := e.leaders()
	if len(ls) == 0 {
		return
	}
	p := ls[e.rng.IntN(len(ls))]
	r := p.region
	var req *raft_cmdpb.RaftCmdRequest
	var learner *metapb.Peer
	voters := 0
	for _, pr := range r.Peers {
		if isVoter(pr) {
			voters++
		} else {
			learner = pr
		}
	}
	switch {
	case learner != nil && e.rng.IntN(4) != 0:
		e.h.tracef("promote learner %d (store %d) of region %d", learner.Id, learner.StoreId, r.Id)
		req = changePeerCmd(r.Id, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: learner.Id, StoreId: learner.StoreId})
	case voters+btoi(learner != nil) >= 3:
		var others []*metapb.Peer
		for _, pr := range r.Peers {
			if pr.Id != p.meta.Id {
				others = append(others, pr)
			}
		}
		victim := others[e.rng.IntN(len(others))]
		e.h.tracef("remove peer %d (store %d) of region %d", victim.Id, victim.StoreId, r.Id)
		req = changePeerCmd(r.Id, eraftpb.ConfChangeType_RemoveNode, victim)
	default:
		var free []uint64
		for _, id := range e.h.ids {
			if storePeer(r, id) == nil {
				free = append(free, id)
			}
		}
		if len(free) == 0 {
			return
		}
		id, _ := e.h.sched.AllocID(context.Background())
		np := &metapb.Peer{Id: id, StoreId: free[e.rng.IntN(len(free))]}
		typ := eraftpb.ConfChangeType_AddLearnerNode
		if e.rng.IntN(3) == 0 {
			typ = eraftpb.ConfChangeType_AddNode
		}
		e.h.tracef("add peer %d (store %d) to region %d as %s", np.Id, np.StoreId, r.Id, typ)
		req = changePeerCmd(r.Id, typ, np)
	}
	e.h.propose(p.meta.StoreId, req)
}

func (e *explorer) transferLeader() {
	ls := e.leaders()
	if len(ls) == 0 {
		return
	}
	p := ls[e.rng.IntN(len(ls))]
	to := p.region.Peers[e.rng.IntN(len(p.region.Peers))]
	if to.Id == p.meta.Id {
		return
	}
	e.h.tracef("transfer region %d to peer %d", p.region.Id, to.Id)
	e.h.propose(p.meta.StoreId, transferCmd(p.region.Id, to))
}

// heal brings every store back and runs the cluster, ticking, until every
// region has one leader whose followers have applied what it has.
func (e *explorer) heal() {
	h := e.h
	h.tracef("heal")
	for _, id := range h.ids {
		hs := h.stores[id]
		hs.crashAt = 0
		if !hs.up() {
			hs.start()
		}
	}
	for i := 0; i < 400; i++ {
		h.settle()
		if e.converged() {
			return
		}
		h.tick()
	}
	h.fatalf("the cluster did not converge after healing: %s", e.describeCluster())
}

// converged: every live peer belongs to its region's current membership
// as its leader sees it, and has applied as far as that leader.
func (e *explorer) converged() bool {
	h := e.h
	leaders := map[uint64]*peer{}
	for _, p := range e.leaders() {
		if cur := leaders[p.region.Id]; cur == nil || p.term > cur.term {
			leaders[p.region.Id] = p
		}
	}
	for _, hs := range e.upStores() {
		for _, id := range hs.regionIDs() {
			p := hs.peer(id)
			if p == nil || p.destroyed {
				continue
			}
			l := leaders[id]
			if l == nil || storePeer(l.region, hs.id).GetId() != p.meta.Id || p.ps.applied != l.ps.applied ||
				l.ps.applied != l.commit || p.pendingSnap != nil {
				return false
			}
		}
	}
	for id, l := range leaders {
		for _, pr := range l.region.Peers {
			if q := h.stores[pr.StoreId].peer(id); q == nil || q.meta.Id != pr.Id {
				return false
			}
		}
	}
	return len(h.net) == 0 && len(h.snaps) == 0
}

func (e *explorer) describeCluster() string {
	var b []byte
	for _, hs := range e.upStores() {
		for _, id := range hs.regionIDs() {
			p := hs.peer(id)
			st := p.rn.BasicStatus()
			var peers []string
			for _, pr := range p.region.Peers {
				peers = append(peers, fmt.Sprintf("%d@s%d", pr.Id, pr.StoreId))
			}
			b = fmt.Appendf(b, "\n  store %d region %s peers %v peer %d %s term %d commit %d applied %d last %d", hs.id,
				describeRegion(p.region), peers, p.meta.Id, st.SoftState.RaftState, st.HardState.Term, st.HardState.Commit,
				p.ps.applied, st.LastIndex)
		}
	}
	return string(b)
}

// checkWrites checks the final value of every key against the history:
// it must come from a write (or DeleteRange, or the initial absence) that
// was not followed by another acknowledged write issued after it was
// acknowledged. So no acknowledged write is lost or overwritten by an
// older one.
func (e *explorer) checkWrites() {
	h := e.h
	for _, key := range e.keys {
		// The value every replica of the key's region holds (they agree:
		// checkSettled), read on a store holding it.
		var final *string
		for _, hs := range e.upStores() {
			for _, id := range hs.regionIDs() {
				if p := hs.peer(id); p != nil && keyInRegion([]byte(key), p.region) {
					v, ok := hs.get(key)
					if !ok {
						v = ""
					}
					final = &v
				}
			}
		}
		if final == nil {
			h.fatalf("no store holds key %s", key)
		}
		var cands []*write
		cands = append(cands, &write{key: key, issued: -1, acked: -1}) // the initial absence
		cands[0].acked = -1
		for _, w := range e.writes {
			if w.failed {
				continue
			}
			if w.key == key || (w.key == "" && key >= w.start && key < w.end) {
				cands = append(cands, w)
			}
		}
		ok := false
		for i, w := range cands {
			if w.value != *final {
				continue
			}
			done := w.acked
			if i > 0 && w.acked < 0 {
				done = 1 << 30 // maybe applied, at any time
			}
			followed := false
			for _, w2 := range cands[1:] {
				if w2.acked >= 0 && w2.issued > done {
					followed = true
					break
				}
			}
			if !followed {
				ok = true
				break
			}
		}
		if !ok {
			var hist []string
			for _, w := range cands[1:] {
				hist = append(hist, fmt.Sprintf("%q issued %d acked %d", w.value, w.issued, w.acked))
			}
			h.fatalf("key %s ends as %q, which no write that was not overwritten explains: %v", key, *final, hist)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
