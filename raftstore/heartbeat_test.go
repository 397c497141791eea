package raftstore

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// TestChangePeerDone: a resent operator step whose change the region
// already shows is recognized as done (and not proposed again), a pending
// one is not.
func TestChangePeerDone(t *testing.T) {
	region := &metapb.Region{Id: 1, Peers: []*metapb.Peer{{Id: 11, StoreId: 1}, {Id: 12, StoreId: 2},
		{Id: 14, StoreId: 4, Role: metapb.PeerRole_Learner}}}
	for _, c := range []struct {
		typ  eraftpb.ConfChangeType
		peer uint64
		done bool
	}{
		{eraftpb.ConfChangeType_AddNode, 12, true},
		{eraftpb.ConfChangeType_AddNode, 13, false},
		{eraftpb.ConfChangeType_RemoveNode, 13, true},
		{eraftpb.ConfChangeType_RemoveNode, 12, false},
		{eraftpb.ConfChangeType_AddLearnerNode, 13, false},
		{eraftpb.ConfChangeType_AddLearnerNode, 14, true},
		// Promoting a learner is pending until the region shows a voter.
		{eraftpb.ConfChangeType_AddNode, 14, false},
	} {
		cp := &pdpb.ChangePeer{ChangeType: c.typ, Peer: &metapb.Peer{Id: c.peer, StoreId: c.peer - 10}}
		if got := changePeerDone(region, cp); got != c.done {
			t.Errorf("%s of peer %d: done = %t, want %t", c.typ, c.peer, got, c.done)
		}
	}
}
