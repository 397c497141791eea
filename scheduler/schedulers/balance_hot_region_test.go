package schedulers

import (
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/scheduler/hot"
	mc "github.com/regionkv/regionkv/scheduler/internal/mockcluster"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// reads is q gets/s of 100 bytes each; writes b bytes/s in puts of 1 KiB.
func reads(q float64) hot.Loads {
	var l hot.Loads
	l[hot.Read] = [3]float64{q * 100, q, q}
	return l
}

func writes(b float64) hot.Loads {
	var l hot.Loads
	l[hot.Write] = [3]float64{b, b / 1024, b / 1024}
	return l
}

// loaded is regions(first, n, stores...) each with load l.
func loaded(l hot.Loads, first uint64, n int, stores ...uint64) []mc.Region {
	rs := regions(first, n, stores...)
	for i := range rs {
		rs[i].Load = l
	}
	return rs
}

// leaderLoad is an influence moving l's leader load from store from to
// store to (as a transfer in flight would).
func leaderLoad(l hot.Loads, from, to uint64) operator.Influence {
	inf := operator.Influence{from: {}, to: {}}
	inf[from].LeaderLoad.Add(l, -1)
	inf[to].LeaderLoad.Add(l, 1)
	return inf
}

func TestBalanceHotRegion(t *testing.T) {
	up4 := []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	const mib = 1 << 20
	runCases(t, func() Scheduler { return NewBalanceHotRegion(mc.Rand()) }, []schedCase{
		{
			name: "hot read leaders on one store go to a follower's store", stores: up3,
			regions: loaded(reads(1000), 1, 4, 1, 2, 3),
			want:    "transfer leader from store 1 to store 2",
		},
		{
			name: "a lone hot region stays: moving it only moves the hot spot", stores: up3,
			regions: loaded(reads(1000), 1, 1, 1, 2, 3),
			why:     "less than twice the unit",
		},
		{
			name: "transfers in flight count: the gap left is one region", stores: up3,
			regions: loaded(reads(1000), 1, 4, 1, 2, 3),
			inf:     mergeInf(leaderLoad(reads(1000), 1, 2), leaderLoad(reads(1000), 1, 3)),
			why:     "less than twice the unit",
		},
		{
			name:   "read leaders balanced among the stores holding them: the leader's replica moves to the idle store",
			stores: up4,
			regions: concat(loaded(reads(1000), 1, 4, 1, 2, 3), loaded(reads(1000), 10, 4, 2, 3, 1),
				loaded(reads(1000), 20, 4, 3, 1, 2)),
			want: "add learner 1001 on store 4",
		},
		{
			name: "hot write replicas move to the store without any", stores: up4,
			regions: concat(loaded(writes(mib), 1, 2, 1, 2, 3), loaded(writes(mib), 10, 2, 2, 3, 1)),
			want:    "add learner 1001 on store 4",
		},
		{
			name: "hot write leaders spread when every store holds every replica", stores: up3,
			regions: loaded(writes(mib), 1, 4, 1, 2, 3),
			want:    "transfer leader from store 1 to store 2",
		},
		{
			name: "regions with operators are skipped", stores: up3,
			regions: loaded(reads(1000), 1, 4, 1, 2, 3), busy: []uint64{1, 2, 3, 4},
			why: "no movable hot region",
		},
		{
			name: "unhealthy regions are skipped", stores: up3,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}, Pending: []uint64{2}, Load: reads(1000)},
				{ID: 2, Stores: []uint64{1, 2, 3}, Down: []uint64{3}, Load: reads(1000)},
				{ID: 3, Stores: []uint64{1, 2, 3}, Pending: []uint64{3}, Load: reads(1000)}},
			why: "no movable hot region",
		},
		{
			name:    "a down store takes nothing",
			stores:  []mc.Store{{ID: 1}, {ID: 2, State: "down"}, {ID: 3}},
			regions: loaded(reads(1000), 1, 4, 1, 2, 3),
			want:    "transfer leader from store 1 to store 3",
		},
		{
			name: "regions below the hot minimum are no hot regions", stores: up3,
			regions: concat(loaded(reads(10), 1, 4, 1, 2, 3), regions(10, 4, 1, 2, 3)),
			why:     "no hot region (4 regions with a known load)",
		},
		{
			name: "balanced", stores: up3,
			regions: concat(loaded(reads(1000), 1, 2, 1, 2, 3), loaded(reads(1000), 10, 2, 2, 3, 1),
				loaded(reads(1000), 20, 2, 3, 1, 2)),
			why: "balanced: read leaders by queries: store 3 -> 1: gap 0.00 is less than twice the unit moved (1000.00); write: no hot region",
		},
	})
}

func mergeInf(a, b operator.Influence) operator.Influence {
	out := operator.Influence{}
	for _, in := range []operator.Influence{a, b} {
		for id, s := range in {
			if out[id] == nil {
				out[id] = &operator.StoreInfluence{}
			}
			out[id].LeaderLoad.Add(s.LeaderLoad, 1)
			out[id].PeerLoad.Add(s.PeerLoad, 1)
		}
	}
	return out
}

// TestBalanceHotRegionAlternatesKinds: with both read and write load out of
// balance, one run moves a read region's leader and the next a write
// region's replica, so neither kind starves the other.
func TestBalanceHotRegionAlternatesKinds(t *testing.T) {
	c := mc.New([]mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
		concat(loaded(reads(1000), 1, 4, 1, 2, 3), loaded(writes(1<<20), 10, 3, 2, 3, 1)))
	s := NewBalanceHotRegion(mc.Rand())
	var got []string
	for range 2 {
		ops, why := s.Schedule(c, operator.Influence{}, mc.Options(3))
		if len(ops) != 1 {
			t.Fatalf("no operator: %s", why)
		}
		if ops[0].Kind&operator.KindHot == 0 {
			t.Fatalf("kind %s", ops[0].Kind)
		}
		got = append(got, stepsOf(ops[0]))
	}
	if !strings.Contains(got[0], "transfer leader from store 1") || strings.Contains(got[0], "add learner") {
		t.Errorf("first run: %s, want a read leader transfer off store 1", got[0])
	}
	if !strings.Contains(got[1], "add learner 1001 on store 4") {
		t.Errorf("second run: %s, want a write replica onto store 4", got[1])
	}
}

// countingCluster counts the reads of every region's load.
type countingCluster struct {
	*mc.Cluster
	reads int
}

func (c *countingCluster) RegionLoads() []hot.RegionStat {
	c.reads++
	return c.Cluster.RegionLoads()
}

// TestBalanceHotRegionRechecksAfterAWhile: a run that found the stores
// balanced stands for a second (it reads every region's load; loads move
// only with heartbeats); one that moved something does not.
func TestBalanceHotRegionRechecksAfterAWhile(t *testing.T) {
	c := &countingCluster{Cluster: mc.New(up3, loaded(reads(1000), 1, 1, 1, 2, 3))}
	s := NewBalanceHotRegion(mc.Rand())
	o := mc.Options(3)
	_, why := s.Schedule(c, operator.Influence{}, o)
	if _, again := s.Schedule(c, operator.Influence{}, o); again != why || c.reads != 1 {
		t.Fatalf("second run within a second: %q (first %q), %d reads", again, why, c.reads)
	}
	o.Now = o.Now.Add(time.Second)
	if _, again := s.Schedule(c, operator.Influence{}, o); !strings.HasPrefix(again, "balanced: ") || c.reads != 2 {
		t.Fatalf("run a second later: %q, %d reads", again, c.reads)
	}
	busy := &countingCluster{Cluster: mc.New(up3, loaded(reads(1000), 1, 4, 1, 2, 3))}
	s = NewBalanceHotRegion(mc.Rand())
	for range 2 {
		if ops, why := s.Schedule(busy, operator.Influence{}, o); len(ops) != 1 {
			t.Fatalf("no operator: %s", why)
		}
	}
	if busy.reads != 2 {
		t.Fatalf("%d reads, want one per run while there is work", busy.reads)
	}
}
