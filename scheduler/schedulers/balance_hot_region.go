package schedulers

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// BalanceHotRegionName names the balance-hot-region scheduler.
const BalanceHotRegionName = "balance-hot-region"

// balanceHotRegion moves hot regions' leaders and replicas off the stores
// that bear the most load, reads and writes separately, by requests and by
// bytes per second (package hot). Reads are served by leaders: it moves a
// hot read region's leadership to a follower's store, or failing that its
// leader's replica to another store. Writes are applied by every replica:
// it moves a hot write region's replica, or failing that its leadership
// (the leader proposes every write).
//
// The rules are balance-leader's and balance-region's, with a region's load
// as the unit: a store's score is the sum of its regions' loads plus what
// the operators in flight move (their pending influence: operators this
// scheduler builds carry their region's load); a move must narrow the gap
// between source and target without reversing it (the gap at least twice
// the region's load) and the gap must exceed tolerance of the mean. A lone
// hot region never moves: wherever it is, its store is the hottest.
type balanceHotRegion struct {
	rng  *rand.Rand
	runs int // alternates which kind goes first
	// A run that found nothing to move is not repeated for
	// hotRecheckInterval: it reads every region's load, and loads change
	// only with heartbeats.
	balancedAt  time.Time
	balancedWhy string
}

// hotRecheckInterval is how long a balanced verdict stands.
const hotRecheckInterval = time.Second

// NewBalanceHotRegion returns a balance-hot-region scheduler.
func NewBalanceHotRegion(rng *rand.Rand) Scheduler { return &balanceHotRegion{rng: rng} }

func (*balanceHotRegion) Name() string        { return BalanceHotRegionName }
func (*balanceHotRegion) Kind() operator.Kind { return operator.KindHot }

// hotMove is one way of moving load: the kind and dimension balanced, and
// whether leadership moves (else a replica does).
type hotMove struct {
	kind   hot.Kind
	dim    hot.Dim
	leader bool
}

func (m hotMove) String() string {
	what := "replicas"
	if m.leader {
		what = "leaders"
	}
	return fmt.Sprintf("%s %s by %s", m.kind, what, m.dim)
}

// readMoves and writeMoves are tried in order: requests first for reads
// (a read's cost is mostly per request), bytes first for writes (every
// byte is replicated, logged and applied on every replica).
var (
	readMoves = []hotMove{{hot.Read, hot.Queries, true}, {hot.Read, hot.Bytes, true},
		{hot.Read, hot.Queries, false}, {hot.Read, hot.Bytes, false}}
	writeMoves = []hotMove{{hot.Write, hot.Bytes, false}, {hot.Write, hot.Queries, false},
		{hot.Write, hot.Queries, true}, {hot.Write, hot.Bytes, true}}
)

// hotState is one run's view: the regions' loads and the stores' scores.
type hotState struct {
	c       Cluster
	o       *filter.Options
	regions []hot.RegionStat
	// Store loads, with the pending influence.
	leader, peer map[uint64]hot.Loads
	sources      []*cluster.StoreInfo
	leaderDst    []*cluster.StoreInfo
	peerDst      []*cluster.StoreInfo
	alive        map[uint64]bool
}

func (b *balanceHotRegion) Schedule(c Cluster, inf operator.Influence, o *filter.Options) ([]*operator.Operator, string) {
	if !b.balancedAt.IsZero() && o.Now.Sub(b.balancedAt) < hotRecheckInterval {
		return nil, b.balancedWhy
	}
	ops, why := b.schedule(c, inf, o)
	b.balancedAt, b.balancedWhy = time.Time{}, ""
	if len(ops) == 0 {
		b.balancedAt, b.balancedWhy = o.Now, why
	}
	return ops, why
}

func (b *balanceHotRegion) schedule(c Cluster, inf operator.Influence, o *filter.Options) ([]*operator.Operator, string) {
	st := &hotState{c: c, o: o, leader: map[uint64]hot.Loads{}, peer: map[uint64]hot.Loads{}, alive: map[uint64]bool{}}
	hotCount := [2]int{}
	all := c.RegionLoads()
	for _, r := range all {
		for _, k := range hot.Kinds {
			if r.Hot[k] {
				hotCount[k]++
			}
		}
		for _, id := range r.Stores {
			l := st.peer[id]
			l.Add(hot.PeerLoads(r.Loads, id == r.LeaderStore), 1)
			st.peer[id] = l
		}
		l := st.leader[r.LeaderStore]
		l.Add(r.Loads, 1)
		st.leader[r.LeaderStore] = l
	}
	if hotCount[hot.Read]+hotCount[hot.Write] == 0 {
		return nil, fmt.Sprintf("no hot region (%d regions with a known load)", len(all))
	}
	st.regions = all
	stores := c.GetStores()
	for _, s := range stores {
		id := s.ID()
		st.alive[id] = s.Alive(o.Now, o.Thresholds)
		i := inf.Of(id)
		l, p := st.leader[id], st.peer[id]
		l.Add(i.LeaderLoad, 1)
		p.Add(i.PeerLoad, 1)
		st.leader[id], st.peer[id] = l, p
	}
	st.sources, _ = filter.Apply(o, stores, filter.Source...)
	st.leaderDst, _ = filter.Apply(o, stores, filter.LeaderTarget...)
	st.peerDst, _ = filter.Apply(o, stores, filter.RegionTarget...)
	if len(st.sources) == 0 || len(st.leaderDst)+len(st.peerDst) == 0 {
		return nil, "no source or target store"
	}
	order := [][]hotMove{readMoves, writeMoves}
	if b.runs%2 == 1 {
		order[0], order[1] = order[1], order[0]
	}
	b.runs++
	var why []string
	for _, moves := range order {
		kind := moves[0].kind
		if hotCount[kind] == 0 {
			why = append(why, fmt.Sprintf("%s: no hot region", kind))
			continue
		}
		var last string
		for _, m := range moves {
			op, w := st.try(m)
			if op != nil {
				return []*operator.Operator{op}, ""
			}
			if last == "" {
				last = fmt.Sprintf("%s: %s", m, w)
			}
		}
		why = append(why, last)
	}
	return nil, "balanced: " + strings.Join(why, "; ")
}

// score is a store's load for m.
func (st *hotState) score(m hotMove, id uint64) float64 {
	if m.leader || m.kind == hot.Read {
		// Read load sits on leaders; moving a read region's replica moves
		// its leader's.
		l := st.leader[id]
		return l[m.kind][m.dim]
	}
	l := st.peer[id]
	return l[m.kind][m.dim]
}

// try looks for one operator moving load as m says; else says why not.
func (st *hotState) try(m hotMove) (*operator.Operator, string) {
	targets := st.peerDst
	if m.leader {
		targets = st.leaderDst
	}
	score := func(s *cluster.StoreInfo) float64 { return st.score(m, s.ID()) }
	srcRank, dstRank := rank(st.sources, score, true), rank(targets, score, false)
	if len(dstRank) == 0 {
		return nil, "no target store"
	}
	avg := mean(dstRank)
	lastWhy := ""
	for _, src := range srcRank {
		if src.score <= 0 {
			break
		}
		for _, r := range st.candidates(m, src.s.ID()) {
			ri := st.c.GetRegion(r.RegionID)
			if ri == nil || ri.Leader() == nil || st.c.HasOperator(r.RegionID) || len(ri.PendingPeers()) > 0 ||
				len(ri.DownPeers()) > 0 || ri.StorePeer(src.s.ID()) == nil {
				continue
			}
			if (m.leader || m.kind == hot.Read) && ri.LeaderStoreID() != src.s.ID() {
				continue // the load moved is the leader's
			}
			if !m.leader && (len(ri.Peers()) != st.o.MaxReplicas || st.silentPeer(ri)) {
				continue
			}
			unit := r.Loads[m.kind][m.dim]
			for _, dst := range dstRank {
				if dst.s.ID() == src.s.ID() || (ri.StorePeer(dst.s.ID()) != nil) != m.leader {
					continue
				}
				ok, why := worthMoving(src.score, dst.score, unit, avg, st.o.Tolerance)
				if !ok {
					// Targets are ranked least loaded first: a later one
					// narrows the gap less.
					lastWhy = fmt.Sprintf("store %d -> %d: %s", src.s.ID(), dst.s.ID(), why)
					break
				}
				op, err := st.build(m, ri, src.s.ID(), dst.s.ID())
				if err != nil {
					lastWhy = err.Error()
					continue
				}
				op.SetLoad(r.Loads)
				return op, ""
			}
		}
	}
	if lastWhy == "" {
		lastWhy = "no movable hot region on a store above the others"
	}
	return nil, lastWhy
}

// candidates are the regions hot for m's kind that store src could give
// up, the busiest in m's dimension first.
func (st *hotState) candidates(m hotMove, src uint64) []hot.RegionStat {
	var out []hot.RegionStat
	for _, r := range st.regions {
		if !r.Hot[m.kind] || r.Loads[m.kind][m.dim] <= 0 {
			continue
		}
		for _, id := range r.Stores {
			if id == src {
				out = append(out, r)
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Loads[m.kind][m.dim] > out[j].Loads[m.kind][m.dim] })
	return out
}

// silentPeer: a region with a replica on a store not heard from lately is
// not moved for balance (see balance-region).
func (st *hotState) silentPeer(r *cluster.RegionInfo) bool {
	for _, p := range r.Peers() {
		if !st.alive[p.StoreId] {
			return true
		}
	}
	return false
}

func (st *hotState) build(m hotMove, r *cluster.RegionInfo, src, dst uint64) (*operator.Operator, error) {
	if m.leader {
		return operator.CreateTransferLeader(BalanceHotRegionName, r, dst, operator.KindHot, operator.PriorityLow)
	}
	id, err := st.c.AllocID()
	if err != nil {
		return nil, fmt.Errorf("alloc peer id: %w", err)
	}
	return operator.CreateMovePeer(BalanceHotRegionName, r, src, dst, id, operator.KindHot, operator.PriorityLow)
}
