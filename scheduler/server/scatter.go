package server

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// ScatterRegion implements pdpbgrpc.PDServer: each region's replicas are moved
// to the stores that hold the fewest regions (counting pending operators),
// keeping replicas already on such stores. Regions it cannot scatter are
// returned as failed, among them regions whose leader has not reported yet
// (right after a split): the caller retries those.
func (s *Server) ScatterRegion(ctx context.Context, req *pdpb.ScatterRegionRequest) (*pdpb.ScatterRegionResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.ScatterRegionResponse{Header: eh}, nil
	}
	ids := req.RegionsId
	if len(ids) == 0 && req.RegionId != 0 {
		ids = []uint64{req.RegionId}
	}
	if len(ids) == 0 && req.Region != nil {
		ids = []uint64{req.Region.Id}
	}
	resp := &pdpb.ScatterRegionResponse{Header: s.header()}
	ok := 0
	for _, id := range ids {
		r := ls.cluster.GetRegion(id)
		if r == nil || ls.scatter(r) != nil {
			resp.FailedRegionsId = append(resp.FailedRegionsId, id)
			continue
		}
		ok++
	}
	if len(ids) > 0 {
		resp.FinishedPercentage = uint64(100 * ok / len(ids))
	}
	return resp, nil
}

// errNoLeaderYet: a region whose leader is unknown (reported by a split,
// or loaded by a new scheduler leader) cannot be scattered yet: which peer
// leads decides whether a removal needs a leader transfer first.
var errNoLeaderYet = errors.New("server: region has no known leader yet; scatter it once its leader has reported")

func (ls *leaderState) scatter(r *cluster.RegionInfo) error {
	if r.Leader() == nil {
		return fmt.Errorf("%w (region %d)", errNoLeaderYet, r.ID())
	}
	o := ls.options()
	inf := ls.ops.Influence()
	targets, _ := filter.Apply(o, ls.cluster.GetStores(), filter.RegionTarget...)
	sort.SliceStable(targets, func(i, j int) bool {
		a := targets[i].RegionCount + inf.Of(targets[i].ID()).RegionCount
		b := targets[j].RegionCount + inf.Of(targets[j].ID()).RegionCount
		if a != b {
			return a < b
		}
		return targets[i].ID() < targets[j].ID()
	})
	n := min(len(targets), o.MaxReplicas)
	chosen := map[uint64]bool{}
	for _, t := range targets[:n] {
		chosen[t.ID()] = true
	}
	var from, to []uint64
	for _, p := range r.Peers() {
		if !chosen[p.StoreId] {
			from = append(from, p.StoreId)
		}
	}
	for _, t := range targets[:n] {
		if r.StorePeer(t.ID()) == nil {
			to = append(to, t.ID())
		}
	}
	var steps []operator.Step
	leader := r.LeaderStoreID()
	for i := 0; i < len(from) && i < len(to); i++ {
		id, err := ls.view().AllocID()
		if err != nil {
			return err
		}
		steps = append(steps, operator.AddViaLearner(to[i], id)...)
		if from[i] == leader {
			steps = append(steps, operator.TransferLeader{FromStore: from[i], ToStore: to[i]})
		}
		steps = append(steps, operator.RemovePeer{FromStore: from[i], PeerID: r.StorePeer(from[i]).Id})
	}
	if len(steps) == 0 {
		return nil // already scattered
	}
	op := operator.New("scatter-region", r, operator.KindRegion|operator.KindAdmin, operator.PriorityNormal, steps...)
	return ls.ops.Add(op, r)
}
