package server

import (
	"errors"
	"io"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/keyviz"
	"github.com/regionkv/regionkv/scheduler/pderr"
)

// hbStreamBuffer bounds responses queued for one store's stream; when full,
// responses are dropped, and the next heartbeat of the region dispatches its
// step again.
const hbStreamBuffer = 1024

// hbStream is the sending half of one store's region heartbeat stream.
type hbStream struct {
	out chan *pdpb.RegionHeartbeatResponse
}

func (st *hbStream) enqueue(resp *pdpb.RegionHeartbeatResponse) {
	select {
	case st.out <- resp:
	default:
	}
}

// hbStreams maps each store to the heartbeat stream it last used, so that
// operators can be pushed to a region's leader as soon as they are created.
type hbStreams struct {
	mu      sync.RWMutex
	byStore map[uint64]*hbStream
}

func newHBStreams() *hbStreams { return &hbStreams{byStore: map[uint64]*hbStream{}} }

func (h *hbStreams) bind(store uint64, st *hbStream) {
	h.mu.RLock()
	cur := h.byStore[store]
	h.mu.RUnlock()
	if cur == st {
		return
	}
	h.mu.Lock()
	h.byStore[store] = st
	h.mu.Unlock()
}

func (h *hbStreams) unbind(st *hbStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, cur := range h.byStore {
		if cur == st {
			delete(h.byStore, id)
		}
	}
}

// push sends resp to the stream of r's leader store, if it has one.
func (h *hbStreams) push(r *cluster.RegionInfo, resp *pdpb.RegionHeartbeatResponse) {
	h.mu.RLock()
	st := h.byStore[r.LeaderStoreID()]
	h.mu.RUnlock()
	if st != nil {
		st.enqueue(resp)
	}
}

var errStreamNotLeader = status.Error(codes.Unavailable, pderr.NotLeaderPrefix)

// RegionHeartbeat implements pdpbgrpc.PDServer: region leaders stream their
// state; the scheduler streams back operator steps.
func (s *Server) RegionHeartbeat(stream pdpbgrpc.PD_RegionHeartbeatServer) error {
	st := &hbStream{out: make(chan *pdpb.RegionHeartbeatResponse, hbStreamBuffer)}
	defer s.streams.unbind(st)
	done := make(chan struct{})
	sendErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case resp := <-st.out:
				if err := stream.Send(resp); err != nil {
					sendErr <- err
					return
				}
			}
		}
	}()
	defer wg.Wait()
	defer close(done)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case err := <-sendErr:
			return err
		default:
		}
		resp, err := s.handleRegionHeartbeat(req, st)
		if err != nil {
			return err
		}
		if resp != nil {
			st.enqueue(resp)
		}
	}
}

func (s *Server) handleRegionHeartbeat(req *pdpb.RegionHeartbeatRequest, st *hbStream) (*pdpb.RegionHeartbeatResponse, error) {
	if h := req.Header; h.GetClusterId() != s.clusterID {
		return &pdpb.RegionHeartbeatResponse{Header: s.errHeader(pderr.ClusterIDMismatch(s.clusterID, h.GetClusterId()))}, nil
	}
	ls := s.leader.Load()
	if ls == nil || !ls.lease.valid() {
		// Without a lease known alive another member may lead: operator
		// steps from here could contradict the new leader's.
		return nil, errStreamNotLeader
	}
	if ls.meta.Load() == nil {
		return &pdpb.RegionHeartbeatResponse{Header: s.errHeader(notBootstrapped())}, nil
	}
	if req.Region == nil || req.Region.Id == 0 || req.Leader == nil {
		s.metrics.heartbeats.WithLabelValues("invalid").Inc()
		return &pdpb.RegionHeartbeatResponse{Header: s.errHeader(pderr.New(pdpb.ErrorType_INVALID_VALUE,
			"region heartbeat needs a region and its leader"))}, nil
	}
	s.streams.bind(req.Leader.StoreId, st)
	r := cluster.RegionFromHeartbeat(req)
	ch, err := ls.cluster.PutRegion(r)
	if err != nil {
		s.metrics.heartbeats.WithLabelValues("stale").Inc()
		s.logger.Debug("region heartbeat ignored", zap.Uint64("region-id", req.Region.Id), zap.Error(err))
		return nil, nil
	}
	s.metrics.heartbeats.WithLabelValues("ok").Inc()
	s.keyviz.Observe(r.ID(), r.Epoch().Version, r.StartKey(), r.EndKey(),
		keyviz.NewStats(req.BytesWritten, req.BytesRead, req.KeysWritten, req.KeysRead))
	ls.hot.Observe(hot.SampleFromHeartbeat(req))
	ls.hot.Remove(ch.Removed...)
	ls.persist.mark(ch, r.ID())
	if ch.SaveMeta {
		s.logger.Debug("region changed", zap.Uint64("region-id", r.ID()),
			zap.Uint64("conf-ver", r.Epoch().ConfVer), zap.Uint64("version", r.Epoch().Version),
			zap.Uint64s("removed", ch.Removed))
	}
	resp := ls.ops.Dispatch(r)
	if resp != nil {
		s.metrics.operatorsOut.Inc()
		resp.Header = s.header()
	}
	return resp, nil
}

// Tso implements pdpbgrpc.PDServer.
func (s *Server) Tso(stream pdpbgrpc.PD_TsoServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Header.GetClusterId() != s.clusterID {
			return status.Error(codes.FailedPrecondition, pderr.ClusterIDMismatch(s.clusterID, req.Header.GetClusterId()).Message)
		}
		if ls := s.leader.Load(); ls == nil || !ls.lease.valid() {
			// A member whose lease may have run out may have a successor
			// already handing out larger timestamps.
			return errStreamNotLeader
		}
		s.metrics.tsoRequests.Inc()
		ts, err := s.tso.Get(stream.Context(), req.Count)
		if err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		if err := stream.Send(&pdpb.TsoResponse{Header: s.header(), Count: req.Count, Timestamp: &ts}); err != nil {
			return err
		}
	}
}
