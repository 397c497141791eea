package schedulers

import (
	"errors"
	"strings"
	"testing"
	"time"

	mc "github.com/regionkv/regionkv/scheduler/internal/mockcluster"
	"github.com/regionkv/regionkv/scheduler/operator"
)

func stepsOf(op *operator.Operator) string {
	var parts []string
	for _, s := range op.Steps() {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, "; ")
}

// regions builds n regions whose peers are on stores, with IDs from first.
func regions(first uint64, n int, stores ...uint64) []mc.Region {
	var out []mc.Region
	for i := range n {
		out = append(out, mc.Region{ID: first + uint64(i), Stores: stores})
	}
	return out
}

func concat(rs ...[]mc.Region) []mc.Region {
	var out []mc.Region
	for _, r := range rs {
		out = append(out, r...)
	}
	return out
}

type schedCase struct {
	name    string
	stores  []mc.Store
	regions []mc.Region
	busy    []uint64 // regions that already have operators
	inf     operator.Influence
	want    string // substring of the operator's steps, or "" for none
	why     string // substring of the reason when want is ""
}

func runCases(t *testing.T, mk func() Scheduler, cases []schedCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mc.New(tc.stores, tc.regions)
			for _, id := range tc.busy {
				c.Busy[id] = true
			}
			inf := tc.inf
			if inf == nil {
				inf = operator.Influence{}
			}
			ops, why := mk().Schedule(c, inf, mc.Options(3))
			switch {
			case tc.want != "" && len(ops) == 0:
				t.Fatalf("no operator (%s), want %s", why, tc.want)
			case tc.want != "" && !strings.Contains(stepsOf(ops[0]), tc.want):
				t.Fatalf("operator %q, want %q", stepsOf(ops[0]), tc.want)
			case tc.want == "" && len(ops) > 0:
				t.Fatalf("unexpected operator %s", stepsOf(ops[0]))
			case tc.want == "" && !strings.Contains(why, tc.why):
				t.Fatalf("reason %q does not contain %q", why, tc.why)
			}
		})
	}
}

var up3 = []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}}

func TestBalanceLeader(t *testing.T) {
	runCases(t, func() Scheduler { return NewBalanceLeader(mc.Rand()) }, []schedCase{
		{
			name: "all leaders on store 1 move to the emptiest", stores: up3,
			regions: concat(regions(1, 6, 1, 2, 3), regions(100, 1, 2, 1, 3)),
			want:    "transfer leader from store 1 to store 3",
		},
		{
			name: "balanced", stores: up3,
			regions: concat(regions(1, 2, 1, 2, 3), regions(10, 2, 2, 3, 1), regions(20, 2, 3, 1, 2)),
			why:     "balanced",
		},
		{
			name: "a gap of one leader is not worth a move", stores: up3,
			regions: concat(regions(1, 2, 1, 2, 3), regions(10, 1, 2, 3, 1), regions(20, 2, 3, 1, 2)),
			why:     "less than twice the unit",
		},
		{
			name: "pending transfers count: influence already evens it out", stores: up3,
			regions: regions(1, 4, 1, 2, 3),
			inf:     operator.Influence{1: {LeaderCount: -2}, 2: {LeaderCount: 1}, 3: {LeaderCount: 1}},
			why:     "balanced",
		},
		{
			name:    "busy target is filtered",
			stores:  []mc.Store{{ID: 1}, {ID: 2, State: "busy"}, {ID: 3}},
			regions: regions(1, 6, 1, 2, 3),
			want:    "to store 3",
		},
		{
			name:    "down and disconnected stores take no leaders",
			stores:  []mc.Store{{ID: 1}, {ID: 2, State: "down"}, {ID: 3, State: "disconnected"}},
			regions: regions(1, 6, 1, 2, 3),
			why:     "need 1 and 2",
		},
		{
			name: "regions with operators are skipped", stores: up3,
			regions: regions(1, 6, 1, 2, 3), busy: []uint64{1, 2, 3, 4, 5, 6},
			why: "no leader region",
		},
	})
}

func TestBalanceRegion(t *testing.T) {
	up4 := []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	runCases(t, func() Scheduler { return NewBalanceRegion(mc.Rand()) }, []schedCase{
		{
			name: "new empty store receives a replica", stores: up4,
			regions: regions(1, 8, 1, 2, 3),
			want:    "add learner 1001 on store 4",
		},
		{
			name:    "low-space store receives nothing",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, State: "lowspace"}},
			regions: regions(1, 8, 1, 2, 3),
			why:     "balanced",
		},
		{
			name:    "offline store is no target",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, State: "offline"}},
			regions: regions(1, 8, 1, 2, 3),
			why:     "balanced",
		},
		{
			name: "balanced", stores: up4,
			regions: concat(regions(1, 2, 1, 2, 3), regions(10, 2, 2, 3, 4), regions(20, 2, 3, 4, 1), regions(30, 2, 4, 1, 2)),
			why:     "balanced",
		},
		{
			name: "pending moves count", stores: up4,
			regions: regions(1, 8, 1, 2, 3),
			inf: operator.Influence{4: {RegionSize: 6, RegionCount: 6}, 1: {RegionSize: -2}, 2: {RegionSize: -2},
				3: {RegionSize: -2}},
			why: "balanced",
		},
		{
			name: "unhealthy regions are not moved", stores: up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}, Pending: []uint64{2}}, {ID: 2, Stores: []uint64{1, 2, 3}, Down: []uint64{3}}, {ID: 3, Stores: []uint64{1, 2}}},
			why:     "no movable region",
		},
		{
			// Store 3 went silent a few seconds ago; the regions' leaders do
			// not report its peers down yet. Moving one of their other
			// replicas away from the loaded store 1 could leave them one
			// live replica of two.
			name:    "regions with a replica on a silent store are not moved",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "disconnected"}, {ID: 4}, {ID: 5}},
			regions: regions(1, 6, 1, 2, 3),
			why:     "no movable region",
		},
		{
			name: "moving the leader's replica transfers leadership first", stores: up4,
			regions: regions(1, 8, 1, 2, 3),
			want:    "transfer leader from store 1 to store 4",
		},
	})
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(Builtin(), 7)
	now := time.Unix(100, 0)
	if err := r.Add("balance-leader"); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("balance-leader"); err == nil {
		t.Fatal("added twice")
	}
	if err := r.Add("nope"); err == nil {
		t.Fatal("added unknown")
	}
	if err := r.Add("balance-region"); err != nil {
		t.Fatal(err)
	}
	if got := len(r.Runnable(now)); got != 2 {
		t.Fatalf("runnable %d", got)
	}
	if err := r.Pause("balance-region", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if rs := r.Runnable(now); len(rs) != 1 || rs[0].Name() != "balance-leader" {
		t.Fatalf("runnable while paused: %v", rs)
	}
	if rs := r.Runnable(now.Add(2 * time.Minute)); len(rs) != 2 {
		t.Fatal("pause did not expire")
	}
	r.Record("balance-leader", now, 0, "balanced: x")
	if l := r.List(now); len(l) != 2 || !l[1].Paused || l[0].LastReason != "balanced: x" {
		t.Fatalf("list %+v", l)
	}
	if err := r.Remove("balance-leader"); err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); len(got) != 1 || got[0] != "balance-region" {
		t.Fatalf("names %v", got)
	}
}

func TestRegistryPauseBounds(t *testing.T) {
	r := NewRegistry(Builtin(), 1)
	if err := r.Add(BalanceLeaderName); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	for _, d := range []time.Duration{-time.Second, MaxPause + time.Second} {
		if err := r.Pause(BalanceLeaderName, now, d); !errors.Is(err, ErrBadPause) {
			t.Fatalf("pause %s: %v", d, err)
		}
	}
	if err := r.Pause(BalanceLeaderName, now, MaxPause); err != nil || len(r.Runnable(now.Add(MaxPause-time.Second))) != 0 {
		t.Fatalf("pause for MaxPause: %v", err)
	}
}
