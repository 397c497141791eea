package server

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/pderr"
	"github.com/regionkv/regionkv/scheduler/storage"
)

func (s *Server) header() *pdpb.ResponseHeader { return &pdpb.ResponseHeader{ClusterId: s.clusterID} }

func (s *Server) errHeader(e *pdpb.Error) *pdpb.ResponseHeader {
	return &pdpb.ResponseHeader{ClusterId: s.clusterID, Error: e}
}

func notBootstrapped() *pdpb.Error {
	return pderr.New(pdpb.ErrorType_NOT_BOOTSTRAPPED, "cluster is not bootstrapped")
}

func (s *Server) pushResponse(r *cluster.RegionInfo, resp *pdpb.RegionHeartbeatResponse) {
	s.metrics.operatorsOut.Inc()
	resp.Header = s.header()
	s.streams.push(r, resp)
}

// check validates a request header and finds the leader state. When it
// returns a non-nil error header the request must be answered with it.
// needBootstrap also refuses requests before bootstrap.
func (s *Server) check(ctx context.Context, h *pdpb.RequestHeader, needBootstrap bool) (*leaderState, *pdpb.ResponseHeader) {
	if h.GetClusterId() != s.clusterID {
		return nil, s.errHeader(pderr.ClusterIDMismatch(s.clusterID, h.GetClusterId()))
	}
	ls := s.leader.Load()
	if ls == nil {
		return nil, s.errHeader(pderr.NotLeader(s.currentLeader(ctx)))
	}
	if needBootstrap && ls.meta.Load() == nil {
		return nil, s.errHeader(notBootstrapped())
	}
	return ls, nil
}

// internalErr maps an error of ours to a response header.
func (s *Server) internalErr(err error) *pdpb.ResponseHeader {
	t := pdpb.ErrorType_UNKNOWN
	switch {
	case errors.Is(err, storage.ErrNotLeader):
		return s.errHeader(pderr.NotLeader(nil))
	case errors.Is(err, cluster.ErrStoreTombstone):
		t = pdpb.ErrorType_STORE_TOMBSTONE
	case errors.Is(err, cluster.ErrStoreNotFound):
		t = pdpb.ErrorType_ENTRY_NOT_FOUND
	case errors.Is(err, cluster.ErrDuplicatedAddress):
		t = pdpb.ErrorType_DUPLICATED_ENTRY
	case errors.Is(err, storage.ErrAlreadyBootstrapped):
		t = pdpb.ErrorType_ALREADY_BOOTSTRAPPED
	}
	return s.errHeader(&pdpb.Error{Type: t, Message: err.Error()})
}

// GetMembers implements pdpbgrpc.PDServer; any member answers it, and it needs
// no cluster ID (it is how callers learn it).
func (s *Server) GetMembers(ctx context.Context, _ *pdpb.GetMembersRequest) (*pdpb.GetMembersResponse, error) {
	members, err := s.members(ctx)
	if err != nil {
		return &pdpb.GetMembersResponse{Header: s.internalErr(err)}, nil
	}
	leader := s.currentLeader(ctx)
	return &pdpb.GetMembersResponse{Header: s.header(), Members: members, Leader: leader, EtcdLeader: leader}, nil
}

// Bootstrap implements pdpbgrpc.PDServer.
func (s *Server) Bootstrap(ctx context.Context, req *pdpb.BootstrapRequest) (*pdpb.BootstrapResponse, error) {
	ls, eh := s.check(ctx, req.Header, false)
	if eh != nil {
		return &pdpb.BootstrapResponse{Header: eh}, nil
	}
	s.bootstrapMu.Lock()
	defer s.bootstrapMu.Unlock()
	if ls.meta.Load() != nil {
		return &pdpb.BootstrapResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_ALREADY_BOOTSTRAPPED, "cluster is already bootstrapped"))}, nil
	}
	st, r := req.Store, req.Region
	if st.GetId() == 0 || st.Address == "" || r.GetId() == 0 || !hasPeerOn(r, st.Id) {
		return &pdpb.BootstrapResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"bootstrap needs a store with id and address and a region with a peer on it"))}, nil
	}
	meta := &metapb.Cluster{Id: s.clusterID, MaxPeerCount: uint32(ls.schedule().MaxReplicas)}
	st = cloneStoreUp(st)
	if err := s.storage.Bootstrap(ctx, meta, st, r); err != nil {
		return &pdpb.BootstrapResponse{Header: s.internalErr(err)}, nil
	}
	// The store registers itself: it is heard from, unlike a store loaded
	// from storage.
	if _, err := ls.cluster.PutStore(st); err != nil {
		return &pdpb.BootstrapResponse{Header: s.internalErr(err)}, nil
	}
	if _, err := ls.cluster.PutRegion(cluster.NewRegionInfo(r, nil)); err != nil {
		return &pdpb.BootstrapResponse{Header: s.internalErr(err)}, nil
	}
	ls.meta.Store(meta)
	s.logger.Info("cluster bootstrapped", zap.Uint64("store-id", st.Id), zap.Uint64("region-id", r.Id))
	return &pdpb.BootstrapResponse{Header: s.header()}, nil
}

func cloneStoreUp(st *metapb.Store) *metapb.Store {
	c := *st
	c.State, c.NodeState = metapb.StoreState_Up, metapb.NodeState_Serving
	return &c
}

// IsBootstrapped implements pdpbgrpc.PDServer.
func (s *Server) IsBootstrapped(ctx context.Context, req *pdpb.IsBootstrappedRequest) (*pdpb.IsBootstrappedResponse, error) {
	ls, eh := s.check(ctx, req.Header, false)
	if eh != nil {
		return &pdpb.IsBootstrappedResponse{Header: eh}, nil
	}
	return &pdpb.IsBootstrappedResponse{Header: s.header(), Bootstrapped: ls.meta.Load() != nil}, nil
}

// AllocID implements pdpbgrpc.PDServer.
func (s *Server) AllocID(ctx context.Context, req *pdpb.AllocIDRequest) (*pdpb.AllocIDResponse, error) {
	if _, eh := s.check(ctx, req.Header, false); eh != nil {
		return &pdpb.AllocIDResponse{Header: eh}, nil
	}
	n := max(req.Count, 1)
	first, err := s.ids.Alloc(ctx, uint64(n))
	if err != nil {
		return &pdpb.AllocIDResponse{Header: s.internalErr(err)}, nil
	}
	return &pdpb.AllocIDResponse{Header: s.header(), Id: first, Count: n}, nil
}

// GetStore implements pdpbgrpc.PDServer.
func (s *Server) GetStore(ctx context.Context, req *pdpb.GetStoreRequest) (*pdpb.GetStoreResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetStoreResponse{Header: eh}, nil
	}
	st := ls.cluster.GetStore(req.StoreId)
	if st == nil {
		return &pdpb.GetStoreResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_ENTRY_NOT_FOUND,
			"store %d not found", req.StoreId))}, nil
	}
	return &pdpb.GetStoreResponse{Header: s.header(), Store: st.Meta, Stats: st.Stats}, nil
}

// PutStore implements pdpbgrpc.PDServer.
func (s *Server) PutStore(ctx context.Context, req *pdpb.PutStoreRequest) (*pdpb.PutStoreResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.PutStoreResponse{Header: eh}, nil
	}
	if req.Store.GetId() == 0 || req.Store.Address == "" {
		return &pdpb.PutStoreResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"store needs an id and an address"))}, nil
	}
	meta, err := ls.cluster.PutStore(req.Store)
	if err != nil {
		return &pdpb.PutStoreResponse{Header: s.internalErr(err)}, nil
	}
	if err := s.storage.SaveStore(ctx, meta); err != nil {
		return &pdpb.PutStoreResponse{Header: s.internalErr(err)}, nil
	}
	s.logger.Info("store registered", zap.Uint64("store-id", meta.Id), zap.String("address", meta.Address))
	return &pdpb.PutStoreResponse{Header: s.header()}, nil
}

// GetAllStores implements pdpbgrpc.PDServer.
func (s *Server) GetAllStores(ctx context.Context, req *pdpb.GetAllStoresRequest) (*pdpb.GetAllStoresResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetAllStoresResponse{Header: eh}, nil
	}
	var out []*metapb.Store
	for _, st := range ls.cluster.GetStores() {
		if req.ExcludeTombstoneStores && st.Meta.State == metapb.StoreState_Tombstone {
			continue
		}
		out = append(out, st.Meta)
	}
	return &pdpb.GetAllStoresResponse{Header: s.header(), Stores: out}, nil
}

// StoreHeartbeat implements pdpbgrpc.PDServer.
func (s *Server) StoreHeartbeat(ctx context.Context, req *pdpb.StoreHeartbeatRequest) (*pdpb.StoreHeartbeatResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.StoreHeartbeatResponse{Header: eh}, nil
	}
	if req.Stats == nil {
		return &pdpb.StoreHeartbeatResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE, "no stats"))}, nil
	}
	s.metrics.storeBeats.Inc()
	st, err := ls.cluster.HandleStoreHeartbeat(req.Stats)
	if err != nil {
		return &pdpb.StoreHeartbeatResponse{Header: s.internalErr(err)}, nil
	}
	counts, span := hot.StoreCounts(req.Stats)
	ls.hot.ObserveStore(req.Stats.StoreId, counts, span)
	return &pdpb.StoreHeartbeatResponse{Header: s.header(), State: st.Meta.NodeState}, nil
}

func regionResponse(h *pdpb.ResponseHeader, r *cluster.RegionInfo) *pdpb.GetRegionResponse {
	resp := &pdpb.GetRegionResponse{Header: h}
	if r != nil {
		resp.Region, resp.Leader = r.Meta(), r.Leader()
		resp.DownPeers, resp.PendingPeers = r.DownPeers(), r.PendingPeers()
	}
	return resp
}

// GetRegion implements pdpbgrpc.PDServer.
func (s *Server) GetRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetRegionResponse{Header: eh}, nil
	}
	return regionResponse(s.header(), ls.cluster.GetRegionByKey(req.RegionKey)), nil
}

// GetPrevRegion implements pdpbgrpc.PDServer.
func (s *Server) GetPrevRegion(ctx context.Context, req *pdpb.GetRegionRequest) (*pdpb.GetRegionResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetRegionResponse{Header: eh}, nil
	}
	return regionResponse(s.header(), ls.cluster.GetPrevRegion(req.RegionKey)), nil
}

// GetRegionByID implements pdpbgrpc.PDServer.
func (s *Server) GetRegionByID(ctx context.Context, req *pdpb.GetRegionByIDRequest) (*pdpb.GetRegionResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetRegionResponse{Header: eh}, nil
	}
	return regionResponse(s.header(), ls.cluster.GetRegion(req.RegionId)), nil
}

// ScanRegions implements pdpbgrpc.PDServer.
func (s *Server) ScanRegions(ctx context.Context, req *pdpb.ScanRegionsRequest) (*pdpb.ScanRegionsResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.ScanRegionsResponse{Header: eh}, nil
	}
	resp := &pdpb.ScanRegionsResponse{Header: s.header()}
	for _, r := range ls.cluster.ScanRegions(req.StartKey, req.EndKey, int(req.Limit)) {
		resp.Regions = append(resp.Regions, r.Response())
		resp.RegionMetas = append(resp.RegionMetas, r.Meta())
		leader := r.Leader()
		if leader == nil {
			leader = &metapb.Peer{}
		}
		resp.Leaders = append(resp.Leaders, leader)
	}
	return resp, nil
}

// maxSplitCount bounds one AskBatchSplit: the IDs it hands out are
// SplitCount times the peers plus one, taken from the ID window in etcd.
const maxSplitCount = 1000

// AskBatchSplit implements pdpbgrpc.PDServer: it hands out the IDs for
// split_count new regions, each with one peer per peer of the parent.
func (s *Server) AskBatchSplit(ctx context.Context, req *pdpb.AskBatchSplitRequest) (*pdpb.AskBatchSplitResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.AskBatchSplitResponse{Header: eh}, nil
	}
	if req.Region == nil || req.SplitCount == 0 || req.SplitCount > maxSplitCount {
		return &pdpb.AskBatchSplitResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"ask split needs a region and a split count in [1, %d], got %d", maxSplitCount, req.SplitCount))}, nil
	}
	if cur := ls.cluster.GetRegion(req.Region.Id); cur != nil && cur.Epoch().Version > req.Region.RegionEpoch.GetVersion() {
		return &pdpb.AskBatchSplitResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"region %d epoch is stale", req.Region.Id))}, nil
	}
	per := uint64(1 + len(req.Region.Peers))
	first, err := s.ids.Alloc(ctx, uint64(req.SplitCount)*per)
	if err != nil {
		return &pdpb.AskBatchSplitResponse{Header: s.internalErr(err)}, nil
	}
	resp := &pdpb.AskBatchSplitResponse{Header: s.header()}
	next := first
	for range req.SplitCount {
		sid := &pdpb.SplitID{NewRegionId: next}
		next++
		for range req.Region.Peers {
			sid.NewPeerIds = append(sid.NewPeerIds, next)
			next++
		}
		resp.Ids = append(resp.Ids, sid)
	}
	return resp, nil
}

// ReportBatchSplit implements pdpbgrpc.PDServer. The regions are installed
// (leaders unknown) so that routing sees the split before the new leaders'
// first heartbeats; a stale report is ignored by the epoch rules.
func (s *Server) ReportBatchSplit(ctx context.Context, req *pdpb.ReportBatchSplitRequest) (*pdpb.ReportBatchSplitResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.ReportBatchSplitResponse{Header: eh}, nil
	}
	for _, r := range req.Regions {
		if r == nil || r.Id == 0 {
			continue
		}
		if old := ls.cluster.GetRegion(r.Id); old != nil && old.Epoch().Version >= r.RegionEpoch.GetVersion() {
			continue
		}
		ri := cluster.NewRegionInfo(r, nil)
		if ch, err := ls.cluster.PutRegion(ri); err == nil {
			ls.persist.mark(ch, r.Id)
		}
	}
	s.logger.Info("region split reported", zap.Int("regions", len(req.Regions)))
	return &pdpb.ReportBatchSplitResponse{Header: s.header()}, nil
}

// GetClusterConfig implements pdpbgrpc.PDServer.
func (s *Server) GetClusterConfig(ctx context.Context, req *pdpb.GetClusterConfigRequest) (*pdpb.GetClusterConfigResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetClusterConfigResponse{Header: eh}, nil
	}
	return &pdpb.GetClusterConfigResponse{Header: s.header(), Cluster: ls.meta.Load()}, nil
}

// PutClusterConfig implements pdpbgrpc.PDServer; max_peer_count becomes the
// schedule's max-replicas.
func (s *Server) PutClusterConfig(ctx context.Context, req *pdpb.PutClusterConfigRequest) (*pdpb.PutClusterConfigResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.PutClusterConfigResponse{Header: eh}, nil
	}
	if req.Cluster == nil || req.Cluster.MaxPeerCount == 0 {
		return &pdpb.PutClusterConfigResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"max_peer_count must be positive"))}, nil
	}
	meta := &metapb.Cluster{Id: s.clusterID, MaxPeerCount: req.Cluster.MaxPeerCount}
	if err := s.storage.SaveCluster(ctx, meta); err != nil {
		return &pdpb.PutClusterConfigResponse{Header: s.internalErr(err)}, nil
	}
	sc := ls.schedule().Clone()
	sc.MaxReplicas = int(meta.MaxPeerCount)
	if err := ls.setSchedule(ctx, sc); err != nil {
		return &pdpb.PutClusterConfigResponse{Header: s.internalErr(err)}, nil
	}
	ls.meta.Store(meta)
	return &pdpb.PutClusterConfigResponse{Header: s.header()}, nil
}

// GetOperator implements pdpbgrpc.PDServer.
func (s *Server) GetOperator(ctx context.Context, req *pdpb.GetOperatorRequest) (*pdpb.GetOperatorResponse, error) {
	ls, eh := s.check(ctx, req.Header, true)
	if eh != nil {
		return &pdpb.GetOperatorResponse{Header: eh}, nil
	}
	v, ok := ls.ops.Get(req.RegionId)
	if !ok {
		return &pdpb.GetOperatorResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_REGION_NOT_FOUND,
			"region %d has no operator", req.RegionId)), RegionId: req.RegionId}, nil
	}
	return &pdpb.GetOperatorResponse{Header: s.header(), RegionId: req.RegionId, Desc: []byte(v.Desc),
		Status: v.PBStatus(), Kind: []byte(v.Kind)}, nil
}

func hasPeerOn(r *metapb.Region, store uint64) bool {
	for _, p := range r.Peers {
		if p.StoreId == store {
			return true
		}
	}
	return false
}
