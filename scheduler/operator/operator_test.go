package operator

import (
	"errors"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/hot"
)

func peer(id, store uint64) *metapb.Peer { return &metapb.Peer{Id: id, StoreId: store} }

func learner(id, store uint64) *metapb.Peer {
	return &metapb.Peer{Id: id, StoreId: store, Role: metapb.PeerRole_Learner}
}

// reg builds region 1 over [start, end) led by the peer on leaderStore.
func reg(start, end string, confVer, version, leaderStore uint64, peers ...*metapb.Peer) *cluster.RegionInfo {
	m := &metapb.Region{Id: 1, StartKey: []byte(start), EndKey: []byte(end),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: confVer, Version: version}, Peers: peers}
	var leader *metapb.Peer
	for _, p := range peers {
		if p.StoreId == leaderStore {
			leader = p
		}
	}
	return cluster.NewRegionInfo(m, leader)
}

func TestStepFinished(t *testing.T) {
	base := reg("a", "z", 1, 1, 1, peer(11, 1), peer(12, 2))
	for _, tc := range []struct {
		name string
		step Step
		r    *cluster.RegionInfo
		want bool
	}{
		{"add: peer absent", AddPeer{ToStore: 3, PeerID: 13}, base, false},
		{"add: peer present", AddPeer{ToStore: 3, PeerID: 13}, reg("a", "z", 2, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)), true},
		{"add: present but pending", AddPeer{ToStore: 3, PeerID: 13},
			reg("a", "z", 2, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)).WithPendingPeers([]*metapb.Peer{peer(13, 3)}), false},
		{"add: other peer id on store", AddPeer{ToStore: 3, PeerID: 13}, reg("a", "z", 2, 1, 1, peer(11, 1), peer(14, 3)), false},
		{"remove: peer present", RemovePeer{FromStore: 2, PeerID: 12}, base, false},
		{"remove: peer gone", RemovePeer{FromStore: 2, PeerID: 12}, reg("a", "z", 2, 1, 1, peer(11, 1)), true},
		{"transfer: leader still on source", TransferLeader{FromStore: 1, ToStore: 2}, base, false},
		{"transfer: leader on target", TransferLeader{FromStore: 1, ToStore: 2}, reg("a", "z", 1, 1, 2, peer(11, 1), peer(12, 2)), true},
		{"split: same range", SplitRegion{StartKey: []byte("a"), EndKey: []byte("z")}, base, false},
		{"split: range shrank", SplitRegion{StartKey: []byte("a"), EndKey: []byte("z")}, reg("m", "z", 1, 2, 1, peer(11, 1)), true},
	} {
		if got := tc.step.IsFinished(tc.r); got != tc.want {
			t.Errorf("%s: IsFinished = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStatusTable(t *testing.T) {
	all := []Status{Created, Started, Success, Timeout, Canceled, Replaced, Expired}
	allowed := map[[2]Status]bool{
		{Created, Started}: true, {Created, Canceled}: true,
		{Started, Success}: true, {Started, Timeout}: true, {Started, Canceled}: true,
		{Started, Replaced}: true, {Started, Expired}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := CanTransition(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("%s -> %s: %v", from, to, got)
			}
		}
		if final := from != Created && from != Started; from.IsFinal() != final {
			t.Errorf("%s.IsFinal() = %v", from, from.IsFinal())
		}
	}
}

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func newCtl(clk *fakeClock, l Limits) (*Controller, *[]string) {
	var sent []string
	c := NewController(func() Limits { return l }, clk.now, nil)
	c.SetSender(func(r *cluster.RegionInfo, resp *pdpb.RegionHeartbeatResponse) {
		switch {
		case resp.ChangePeer != nil:
			sent = append(sent, resp.ChangePeer.ChangeType.String())
		case resp.TransferLeader != nil:
			sent = append(sent, "TransferLeader")
		case resp.SplitRegion != nil:
			sent = append(sent, "Split")
		}
	})
	return c, &sent
}

var defaultLimits = Limits{Leader: 4, Region: 4, Replica: 4, Store: 2, Timeout: time.Minute}

func TestControllerRunsMoveToSuccess(t *testing.T) {
	clk := &fakeClock{time.Unix(1000, 0)}
	c, sent := newCtl(clk, defaultLimits)
	r := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2))
	op, err := CreateMovePeer("move", r, 1, 3, 13, KindRegion, PriorityLow)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(op, r); err != nil {
		t.Fatal(err)
	}
	// The region reports itself step by step; each heartbeat gets the
	// current step until the region shows it done.
	for i, tc := range []struct {
		r    *cluster.RegionInfo
		want string
	}{
		{r, "AddLearnerNode"},
		{reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), learner(13, 3)), "AddNode"},
		{reg("", "", 3, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)), "TransferLeader"},
		{reg("", "", 3, 1, 3, peer(11, 1), peer(12, 2), peer(13, 3)), "RemoveNode"},
		{reg("", "", 4, 1, 3, peer(12, 2), peer(13, 3)), ""},
	} {
		resp := c.Dispatch(tc.r)
		got := ""
		if resp != nil {
			switch {
			case resp.ChangePeer != nil:
				got = resp.ChangePeer.ChangeType.String()
			case resp.TransferLeader != nil:
				got = "TransferLeader"
				if resp.TransferLeader.Peer.StoreId != 3 {
					t.Fatalf("transfer to %v", resp.TransferLeader.Peer)
				}
			}
		}
		if got != tc.want {
			t.Fatalf("heartbeat %d: step %q, want %q", i, got, tc.want)
		}
	}
	if v, _ := c.Get(1); v.Status != "success" {
		t.Fatalf("status %s", v.Status)
	}
	if len(*sent) != 1 || (*sent)[0] != eraftpb.ConfChangeType_AddLearnerNode.String() {
		t.Fatalf("pushed on add: %v", *sent)
	}
}

func TestControllerTimeoutExpireReplaceLimits(t *testing.T) {
	clk := &fakeClock{time.Unix(1000, 0)}
	c, sent := newCtl(clk, defaultLimits)
	r := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2))

	low := CreateAddPeer("low", r, 3, 13, KindRegion, PriorityLow)
	if err := c.Add(low, r); err != nil {
		t.Fatal(err)
	}
	same := CreateAddPeer("same", r, 4, 14, KindRegion, PriorityLow)
	if err := c.Add(same, r); !errors.Is(err, ErrRegionBusy) {
		t.Fatalf("equal priority: %v", err)
	}
	high := CreateAddPeer("high", r, 4, 14, KindReplica, PriorityHigh)
	if err := c.Add(high, r); err != nil {
		t.Fatal(err)
	}
	if low.Status() != Replaced {
		t.Fatalf("low status %s", low.Status())
	}
	// An unexpected version change (split not done by this operator)
	// expires it.
	if resp := c.Dispatch(reg("", "m", 1, 2, 1, peer(11, 1), peer(12, 2))); resp != nil || high.Status() != Expired {
		t.Fatalf("after split: resp %v status %s", resp, high.Status())
	}

	// A step that can never finish (another peer already on the target
	// store) expires the operator.
	clash := CreateAddPeer("clash", r, 3, 13, KindReplica, PriorityNormal)
	if err := c.Add(clash, r); err != nil {
		t.Fatal(err)
	}
	if resp := c.Dispatch(reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), peer(99, 3))); resp != nil || clash.Status() != Expired {
		t.Fatalf("clash: resp %v status %s", resp, clash.Status())
	}

	// Removing the peer that leads the region is refused by the store;
	// once the leader moves there, the operator expires instead of being
	// resent until its timeout.
	r3 := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3))
	move := New("move", r3, KindRegion, PriorityLow, AddPeer{ToStore: 4, PeerID: 14}, RemovePeer{FromStore: 2, PeerID: 12})
	if err := c.Add(move, r3); err != nil {
		t.Fatal(err)
	}
	added := reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4))
	if resp := c.Dispatch(added); resp.GetChangePeer().GetPeer().GetId() != 12 || move.Status() != Started {
		t.Fatalf("remove step: resp %v status %s", resp, move.Status())
	}
	if resp := c.Dispatch(reg("", "", 2, 1, 2, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4))); resp != nil || move.Status() != Expired {
		t.Fatalf("removing the leader: resp %v status %s", resp, move.Status())
	}

	// Split keys a store would refuse: the operator is refused at once
	// instead of blocking the region until its timeout.
	for _, keys := range [][]string{{""}, {"b", "a"}, {"a", "a"}} {
		var ks [][]byte
		for _, k := range keys {
			ks = append(ks, []byte(k))
		}
		if err := CheckSplitKeys(nil, nil, ks); !errors.Is(err, ErrInvalidSplitKeys) {
			t.Fatalf("keys %q: %v", keys, err)
		}
	}
	rm := reg("b", "m", 1, 1, 1, peer(11, 1), peer(12, 2))
	for _, k := range []string{"b", "a", "m", "z"} {
		if err := c.Add(CreateSplit("split", rm, [][]byte{[]byte(k)}, PriorityHigh), rm); !errors.Is(err, ErrStale) {
			t.Fatalf("split [b, m) at %q: %v, want refused", k, err)
		}
	}
	if err := CheckSplitKeys([]byte("b"), []byte("m"), [][]byte{[]byte("c"), []byte("d")}); err != nil {
		t.Fatal(err)
	}

	op := CreateAddPeer("slow", r, 3, 13, KindReplica, PriorityNormal)
	if err := c.Add(op, r); err != nil {
		t.Fatal(err)
	}
	// A step the leader refused or never got is sent again after
	// StepResendInterval without a heartbeat, not a minute later with the
	// next one.
	n := len(*sent)
	clk.t = clk.t.Add(StepResendInterval - time.Millisecond)
	c.CheckTimeouts()
	if len(*sent) != n {
		t.Fatalf("resent before the interval: %v", (*sent)[n:])
	}
	clk.t = clk.t.Add(time.Millisecond)
	c.CheckTimeouts()
	if len(*sent) != n+1 || (*sent)[n] != "AddLearnerNode" || op.Status() != Started {
		t.Fatalf("after the resend interval: sent %v, status %s", (*sent)[n:], op.Status())
	}
	clk.t = clk.t.Add(2 * time.Minute)
	c.CheckTimeouts()
	if op.Status() != Timeout || c.Has(1) {
		t.Fatalf("status %s", op.Status())
	}

	// Store limit: two operators touching store 3 at most.
	for i := uint64(2); i <= 3; i++ {
		ri := cluster.NewRegionInfo(&metapb.Region{Id: i, RegionEpoch: &metapb.RegionEpoch{}, Peers: []*metapb.Peer{peer(i*10, 1)}}, peer(i*10, 1))
		if err := c.Add(CreateAddPeer("a", ri, 3, i*10+1, KindReplica, PriorityNormal), ri); err != nil {
			t.Fatal(err)
		}
	}
	r4 := cluster.NewRegionInfo(&metapb.Region{Id: 4, RegionEpoch: &metapb.RegionEpoch{}, Peers: []*metapb.Peer{peer(40, 1)}}, peer(40, 1))
	if err := c.Add(CreateAddPeer("a", r4, 3, 41, KindReplica, PriorityNormal), r4); !errors.Is(err, ErrStoreLimit) {
		t.Fatalf("store limit: %v", err)
	}
	// Kind limit.
	c2, _ := newCtl(clk, Limits{Leader: 0, Region: 1, Replica: 1, Store: 9, Timeout: time.Minute})
	if err := c2.Add(New("t", r, KindLeader, PriorityLow, TransferLeader{1, 2}), r); !errors.Is(err, ErrKindLimit) {
		t.Fatalf("leader limit 0: %v", err)
	}
	if err := c2.Add(New("t", r, KindLeader|KindAdmin, PriorityLow, TransferLeader{1, 2}), r); err != nil {
		t.Fatalf("admin operators skip kind limits: %v", err)
	}
	inf := c2.Influence()
	if inf.Of(1).LeaderCount != -1 || inf.Of(2).LeaderCount != 1 {
		t.Fatalf("influence %+v %+v", inf.Of(1), inf.Of(2))
	}
	if !c2.Cancel(1) || c2.Has(1) {
		t.Fatal("cancel")
	}
}

// TestOperatorNoticesRemovalItDidNotMake: a balance move has sent "remove
// the peer on store 2"; a higher-priority repair replaces it and wants to
// remove the peer on store 3. The replaced operator's removal lands first.
// The repair must see a membership change it did not make and stop, not
// send its own removal on top (that would leave two of four peers).
func TestOperatorNoticesRemovalItDidNotMake(t *testing.T) {
	clk := &fakeClock{time.Unix(1000, 0)}
	c, _ := newCtl(clk, defaultLimits)
	// The balance move already added store 4 (conf_ver 2) and is removing 2.
	r := reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4))
	move := New("balance", r, KindRegion, PriorityLow, AddPeer{ToStore: 4, PeerID: 14}, RemovePeer{FromStore: 2, PeerID: 12})
	if err := c.Add(move, r); err != nil {
		t.Fatal(err)
	}
	if resp := c.Dispatch(r); resp.GetChangePeer().GetPeer().GetStoreId() != 2 {
		t.Fatalf("balance move sent %v, want the removal of store 2", resp)
	}
	// The repair, built from the same view, removes store 3's replica.
	repair := New("repair", r, KindReplica, PriorityHigh, RemovePeer{FromStore: 3, PeerID: 13})
	if err := c.Add(repair, r); err != nil {
		t.Fatal(err)
	}
	if move.Status() != Replaced {
		t.Fatalf("balance move status %s, want replaced", move.Status())
	}
	// The in-flight removal of store 2 lands: conf_ver 3.
	landed := reg("", "", 3, 1, 1, peer(11, 1), peer(13, 3), peer(14, 4))
	if resp := c.Dispatch(landed); resp != nil {
		t.Fatalf("repair sent %v after a removal it did not make", resp)
	}
	if repair.Status() != Expired {
		t.Fatalf("repair status %s, want expired", repair.Status())
	}

	// A step that shows before it finishes (a peer added, still catching
	// up) explains its own conf_ver change: the operator goes on.
	base := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2))
	add := New("add", base, KindReplica, PriorityNormal, AddPeer{ToStore: 3, PeerID: 13}, RemovePeer{FromStore: 2, PeerID: 12})
	if err := c.Add(add, base); err != nil {
		t.Fatal(err)
	}
	pending := reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)).WithPendingPeers([]*metapb.Peer{peer(13, 3)})
	if resp := c.Dispatch(pending); resp.GetChangePeer().GetChangeType() != eraftpb.ConfChangeType_AddNode || add.Status() != Started {
		t.Fatalf("added peer still pending: resp %v, status %s", resp, add.Status())
	}
}

// TestRemovePeerKeepsHealthyQuorum: a removal is judged against the
// health the leader reports when the step is due, not when the operator
// was built.
func TestRemovePeerKeepsHealthyQuorum(t *testing.T) {
	five := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4), peer(15, 5))
	down := func(r *cluster.RegionInfo, ids ...uint64) *cluster.RegionInfo {
		var ds []*pdpb.PeerStats
		for _, id := range ids {
			ds = append(ds, &pdpb.PeerStats{Peer: peer(id, id-10), DownSeconds: 60})
		}
		return r.WithDownPeers(ds)
	}
	for _, tc := range []struct {
		name  string
		r     *cluster.RegionInfo
		store uint64
		ok    bool
	}{
		{"all healthy", five, 3, true},
		{"two of five down: removing a healthy one leaves 2 of 4", down(five, 14, 15), 3, false},
		{"two of five down: removing a down one leaves 3 of 4", down(five, 14, 15), 4, true},
		{"one of five down: removing a healthy one leaves 3 of 4", down(five, 15), 3, true},
		{"pending counts as unhealthy", five.WithPendingPeers([]*metapb.Peer{peer(14, 4), peer(15, 5)}), 2, false},
		// {1, 2 down, 3 pending}: removing the lagging peer would leave the
		// dead one, which never catches up.
		{"a lagging peer is not removed in favour of a dead one",
			down(reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)), 12).WithPendingPeers([]*metapb.Peer{peer(13, 3)}), 3, false},
		{"a learner's removal is always safe", reg("", "", 1, 1, 1, peer(11, 1), &metapb.Peer{Id: 12, StoreId: 2, Role: metapb.PeerRole_Learner}).
			WithDownPeers([]*pdpb.PeerStats{{Peer: peer(11, 1)}}), 2, true},
	} {
		err := CheckRemovable(tc.r, tc.store, ReportedHealth(tc.r))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnsafeRemoval)) {
			t.Errorf("%s: CheckRemovable(store %d) = %v, want ok=%t", tc.name, tc.store, err, tc.ok)
		}
	}

	// A balance move built while all were healthy: by the time its removal
	// is due, two other peers are down; the operator ends instead.
	clk := &fakeClock{time.Unix(1000, 0)}
	c, _ := newCtl(clk, defaultLimits)
	four := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4))
	move := New("move", four, KindRegion, PriorityLow, AddPeer{ToStore: 5, PeerID: 15}, RemovePeer{FromStore: 2, PeerID: 12})
	if err := c.Add(move, four); err != nil {
		t.Fatal(err)
	}
	if resp := c.Dispatch(down(five, 13, 14)); resp != nil || move.Status() != Expired {
		t.Fatalf("removal with 2 of 5 down: resp %v, status %s", resp, move.Status())
	}

	// The controller's health also knows stores: a removal is unsafe while
	// another peer's store is silent, before its leader reports it down.
	silent := map[uint64]bool{3: true}
	c.SetHealth(func(r *cluster.RegionInfo) Health {
		return func(p *metapb.Peer) PeerHealth {
			if silent[p.StoreId] {
				return PeerDead
			}
			return ReportedHealth(r)(p)
		}
	})
	three := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3))
	rm := New("rm", three, KindReplica, PriorityNormal, RemovePeer{FromStore: 2, PeerID: 12})
	if err := c.Add(rm, three); !errors.Is(err, ErrStale) {
		t.Fatalf("removal while store 3 is silent: %v, want refused", err)
	}
}

// TestAddViaLearner: the add-learner -> promote steps, run by the
// controller against regions reported step by step.
func TestAddViaLearner(t *testing.T) {
	clk := &fakeClock{time.Unix(1000, 0)}
	c, _ := newCtl(clk, defaultLimits)
	r := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2))
	op := New("add-via-learner", r, KindReplica, PriorityNormal, AddViaLearner(3, 13)...)
	if err := c.Add(op, r); err != nil {
		t.Fatal(err)
	}
	learner := &metapb.Peer{Id: 13, StoreId: 3, Role: metapb.PeerRole_Learner}
	for i, tc := range []struct {
		r        *cluster.RegionInfo
		wantType eraftpb.ConfChangeType
		wantRole metapb.PeerRole
		done     bool
	}{
		{r, eraftpb.ConfChangeType_AddLearnerNode, metapb.PeerRole_Learner, false},
		// Added, still catching up: the learner step is not finished.
		{reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), learner).WithPendingPeers([]*metapb.Peer{learner}),
			eraftpb.ConfChangeType_AddLearnerNode, metapb.PeerRole_Learner, false},
		// Caught up: promote.
		{reg("", "", 2, 1, 1, peer(11, 1), peer(12, 2), learner), eraftpb.ConfChangeType_AddNode, metapb.PeerRole_Voter, false},
		{reg("", "", 3, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3)), 0, 0, true},
	} {
		resp := c.Dispatch(tc.r)
		if tc.done {
			if resp != nil || op.Status() != Success {
				t.Fatalf("heartbeat %d: resp %v, status %s", i, resp, op.Status())
			}
			continue
		}
		cp := resp.GetChangePeer()
		if cp.GetChangeType() != tc.wantType || cp.GetPeer().GetRole() != tc.wantRole || cp.GetPeer().GetId() != 13 {
			t.Fatalf("heartbeat %d: sent %v, want %s of a %s", i, resp, tc.wantType, tc.wantRole)
		}
	}
	// A learner removed by someone else cannot be promoted: the operator ends.
	op2 := New("add-via-learner", r, KindReplica, PriorityNormal, PromoteLearner{ToStore: 3, PeerID: 13})
	if err := c.Add(op2, r); !errors.Is(err, ErrStale) {
		t.Fatalf("promoting a learner the region lacks: %v", err)
	}
}

// TestLoadInfluence: an operator carrying its region's load moves it in the
// pending influence as its steps would: a replica move takes the writes
// (and, with leadership, the reads) off the source onto the target, and
// only the steps not yet finished count. The hot kind has its own limit.
func TestLoadInfluence(t *testing.T) {
	clk := &fakeClock{t: time.Unix(100, 0)}
	c, _ := newCtl(clk, Limits{Leader: 4, Region: 4, Replica: 4, Hot: 1, Store: 9, Timeout: time.Minute})
	var l hot.Loads
	l[hot.Read] = [3]float64{1000, 10, 10}
	l[hot.Write] = [3]float64{2000, 20, 20}
	var writesOnly hot.Loads
	writesOnly[hot.Write] = l[hot.Write]
	r := reg("", "", 1, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3))
	op, err := CreateMovePeer("hot", r, 1, 4, 14, KindHot, PriorityLow)
	if err != nil {
		t.Fatal(err)
	}
	op.SetLoad(l)
	if err := c.Add(op, r); err != nil {
		t.Fatal(err)
	}
	inf := c.Influence()
	neg := func(x hot.Loads) hot.Loads {
		var out hot.Loads
		out.Add(x, -1)
		return out
	}
	if s1, s4 := inf.Of(1), inf.Of(4); s1.LeaderLoad != neg(l) || s1.PeerLoad != neg(l) || s4.LeaderLoad != l || s4.PeerLoad != l {
		t.Fatalf("before any step: store 1 %+v, store 4 %+v", s1, s4)
	}
	if s2 := inf.Of(2); s2.LeaderLoad != (hot.Loads{}) || s2.PeerLoad != (hot.Loads{}) {
		t.Fatalf("store 2 untouched: %+v", s2)
	}
	// The learner was added and promoted: store 4 already bears the writes
	// (the statistics will show it), the leadership still moves.
	r2 := reg("", "", 3, 1, 1, peer(11, 1), peer(12, 2), peer(13, 3), peer(14, 4))
	c.Dispatch(r2)
	inf = c.Influence()
	readPart := l
	readPart.Add(writesOnly, -1)
	if s4 := inf.Of(4); s4.LeaderLoad != l || s4.PeerLoad != readPart {
		t.Fatalf("after the promotion: store 4 %+v", s4)
	}
	r5 := cluster.NewRegionInfo(&metapb.Region{Id: 5, RegionEpoch: &metapb.RegionEpoch{}, Peers: []*metapb.Peer{peer(50, 1), peer(51, 2)}}, peer(50, 1))
	if err := c.Add(New("hot", r5, KindHot, PriorityLow, TransferLeader{1, 2}), r5); !errors.Is(err, ErrKindLimit) {
		t.Fatalf("hot limit 1: %v", err)
	}
}
