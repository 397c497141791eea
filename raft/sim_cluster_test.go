package raft_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// simParams are the knobs of one run. Each seed draws its own (swarm
// testing): some runs are calm, some lose a fifth of their messages, some
// crash nodes constantly, so that no single mix of faults hides a bug.
type simParams struct {
	nodes      int
	confChange bool

	electionTick, heartbeatTick int
	preVote, checkQuorum        bool
	lazyCommit                  bool
	// leaseRead serves reads with ReadOnlyLeaseBased (with checkQuorum).
	// Such runs tick every node together (the lease's clock assumption:
	// no node's clock runs ahead), and a restarted node starts in lease.
	leaseRead     bool
	maxSizePerMsg uint64
	maxInflight   int

	net simNetParams
	// readyProb is the probability that a node handles its Ready after a
	// step; below 1 several messages and ticks pile up in one Ready.
	readyProb float64
	// Event weights that vary by seed.
	wCrash, wPartition, wSnapshot float64
	// compactKeep is how many applied entries a compaction leaves behind.
	compactKeep uint64
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func drawSimParams(rng *rand.Rand, nodes int, confChange bool) simParams {
	p := simParams{
		nodes:         nodes,
		confChange:    confChange,
		electionTick:  5 + rng.IntN(11),
		heartbeatTick: 1 + rng.IntN(3),
		preVote:       rng.IntN(2) == 0,
		checkQuorum:   rng.IntN(2) == 0,
		maxSizePerMsg: pick[uint64](rng, 0, 300, 4096, 1<<20),
		maxInflight:   pick(rng, 1, 2, 4, 16, 256),
		net: simNetParams{
			drop:        pick(rng, 0, 0.01, 0.05, 0.2),
			dup:         pick(rng, 0, 0.02, 0.1),
			delayProb:   pick(rng, 0, 0.1, 0.5),
			maxDelay:    pick(rng, 3, 20, 80),
			reorder:     rng.IntN(4) != 0,
			unreachable: pick(rng, 0, 0.5),
		},
		readyProb:   pick(rng, 1, 0.7, 0.3),
		wCrash:      pick(rng, 0, 0.05, 0.3),
		wPartition:  pick(rng, 0, 0.1, 0.5),
		wSnapshot:   pick(rng, 0.2, 1),
		compactKeep: pick[uint64](rng, 0, 3, 30),
		lazyCommit:  rng.IntN(2) == 0,
	}
	p.leaseRead = p.checkQuorum && rng.IntN(2) == 0
	return p
}

func (p simParams) String() string {
	return fmt.Sprintf("nodes=%d election=%d heartbeat=%d prevote=%t checkquorum=%t lease=%t lazycommit=%t maxsize=%d inflight=%d %s ready=%.1f crash=%.2f partition=%.1f snapshot=%.1f keep=%d",
		p.nodes, p.electionTick, p.heartbeatTick, p.preVote, p.checkQuorum, p.leaseRead, p.lazyCommit, p.maxSizePerMsg, p.maxInflight,
		p.net, p.readyProb, p.wCrash, p.wPartition, p.wSnapshot, p.compactKeep)
}

// simStats summarize a run, for tuning and for -v output.
type simStats struct {
	committed     uint64
	terms         uint64
	crashes       int
	snapshots     int
	reads         int
	readsAnswered int
	confChanges   int
	learners      int // learners added
	promotions    int // learners promoted to voters
	livenessTicks int
}

// simCluster is one simulated run: nodes, network, clients and the global
// history the invariants are checked against. Every decision comes from
// rng, and nothing iterates over a map, so a seed replays exactly.
type simCluster struct {
	seed  uint64
	rng   *rand.Rand
	p     simParams
	step  int
	nodes []*simNode // ascending ID; stopped nodes stay
	net   *simNet
	hist  *simHistory
	stats simStats

	nextProposal, nextRead int
	nextID                 uint64
	// livePayload and liveIndex track the liveness proposal.
	livePayload string
	liveIndex   uint64

	tracing bool
	trace   []string
}

func newSimCluster(seed uint64, nodes int, confChange, tracing bool) *simCluster {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	c := &simCluster{seed: seed, rng: rng, p: drawSimParams(rng, nodes, confChange), tracing: tracing}
	c.net = &simNet{c: c, params: c.p.net}
	voters := make([]uint64, nodes)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	c.hist = newSimHistory(voters)
	for _, id := range voters {
		n := c.addNode(id)
		// Bootstrap: a snapshot at index 1 listing the voters (doc.go).
		snap := eraftpb.Snapshot{
			Data:     smSnapshotData(1, bootstrapHash(voters)),
			Metadata: &eraftpb.SnapshotMetadata{Index: 1, Term: 1, ConfState: &eraftpb.ConfState{Voters: voters}},
		}
		n.durable = &simLog{snap: snap, snapHash: bootstrapHash(voters), offset: 1, offsetTerm: 1, offsetHash: bootstrapHash(voters)}
	}
	c.nextID = uint64(nodes + 1)
	c.tracef("params %s", c.p)
	return c
}

func (c *simCluster) tracef(format string, args ...any) {
	if !c.tracing {
		return
	}
	c.trace = append(c.trace, fmt.Sprintf("%5d ", c.step)+fmt.Sprintf(format, args...))
}

func (c *simCluster) addNode(id uint64) *simNode {
	n := &simNode{c: c, id: id, durable: newEmptySimLog()}
	c.nodes = append(c.nodes, n)
	slices.SortFunc(c.nodes, func(a, b *simNode) int { return cmp.Compare(a.id, b.id) })
	return n
}

func (c *simCluster) node(id uint64) *simNode {
	i, ok := slices.BinarySearchFunc(c.nodes, id, func(n *simNode, id uint64) int { return cmp.Compare(n.id, id) })
	if !ok {
		return nil
	}
	return c.nodes[i]
}

// liveIDs returns the nodes that are part of the cluster's life: up or
// crashed, not decommissioned.
func (c *simCluster) liveIDs() []uint64 {
	var ids []uint64
	for _, n := range c.nodes {
		if !n.decommissioned {
			ids = append(ids, n.id)
		}
	}
	return ids
}

func sortedIDs(ids []uint64) []uint64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// randomNode returns a random node matching ok, or nil.
func (c *simCluster) randomNode(ok func(*simNode) bool) *simNode {
	var cands []*simNode
	for _, n := range c.nodes {
		if ok(n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[c.rng.IntN(len(cands))]
}

func isUp(n *simNode) bool { return n.up }

// The events of the fault phase and their weights.
type simEvent int

const (
	evDeliver simEvent = iota
	evTick
	evPropose
	evRead
	evTransfer
	evCrash
	evRestart
	evPartition
	evSnapshot
	evSync
	evReady
	evConfChange
	numSimEvents
)

func (c *simCluster) weights() [numSimEvents]float64 {
	var w [numSimEvents]float64
	w[evDeliver] = 50
	w[evTick] = 10
	w[evPropose] = 8
	w[evRead] = 2
	w[evTransfer] = 0.3
	w[evCrash] = c.p.wCrash
	w[evRestart] = 1
	w[evPartition] = c.p.wPartition
	w[evSnapshot] = c.p.wSnapshot
	w[evSync] = 2
	w[evReady] = 5
	if c.p.confChange {
		w[evConfChange] = 1
	}
	return w
}

// runStep performs one random event, lets nodes handle their Readys, and
// checks the invariants.
func (c *simCluster) runStep(w *[numSimEvents]float64, total float64) {
	c.step++
	r := c.rng.Float64() * total
	ev := evDeliver
	for i, x := range w {
		if r < x {
			ev = simEvent(i)
			break
		}
		r -= x
	}
	switch ev {
	case evDeliver:
		c.net.deliverSome(1 + c.rng.IntN(4))
	case evTick:
		// Mostly a clock tick everywhere; sometimes one node's clock runs
		// ahead (not with leases, which assume clocks run at one rate).
		if c.p.leaseRead || c.rng.IntN(2) == 0 {
			for _, n := range c.nodes {
				if n.up {
					n.tick()
				}
			}
		} else if n := c.randomNode(isUp); n != nil {
			n.tick()
		}
	case evPropose:
		if n := c.randomNode(isUp); n != nil {
			c.nextProposal++
			data := make([]byte, 8+c.rng.IntN(200))
			copy(data, fmt.Sprintf("p%d.", c.nextProposal))
			n.propose(data)
		}
	case evRead:
		if n := c.randomNode(isUp); n != nil {
			c.nextRead++
			ctx := fmt.Sprintf("r%d", c.nextRead)
			c.hist.reads[ctx] = c.hist.lastCommitted()
			c.tracef("node %d ReadIndex %s floor=%d", n.id, ctx, c.hist.lastCommitted())
			n.rn.ReadIndex([]byte(ctx))
			n.observe()
			c.stats.reads++
		}
	case evTransfer:
		if n := c.randomNode(isUp); n != nil && len(n.conf.Voters) > 0 {
			to := n.conf.Voters[c.rng.IntN(len(n.conf.Voters))]
			c.tracef("node %d TransferLeader %d", n.id, to)
			n.rn.TransferLeader(to)
			n.observe()
		}
	case evCrash:
		// Half the crashes hit the leader: that is where the hard cases
		// are (a new leader must recover entries the old one left on a
		// minority).
		n := c.leader()
		if n == nil || c.rng.IntN(2) == 0 {
			n = c.randomNode(isUp)
		}
		if n != nil {
			n.crash()
		}
	case evRestart:
		if n := c.randomNode(func(n *simNode) bool { return !n.up && !n.decommissioned }); n != nil {
			n.start()
		}
	case evPartition:
		if c.net.side == nil {
			var isolate *simNode
			if c.rng.IntN(2) == 0 {
				isolate = c.leader()
			}
			c.net.partition(isolate)
		} else {
			c.net.heal()
		}
	case evSnapshot:
		if n := c.randomNode(isUp); n != nil {
			n.snapshot(min(c.p.compactKeep, n.smIndex))
		}
	case evSync:
		if n := c.randomNode(isUp); n != nil {
			n.sync()
		}
	case evReady:
		if n := c.randomNode(isUp); n != nil {
			n.handleReady()
		}
	case evConfChange:
		if n := c.randomNode(isUp); n != nil {
			c.proposeConfChange(n)
		}
	}
	for _, n := range c.nodes {
		if n.up && c.rng.Float64() < c.p.readyProb {
			n.handleReady()
		}
	}
	c.checkStep()
}

// checkStep runs the invariants that are not checked where state changes.
func (c *simCluster) checkStep() {
	if !c.p.confChange {
		c.hist.checkDurableMajority(c.nodes)
	}
}

// proposeConfChange has node n propose a membership change: add a fresh
// node, mostly as a learner and sometimes directly as a voter; promote a
// learner; remove a learner or a voter.
//
// Adding and removing voters is judged by the most recent configuration any
// node applied (a proposal may still be stale by the time the leader takes
// it: the leader arbitrates, so the size of the configuration drifts a
// little). Promoting or removing a learner is proposed by the leader only,
// judged by its own configuration, as a placement driver does through the
// region's leader: a stale promotion forwarded from a follower could land
// after the learner's removal and bring its ID back, which no application
// does (a removed member's ID is never reused).
func (c *simCluster) proposeConfChange(n *simNode) {
	latest := n
	for _, m := range c.nodes {
		if m.up && m.smIndex > latest.smIndex {
			latest = m
		}
	}
	voters, learners := latest.conf.Voters, latest.conf.Learners
	if len(voters) == 0 {
		return
	}
	fresh := func(t eraftpb.ConfChangeType) eraftpb.ConfChange {
		c.nextID++
		return eraftpb.ConfChange{ChangeType: t, NodeId: c.nextID - 1}
	}
	leads := n.rn.Status().SoftState.RaftState == raft.StateLeader
	own := n.conf.Learners
	var cc eraftpb.ConfChange
	switch r := c.rng.IntN(10); {
	case leads && len(own) > 0 && r < 5:
		cc = eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_AddNode, NodeId: own[c.rng.IntN(len(own))]}
	case leads && len(own) > 0 && (r < 6 || len(voters)+len(learners) >= 6):
		cc = eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: own[c.rng.IntN(len(own))]}
	case len(voters)+len(learners) >= 6:
		return // room only for promotions and removals of learners
	case len(voters) <= 3 || (len(voters) < 5 && r < 8):
		if r%4 == 0 {
			cc = fresh(eraftpb.ConfChangeType_AddNode)
		} else {
			cc = fresh(eraftpb.ConfChangeType_AddLearnerNode)
		}
	default:
		cc = eraftpb.ConfChange{ChangeType: eraftpb.ConfChangeType_RemoveNode, NodeId: voters[c.rng.IntN(len(voters))]}
	}
	err := n.rn.ProposeConfChange(cc)
	c.tracef("node %d ProposeConfChange %s: %v", n.id, raft.DescribeConfChange(cc), err)
	// A change judged against a configuration the leader has moved past
	// may be invalid by now (removing the last voter): refused, not fatal.
	if err != nil && !errors.Is(err, raft.ErrProposalDropped) && !errors.Is(err, raft.ErrInvalidConfChange) {
		failf("node %d: ProposeConfChange %s: %v", n.id, raft.DescribeConfChange(cc), err)
	}
	n.observe()
}

// committedConfChange is called when a conf change entry is applied for the
// first time anywhere, i.e. it is committed: start an added node (empty
// storage, it learns everything from the leader's snapshot; a promoted
// learner runs already), stop a removed one for good.
func (c *simCluster) committedConfChange(cc eraftpb.ConfChange) {
	c.stats.confChanges++
	switch cc.ChangeType {
	case eraftpb.ConfChangeType_AddNode, eraftpb.ConfChangeType_AddLearnerNode:
		if cc.ChangeType == eraftpb.ConfChangeType_AddLearnerNode {
			c.stats.learners++
		} else if c.node(cc.NodeId) != nil {
			c.stats.promotions++
		}
		if c.node(cc.NodeId) == nil {
			c.tracef("start added node %d", cc.NodeId)
			c.addNode(cc.NodeId).start()
		}
	case eraftpb.ConfChangeType_RemoveNode:
		if n := c.node(cc.NodeId); n != nil && !n.decommissioned {
			// The removed node keeps running for a while (it may be the
			// leader, which hands off); it is stopped at heal time or
			// when it crashes.
			n.removed = true
		}
	}
}

// heal ends the fault phase: the network becomes reliable and whole,
// removed nodes are decommissioned and every other node is brought up.
func (c *simCluster) heal() {
	c.tracef("heal everything")
	c.net.heal()
	c.net.params = simNetParams{}
	for _, n := range c.nodes {
		if n.removed && !n.decommissioned {
			if n.up {
				n.crash()
			}
			n.decommissioned = true
		}
	}
	for _, n := range c.nodes {
		if !n.up && !n.decommissioned {
			n.start()
		}
	}
}

// stabilize handles every Ready and delivers every deliverable message until
// the cluster is quiet. A follower far behind a leader that sends one entry
// per message with a window of one catches up one entry per round, hence
// the generous limit.
func (c *simCluster) stabilize() {
	for range 100000 {
		busy := false
		for _, n := range c.nodes {
			if n.up && n.rn.HasReady() {
				n.handleReady()
				busy = true
			}
		}
		if c.net.deliverAll(10000) > 0 {
			busy = true
		}
		if !busy {
			return
		}
	}
	failf("liveness: the cluster does not quiesce without ticks")
}

// livenessBound is the number of ticks within which, once all faults are
// healed, a leader must be elected and a fresh proposal applied everywhere.
// An election takes a randomized timeout of up to 2*ElectionTick, and a
// split vote or a node that bumped its term while partitioned may cost
// another round or two. Over 1,500 runs of 10,000 steps the slowest took
// 3.1*ElectionTick (before the fixes in raft.go of TestSimStale*, runs
// without pre-vote took up to 8.9 and more).
func (c *simCluster) livenessBound() int { return 10 * c.p.electionTick }

// checkLiveness heals everything and requires progress within the bound.
func (c *simCluster) checkLiveness() {
	c.heal()
	c.livePayload = fmt.Sprintf("liveness-%d", c.seed)
	bound := c.livenessBound()
	proposedAt := -1
	for tick := 1; tick <= bound; tick++ {
		c.step++
		for _, n := range c.nodes {
			if n.up {
				n.tick()
			}
		}
		c.stabilize()
		if lead := c.leader(); lead != nil && (proposedAt < 0 || tick-proposedAt > 2*c.p.electionTick) {
			c.tracef("liveness: propose on leader %d", lead.id)
			if lead.propose([]byte(c.livePayload)) {
				proposedAt = tick
			}
			c.stabilize()
		}
		c.checkStep()
		if c.liveIndex != 0 && c.allApplied(c.liveIndex) {
			c.stats.livenessTicks = tick
			return
		}
	}
	var b strings.Builder
	for _, n := range c.nodes {
		if n.up {
			st := n.rn.Status()
			fmt.Fprintf(&b, "\n  %s", strings.TrimSpace(st.String()))
		}
	}
	failf("liveness: %d ticks after healing, the fresh proposal is not applied on every voter (applied at index %d somewhere: %t); status:%s",
		bound, c.liveIndex, c.liveIndex != 0, b.String())
}

// leader returns the leader of the highest term among up nodes, or nil.
func (c *simCluster) leader() *simNode {
	var lead *simNode
	var term uint64
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		st := n.rn.Status()
		if st.SoftState.RaftState == raft.StateLeader && st.HardState.Term > term {
			lead, term = n, st.HardState.Term
		}
	}
	return lead
}

// allApplied reports whether every voter and learner of the latest
// configuration has applied index i (learners receive the log too).
func (c *simCluster) allApplied(i uint64) bool {
	var latest *simNode
	for _, n := range c.nodes {
		if n.up && (latest == nil || n.smIndex > latest.smIndex) {
			latest = n
		}
	}
	if latest == nil {
		return false
	}
	for _, id := range append(slices.Clone(latest.conf.Voters), latest.conf.Learners...) {
		n := c.node(id)
		if n == nil || !n.up || n.smIndex < i {
			return false
		}
	}
	return true
}
