// Package operator describes scheduling work as operators: ordered steps for
// one region (add peer, remove peer, transfer leader, split), each finished by
// observing the region's state in heartbeats, never by trusting a reply. The
// Controller keeps the running operators, enforces limits, and turns the
// current step into a region heartbeat response for the region's leader.
package operator

import (
	"bytes"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/hot"
)

// Step is one change to a region.
type Step interface {
	fmt.Stringer
	// IsFinished reports whether r shows the step done.
	IsFinished(r *cluster.RegionInfo) bool
	// ConfChange reports whether the step changes membership (conf_ver).
	ConfChange() bool
	// shownIn is how much of the step's epoch change r already shows:
	// conf_ver and version. A step may show before it is finished (a peer
	// added but still catching up).
	shownIn(r *cluster.RegionInfo) (confVer, version uint64)
	// Influence adds the step's effect on store loads to inf.
	Influence(inf Influence, r *cluster.RegionInfo)
	// fill writes the step's command into resp for region r.
	fill(resp *pdpb.RegionHeartbeatResponse, r *cluster.RegionInfo)
	// stores lists the stores whose data the step moves (for store limits).
	stores() []uint64
}

// AddPeer adds a voter with PeerID on ToStore. Finished when the peer is in
// the region and not pending (caught up).
type AddPeer struct{ ToStore, PeerID uint64 }

func (s AddPeer) String() string {
	return fmt.Sprintf("add peer %d on store %d", s.PeerID, s.ToStore)
}

// IsFinished implements Step.
func (s AddPeer) IsFinished(r *cluster.RegionInfo) bool {
	p := r.StorePeer(s.ToStore)
	return p != nil && p.Id == s.PeerID && !r.IsPending(p.Id)
}

// ConfChange implements Step.
func (AddPeer) ConfChange() bool { return true }

func (s AddPeer) shownIn(r *cluster.RegionInfo) (uint64, uint64) {
	if p := r.StorePeer(s.ToStore); p != nil && p.Id == s.PeerID {
		return 1, 0
	}
	return 0, 0
}

// infeasible: another peer already sits on the target store (e.g. added by
// an operator this one replaced), so this step can never finish.
func (s AddPeer) infeasible(r *cluster.RegionInfo) bool {
	p := r.StorePeer(s.ToStore)
	return p != nil && p.Id != s.PeerID
}

// Influence implements Step.
func (s AddPeer) Influence(inf Influence, r *cluster.RegionInfo) {
	i := inf.store(s.ToStore)
	i.RegionCount++
	i.RegionSize += r.SizeMiB()
}

func (s AddPeer) fill(resp *pdpb.RegionHeartbeatResponse, _ *cluster.RegionInfo) {
	resp.ChangePeer = changePeer(s.PeerID, s.ToStore, metapb.PeerRole_Voter, eraftpb.ConfChangeType_AddNode)
}

func (s AddPeer) stores() []uint64 { return []uint64{s.ToStore} }

// AddLearner adds a learner with PeerID on ToStore: it receives the log
// but counts in no quorum. Finished when the learner is in the region and
// not pending (caught up), so that PromoteLearner makes a voter that can
// acknowledge writes at once (the add-learner -> promote shape).
type AddLearner struct{ ToStore, PeerID uint64 }

func (s AddLearner) String() string {
	return fmt.Sprintf("add learner %d on store %d", s.PeerID, s.ToStore)
}

// IsFinished implements Step: added, and caught up.
func (s AddLearner) IsFinished(r *cluster.RegionInfo) bool { return AddPeer(s).IsFinished(r) }

// ConfChange implements Step.
func (AddLearner) ConfChange() bool { return true }

func (s AddLearner) shownIn(r *cluster.RegionInfo) (uint64, uint64) { return AddPeer(s).shownIn(r) }

// infeasible: another peer already sits on the target store.
func (s AddLearner) infeasible(r *cluster.RegionInfo) bool { return AddPeer(s).infeasible(r) }

// Influence implements Step.
func (s AddLearner) Influence(inf Influence, r *cluster.RegionInfo) { AddPeer(s).Influence(inf, r) }

func (s AddLearner) fill(resp *pdpb.RegionHeartbeatResponse, _ *cluster.RegionInfo) {
	resp.ChangePeer = changePeer(s.PeerID, s.ToStore, metapb.PeerRole_Learner, eraftpb.ConfChangeType_AddLearnerNode)
}

func (s AddLearner) stores() []uint64 { return []uint64{s.ToStore} }

// PromoteLearner makes the learner PeerID on ToStore a voter. Finished
// when that peer is in the region as a voter.
type PromoteLearner struct{ ToStore, PeerID uint64 }

func (s PromoteLearner) String() string {
	return fmt.Sprintf("promote learner %d on store %d", s.PeerID, s.ToStore)
}

// IsFinished implements Step.
func (s PromoteLearner) IsFinished(r *cluster.RegionInfo) bool {
	p := r.StorePeer(s.ToStore)
	return p != nil && p.Id == s.PeerID && isVoter(p)
}

// ConfChange implements Step.
func (PromoteLearner) ConfChange() bool { return true }

func (s PromoteLearner) shownIn(r *cluster.RegionInfo) (uint64, uint64) {
	if s.IsFinished(r) {
		return 1, 0
	}
	return 0, 0
}

// infeasible: the learner is gone (removed, or replaced by another peer).
func (s PromoteLearner) infeasible(r *cluster.RegionInfo) bool {
	p := r.StorePeer(s.ToStore)
	return p == nil || p.Id != s.PeerID
}

// Influence implements Step: the data is on the store already.
func (PromoteLearner) Influence(Influence, *cluster.RegionInfo) {}

func (s PromoteLearner) fill(resp *pdpb.RegionHeartbeatResponse, _ *cluster.RegionInfo) {
	resp.ChangePeer = changePeer(s.PeerID, s.ToStore, metapb.PeerRole_Voter, eraftpb.ConfChangeType_AddNode)
}

func (PromoteLearner) stores() []uint64 { return nil }

// AddViaLearner is the steps that add a voter through a learner: add it as
// a learner, wait until it has caught up, promote it.
func AddViaLearner(toStore, peerID uint64) []Step {
	return []Step{AddLearner{ToStore: toStore, PeerID: peerID}, PromoteLearner{ToStore: toStore, PeerID: peerID}}
}

// RemovePeer removes the region's peer on FromStore. Finished when the
// region has no peer on that store.
type RemovePeer struct{ FromStore, PeerID uint64 }

func (s RemovePeer) String() string {
	return fmt.Sprintf("remove peer %d on store %d", s.PeerID, s.FromStore)
}

// IsFinished implements Step.
func (s RemovePeer) IsFinished(r *cluster.RegionInfo) bool { return r.StorePeer(s.FromStore) == nil }

// ConfChange implements Step.
func (RemovePeer) ConfChange() bool { return true }

func (s RemovePeer) shownIn(r *cluster.RegionInfo) (uint64, uint64) {
	if s.IsFinished(r) {
		return 1, 0
	}
	return 0, 0
}

// infeasible: the peer to remove leads the region. Stores refuse to remove
// their leader ("transfer leadership first"), so the step would be resent
// on every heartbeat until the operator timed out, blocking the region's
// repair meanwhile. Leadership can land there after the operator was built
// (an election after a crash, balance-leader); ending the operator lets the
// checkers build one with a leader transfer first.
func (s RemovePeer) infeasible(r *cluster.RegionInfo) bool {
	l := r.Leader()
	return l != nil && l.StoreId == s.FromStore && l.Id == s.PeerID
}

// unsafe: removing the peer now would leave the region without a healthy
// quorum. Peers can go down or fall behind after the operator was built:
// the removal is judged again when it is due, and an operator whose
// removal became unsafe ends; the checkers then remove the unhealthy peer
// instead (or wait).
func (s RemovePeer) unsafe(r *cluster.RegionInfo, health Health) bool {
	return CheckRemovable(r, s.FromStore, health) != nil
}

// Influence implements Step.
func (s RemovePeer) Influence(inf Influence, r *cluster.RegionInfo) {
	i := inf.store(s.FromStore)
	i.RegionCount--
	i.RegionSize -= r.SizeMiB()
}

func (s RemovePeer) fill(resp *pdpb.RegionHeartbeatResponse, _ *cluster.RegionInfo) {
	resp.ChangePeer = changePeer(s.PeerID, s.FromStore, metapb.PeerRole_Voter, eraftpb.ConfChangeType_RemoveNode)
}

func (s RemovePeer) stores() []uint64 { return []uint64{s.FromStore} }

// TransferLeader moves leadership from FromStore to ToStore. Finished when
// the leader is on ToStore.
type TransferLeader struct{ FromStore, ToStore uint64 }

func (s TransferLeader) String() string {
	return fmt.Sprintf("transfer leader from store %d to store %d", s.FromStore, s.ToStore)
}

// IsFinished implements Step.
func (s TransferLeader) IsFinished(r *cluster.RegionInfo) bool { return r.LeaderStoreID() == s.ToStore }

// ConfChange implements Step.
func (TransferLeader) ConfChange() bool { return false }

func (TransferLeader) shownIn(*cluster.RegionInfo) (uint64, uint64) { return 0, 0 }

// Influence implements Step.
func (s TransferLeader) Influence(inf Influence, _ *cluster.RegionInfo) {
	inf.store(s.FromStore).LeaderCount--
	inf.store(s.ToStore).LeaderCount++
}

func (s TransferLeader) fill(resp *pdpb.RegionHeartbeatResponse, r *cluster.RegionInfo) {
	resp.TransferLeader = &pdpb.TransferLeader{Peer: r.StorePeer(s.ToStore)}
}

func (TransferLeader) stores() []uint64 { return nil }

// SplitRegion splits the region [StartKey, EndKey) at Keys (or at a point
// the store picks when Keys is empty). Finished when the region's range is
// no longer [StartKey, EndKey).
type SplitRegion struct {
	StartKey, EndKey []byte
	Keys             [][]byte
}

func (s SplitRegion) String() string {
	return fmt.Sprintf("split region [%q, %q) at %q", s.StartKey, s.EndKey, s.Keys)
}

// IsFinished implements Step.
func (s SplitRegion) IsFinished(r *cluster.RegionInfo) bool {
	return !bytes.Equal(r.StartKey(), s.StartKey) || !bytes.Equal(r.EndKey(), s.EndKey)
}

// ConfChange implements Step.
func (SplitRegion) ConfChange() bool { return false }

func (s SplitRegion) shownIn(r *cluster.RegionInfo) (uint64, uint64) {
	if s.IsFinished(r) {
		return 0, 1
	}
	return 0, 0
}

// infeasible: the region still has the range the step splits, and the keys
// cannot split it (stores refuse them, see CheckSplitKeys). Without this
// the step would be resent on every heartbeat until the operator timed out,
// blocking every other operator on the region.
func (s SplitRegion) infeasible(r *cluster.RegionInfo) bool {
	return !s.IsFinished(r) && CheckSplitKeys(s.StartKey, s.EndKey, s.Keys) != nil
}

// CheckSplitKeys reports why keys cannot split [start, end): a store
// accepts keys that are non-empty, strictly increasing, after start and
// before end (an empty end is +infinity). No keys is valid: the store then
// picks the middle key.
func CheckSplitKeys(start, end []byte, keys [][]byte) error {
	prev := start
	for _, k := range keys {
		switch {
		case len(k) == 0:
			return fmt.Errorf("%w: empty split key", ErrInvalidSplitKeys)
		case bytes.Compare(k, prev) <= 0:
			return fmt.Errorf("%w: %q is not after %q", ErrInvalidSplitKeys, k, prev)
		case len(end) > 0 && bytes.Compare(k, end) >= 0:
			return fmt.Errorf("%w: %q is not before the region end %q", ErrInvalidSplitKeys, k, end)
		}
		prev = k
	}
	return nil
}

// Influence implements Step.
func (SplitRegion) Influence(Influence, *cluster.RegionInfo) {}

func (s SplitRegion) fill(resp *pdpb.RegionHeartbeatResponse, _ *cluster.RegionInfo) {
	policy := pdpb.CheckPolicy_USEKEY
	if len(s.Keys) == 0 {
		policy = pdpb.CheckPolicy_APPROXIMATE
	}
	resp.SplitRegion = &pdpb.SplitRegion{Policy: policy, Keys: s.Keys}
}

func (SplitRegion) stores() []uint64 { return nil }

func changePeer(id, store uint64, role metapb.PeerRole, typ eraftpb.ConfChangeType) *pdpb.ChangePeer {
	return &pdpb.ChangePeer{Peer: &metapb.Peer{Id: id, StoreId: store, Role: role}, ChangeType: typ}
}

// StoreInfluence is the pending effect of operators on one store.
type StoreInfluence struct {
	LeaderCount int
	RegionCount int
	RegionSize  int64
	// The load moving to (positive) or off the store, as leader and as a
	// replica, by operators that carry their region's load (SetLoad).
	LeaderLoad hot.Loads
	PeerLoad   hot.Loads
}

// Influence maps store IDs to the pending effect of operators on them.
type Influence map[uint64]*StoreInfluence

func (inf Influence) store(id uint64) *StoreInfluence {
	s := inf[id]
	if s == nil {
		s = &StoreInfluence{}
		inf[id] = s
	}
	return s
}

// Of returns the influence on store id (zero if none).
func (inf Influence) Of(id uint64) StoreInfluence {
	if s := inf[id]; s != nil {
		return *s
	}
	return StoreInfluence{}
}
