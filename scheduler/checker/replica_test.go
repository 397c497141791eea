package checker

import (
	"strings"
	"testing"

	mc "github.com/regionkv/regionkv/scheduler/internal/mockcluster"
	"github.com/regionkv/regionkv/scheduler/operator"
)

func stepsOf(op *operator.Operator) string {
	var parts []string
	for _, s := range op.Steps() {
		parts = append(parts, s.String())
	}
	return op.Desc + ": " + strings.Join(parts, "; ")
}

func TestReplicaChecker(t *testing.T) {
	up4 := []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	for _, tc := range []struct {
		name    string
		stores  []mc.Store
		regions []mc.Region // the first is checked; the others load stores
		want    string      // operator, or "" for none
		why     string      // substring of the reason when want is ""
	}{
		{
			name: "healthy", stores: up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}}},
			why:     ReasonHealthy,
		},
		{
			name: "missing replica goes to the emptiest store", stores: up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2}}, {ID: 2, Stores: []uint64{3}}},
			want:    "add-replica: add learner 1001 on store 4; promote learner 1001 on store 4",
		},
		{
			// Right after a scheduler failover, a store only loaded from
			// storage looks Up and empty; it may have been dead for long.
			name:    "missing replica skips a store that has not reported",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, State: "unreported"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2}}, {ID: 2, Stores: []uint64{3}}},
			want:    "add-replica: add learner 1001 on store 3; promote learner 1001 on store 3",
		},
		{
			name:    "missing replica, no store can take it",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "lowspace"}, {ID: 4, State: "busy"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2}}},
			why:     "no store can take one: store 3 is low on space",
		},
		{
			name:    "down store's replica replaced before anything else",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "down"}, {ID: 4}, {ID: 5, State: "offline"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 5, 3}}},
			want:    "replace-down-replica: add learner 1001 on store 2; promote learner 1001 on store 2; remove peer 12 on store 3",
		},
		{
			name:    "peer reported down past max-store-down-time",
			stores:  up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}, Down: []uint64{2}}},
			want:    "replace-down-replica: add learner 1001 on store 4; promote learner 1001 on store 4; remove peer 11 on store 2",
		},
		{
			name:    "disconnected store is not down yet",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "disconnected"}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}}},
			why:     ReasonHealthy,
		},
		{
			name:    "offline leader: add, move leadership to the new peer, remove",
			stores:  []mc.Store{{ID: 1, State: "offline"}, {ID: 2}, {ID: 3}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}}},
			want:    "replace-offline-replica: add learner 1001 on store 4; promote learner 1001 on store 4; transfer leader from store 1 to store 4; remove peer 10 on store 1",
		},
		{
			name:    "down replica with nowhere to go",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "down"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3}}},
			why:     "cannot replace down peer 12 on store 3",
		},
		{
			name:   "extra replica removed from the fullest store",
			stores: up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}},
				{ID: 2, Stores: []uint64{3}}, {ID: 3, Stores: []uint64{3}}, {ID: 4, Stores: []uint64{2}}},
			want: "remove-extra-replica: remove peer 12 on store 3",
		},
		{
			// max-replicas lowered 5 -> 3 while two peers have been down for a
			// minute: the fullest store holds a healthy replica, but removing
			// it would leave 2 healthy of 4. A down one goes first.
			name:   "extra replica: a down one before a healthy one",
			stores: []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4, 5}, RecentlyDown: []uint64{4, 5}},
				{ID: 2, Stores: []uint64{2}, SizeMiB: 50}},
			want: "remove-extra-replica: remove peer 14 on store 5",
		},
		{
			name:   "extra replica: a pending one before a healthy one",
			stores: []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, Pending: []uint64{3}},
				{ID: 2, Stores: []uint64{2}, SizeMiB: 50}},
			want: "remove-extra-replica: remove peer 12 on store 3",
		},
		{
			// Two silent stores: the one silent for longer goes first, even
			// from the emptier store.
			name:   "extra replica: of two dead ones, the one silent longest",
			stores: []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "down"}, {ID: 4, State: "disconnected"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}},
				{ID: 2, Stores: []uint64{4}, SizeMiB: 50}},
			want: "remove-extra-replica: remove peer 12 on store 3",
		},
		{
			// Removing the lagging replica would leave the dead one, which
			// never catches up.
			name:   "extra replica: a dead one before a lagging one",
			stores: []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "disconnected"}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, Pending: []uint64{4}},
				{ID: 2, Stores: []uint64{4}, SizeMiB: 50}},
			want: "remove-extra-replica: remove peer 12 on store 3",
		},
		{
			name:   "extra replica: one on a silent store before a healthy one",
			stores: []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "disconnected"}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}},
				{ID: 2, Stores: []uint64{2}, SizeMiB: 50}},
			want: "remove-extra-replica: remove peer 12 on store 3",
		},
		{
			// Over max-replicas with an offline store and two recently down
			// peers: removing the offline (but live) replica would leave 2
			// healthy of 4; a down one goes first.
			name:    "over max with an offline replica while others are down",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5, State: "offline"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4, 5}, RecentlyDown: []uint64{3, 4}}},
			want:    "remove-extra-replica: remove peer 13 on store 4",
		},
		{
			name:    "extra replica: leader is moved off first",
			stores:  up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, SizeMiB: 1}, {ID: 2, Stores: []uint64{1}, SizeMiB: 5}},
			want:    "remove-extra-replica: transfer leader from store 1 to store 2; remove peer 10 on store 1",
		},
		{
			// An add-replica operator timed out (or the scheduler leader
			// changed) after its learner joined: the learner counts in no
			// quorum, so the region is short a voter until it is promoted.
			name:    "learner left behind is promoted",
			stores:  up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 4}, Learners: []uint64{4}}},
			want:    "promote-learner: promote learner 12 on store 4",
		},
		{
			name:    "learner left behind waits while it catches up",
			stores:  up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 4}, Learners: []uint64{4}, Pending: []uint64{4}}},
			why:     "learner 12 on store 4 is catching up",
		},
		{
			name:    "learner on a down store is removed",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4, State: "down"}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, Learners: []uint64{4}}},
			want:    "remove-unhealthy-learner: remove peer 13 on store 4",
		},
		{
			// A balance operator was adding the learner when a voter's
			// store went down: promoting it is the quickest repair.
			name:    "learner promoted in place of a down voter",
			stores:  []mc.Store{{ID: 1}, {ID: 2}, {ID: 3, State: "down"}, {ID: 4}},
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, Learners: []uint64{4}}},
			want:    "promote-learner: promote learner 13 on store 4",
		},
		{
			name:    "learner beside enough voters is removed",
			stores:  up4,
			regions: []mc.Region{{ID: 1, Stores: []uint64{1, 2, 3, 4}, Learners: []uint64{4}}},
			want:    "remove-extra-learner: remove peer 13 on store 4",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mc.New(tc.stores, tc.regions)
			op, why := NewReplicaChecker(c).Check(mc.Options(3), c.GetRegion(tc.regions[0].ID))
			switch {
			case tc.want != "" && op == nil:
				t.Fatalf("no operator (%s), want %s", why, tc.want)
			case tc.want != "" && stepsOf(op) != tc.want:
				t.Fatalf("operator %q\nwant     %q", stepsOf(op), tc.want)
			case tc.want == "" && op != nil:
				t.Fatalf("unexpected operator %s", stepsOf(op))
			case tc.want == "" && !strings.Contains(why, tc.why):
				t.Fatalf("reason %q does not contain %q", why, tc.why)
			}
		})
	}
}
