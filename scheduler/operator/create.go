package operator

import (
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/scheduler/cluster"
)

// ErrNoTarget: no peer can take over leadership for the removal.
var ErrNoTarget = errors.New("operator: no follower can take leadership")

// CreateAddPeer adds a new voter (newPeerID) on store, through a learner
// that catches up before it is promoted, so the region's quorum never
// waits for a peer without data.
func CreateAddPeer(desc string, r *cluster.RegionInfo, store, newPeerID uint64, kind Kind, prio Priority) *Operator {
	return New(desc, r, kind, prio, AddViaLearner(store, newPeerID)...)
}

// CreateRemovePeer removes r's peer on store, first moving leadership away
// from it if it leads.
func CreateRemovePeer(desc string, r *cluster.RegionInfo, store uint64, kind Kind, prio Priority) (*Operator, error) {
	p := r.StorePeer(store)
	if p == nil {
		return nil, fmt.Errorf("operator: region %d has no peer on store %d", r.ID(), store)
	}
	var steps []Step
	if r.LeaderStoreID() == store {
		to := healthyFollower(r, store)
		if to == 0 {
			return nil, ErrNoTarget
		}
		steps = append(steps, TransferLeader{FromStore: store, ToStore: to})
		kind |= KindLeader
	}
	steps = append(steps, RemovePeer{FromStore: store, PeerID: p.Id})
	return New(desc, r, kind, prio, steps...), nil
}

// CreateMovePeer replaces r's peer on from by a new peer on to: add (as a
// learner, then promoted), then (if from leads) transfer leadership to the
// new peer, then remove.
func CreateMovePeer(desc string, r *cluster.RegionInfo, from, to, newPeerID uint64, kind Kind, prio Priority) (*Operator, error) {
	p := r.StorePeer(from)
	if p == nil {
		return nil, fmt.Errorf("operator: region %d has no peer on store %d", r.ID(), from)
	}
	steps := AddViaLearner(to, newPeerID)
	if r.LeaderStoreID() == from {
		steps = append(steps, TransferLeader{FromStore: from, ToStore: to})
		kind |= KindLeader
	}
	steps = append(steps, RemovePeer{FromStore: from, PeerID: p.Id})
	return New(desc, r, kind, prio, steps...), nil
}

// CreateTransferLeader moves r's leadership to its peer on store.
func CreateTransferLeader(desc string, r *cluster.RegionInfo, store uint64, kind Kind, prio Priority) (*Operator, error) {
	if r.StorePeer(store) == nil {
		return nil, fmt.Errorf("operator: region %d has no peer on store %d", r.ID(), store)
	}
	return New(desc, r, kind|KindLeader, prio, TransferLeader{FromStore: r.LeaderStoreID(), ToStore: store}), nil
}

// CreateSplit splits r at keys (empty: the store picks the middle).
func CreateSplit(desc string, r *cluster.RegionInfo, keys [][]byte, prio Priority) *Operator {
	return New(desc, r, KindSplit, prio, SplitRegion{StartKey: r.StartKey(), EndKey: r.EndKey(), Keys: keys})
}

// healthyFollower picks the first follower (by store ID order of peers) that
// is neither down nor pending and is not on exclude.
func healthyFollower(r *cluster.RegionInfo, exclude uint64) uint64 {
	for _, p := range r.Followers() {
		if p.StoreId != exclude && !r.IsDown(p.Id) && !r.IsPending(p.Id) {
			return p.StoreId
		}
	}
	return 0
}
