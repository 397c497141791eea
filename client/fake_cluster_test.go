package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// The fake cluster: real gRPC stores on 127.0.0.1 that hold data per region
// and answer region errors the way raftstore will, and an in-memory
// scheduler that always knows the truth. Tests split regions, move leaders,
// stop stores and make them busy. One mutex serializes every request, so
// the fake itself is linearizable: any anomaly a test sees is the SDK's.

// poison is put into every response that carries a region error: the SDK
// must never return it.
var poison = []byte("STALE-REGION-RESULT")

type fakeRegion struct {
	meta   *metapb.Region
	leader uint64 // peer id; 0 while no leader is known
	parent uint64 // region it was split from
	data   map[string][]byte
}

type fakeCluster struct {
	t *testing.T

	mu      sync.Mutex
	regions map[uint64]*fakeRegion
	stores  map[uint64]*fakeStore
	nextID  uint64
	busy    map[uint64]int // store id -> busy answers left (<0: forever)
	// behind: this many answers report EpochNotMatch with the region one
	// version older than the request's, as a leader that has not applied
	// a split yet would.
	behind   int
	noLeader bool // NotLeader answers carry no hint
	// undetermined: the next write is applied but answered with
	// UndeterminedResult, as when a proposal's fate is unknown.
	undetermined bool
	// lostReply: the next write is applied but its reply is lost, as when
	// the connection drops or the attempt times out after the store applied.
	lostReply lostReplyMode
	applied   int // writes applied (Put, Delete, BatchPut, DeleteRange)

	// hook, if set, runs at the start of every store RPC, outside the lock.
	hook atomic.Pointer[func(storeID uint64, method string)]
	// batchPutHook, if set, runs at the start of every RawBatchPut with
	// the request, outside the lock.
	batchPutHook atomic.Pointer[func(*kvrpcpb.RawBatchPutRequest)]

	schedCalls atomic.Int64
	rpcs       sync.Map // method -> *atomic.Int64
}

type fakeStore struct {
	tikvpb.UnimplementedTikvServer
	c       *fakeCluster
	id      uint64
	addr    string
	srv     *grpc.Server
	stopped bool
}

// newFakeCluster starts stores and cuts the key space at splitKeys; every
// region has a peer on each of the first min(3, stores) stores after its
// leader's, and leaders go round-robin over the stores.
func newFakeCluster(t *testing.T, stores int, splitKeys ...string) *fakeCluster {
	t.Helper()
	c := &fakeCluster{t: t, regions: map[uint64]*fakeRegion{}, stores: map[uint64]*fakeStore{}, busy: map[uint64]int{}, nextID: 1000}
	for i := 1; i <= stores; i++ {
		c.startStore(uint64(i))
	}
	t.Cleanup(func() {
		for _, s := range c.stores {
			c.stopStore(s.id)
		}
	})
	bounds := append([]string{""}, splitKeys...)
	bounds = append(bounds, "")
	for i := 0; i+1 < len(bounds); i++ {
		id := uint64(i + 1)
		r := &metapb.Region{Id: id, StartKey: []byte(bounds[i]), EndKey: []byte(bounds[i+1]),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}}
		for j := 0; j < min(3, stores); j++ {
			store := uint64((i+j)%stores + 1)
			r.Peers = append(r.Peers, &metapb.Peer{Id: id*100 + store, StoreId: store})
		}
		c.regions[id] = &fakeRegion{meta: r, leader: r.Peers[0].Id, data: map[string][]byte{}}
	}
	return c
}

func (c *fakeCluster) startStore(id uint64) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	s := &fakeStore{c: c, id: id, addr: lis.Addr().String(), srv: grpc.NewServer(codec.ServerOption())}
	tikvpb.RegisterTikvServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	c.stores[id] = s
}

// stopStore kills a store: its address refuses connections from now on.
func (c *fakeCluster) stopStore(id uint64) {
	c.mu.Lock()
	s := c.stores[id]
	stopped := s.stopped
	s.stopped = true
	c.mu.Unlock()
	if !stopped {
		s.srv.Stop()
	}
}

func (c *fakeCluster) count(method string) int64 {
	v, _ := c.rpcs.LoadOrStore(method, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (c *fakeCluster) setHook(f func(storeID uint64, method string)) { c.hook.Store(&f) }

// regionOf returns the region holding key. Caller holds mu.
func (c *fakeCluster) regionOfLocked(key []byte) *fakeRegion {
	for _, r := range c.regions {
		if bytes.Compare(r.meta.StartKey, key) <= 0 && (len(r.meta.EndKey) == 0 || bytes.Compare(key, r.meta.EndKey) < 0) {
			return r
		}
	}
	c.t.Fatalf("fake cluster: no region for %q", key)
	return nil
}

// split cuts the region holding key at key: the left part keeps its id,
// the right part gets a new one; both get version+1, as in TiKV.
func (c *fakeCluster) split(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.regionOfLocked([]byte(key))
	if bytes.Equal(r.meta.StartKey, []byte(key)) {
		return
	}
	c.nextID++
	nid := c.nextID
	left := cloneRegion(r.meta)
	left.EndKey = []byte(key)
	left.RegionEpoch.Version++
	right := cloneRegion(r.meta)
	right.Id, right.StartKey = nid, []byte(key)
	right.RegionEpoch.Version++
	leaderStore := uint64(0)
	for i, p := range right.Peers {
		if p.Id == r.leader {
			leaderStore = p.StoreId
		}
		right.Peers[i] = &metapb.Peer{Id: nid*100 + p.StoreId, StoreId: p.StoreId}
	}
	nr := &fakeRegion{meta: right, parent: r.meta.Id, data: map[string][]byte{}}
	for _, p := range right.Peers {
		if p.StoreId == leaderStore {
			nr.leader = p.Id
		}
	}
	for k, v := range r.data {
		if k >= key {
			nr.data[k] = v
			delete(r.data, k)
		}
	}
	r.meta = left
	c.regions[nid] = nr
}

// transferLeader moves the leader of the region holding key to the next
// peer (round-robin), and returns the new leader's store.
func (c *fakeCluster) transferLeader(key string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.regionOfLocked([]byte(key))
	for i, p := range r.meta.Peers {
		if p.Id == r.leader {
			next := r.meta.Peers[(i+1)%len(r.meta.Peers)]
			r.leader = next.Id
			return next.StoreId
		}
	}
	r.leader = r.meta.Peers[0].Id
	return r.meta.Peers[0].StoreId
}

// moveLeadersOff makes a peer on another store the leader of every region
// led from store id (as elections do after a store dies).
func (c *fakeCluster) moveLeadersOff(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.regions {
		for _, p := range r.meta.Peers {
			if p.Id == r.leader && p.StoreId == id {
				for _, q := range r.meta.Peers {
					if q.StoreId != id {
						r.leader = q.Id
						break
					}
				}
			}
		}
	}
}

func (c *fakeCluster) setBusy(store uint64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy[store] = n
}

func (c *fakeCluster) setUndetermined() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undetermined = true
}

// lostReplyMode is how the reply of an applied write is lost.
type lostReplyMode int

const (
	replyKept    lostReplyMode = iota
	replyDropped               // the RPC fails with Unavailable (connection dropped)
	replyLate                  // no reply until the attempt's deadline passes
)

func (c *fakeCluster) appliedWrites() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

func (c *fakeCluster) setLostReply(m lostReplyMode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lostReply = m
}

// afterApply loses the reply of a write that was just applied, if asked
// to. Caller holds mu; it is released while waiting for the deadline.
func (s *fakeStore) afterApply(ctx context.Context) error {
	s.c.applied++
	m := s.c.lostReply
	s.c.lostReply = replyKept
	switch m {
	case replyDropped:
		return status.Error(codes.Unavailable, "fake: connection dropped after the write was applied")
	case replyLate:
		s.c.mu.Unlock()
		<-ctx.Done()
		s.c.mu.Lock()
		return ctx.Err()
	}
	return nil
}

func (c *fakeCluster) setNoLeaderHint(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noLeader = v
}

// sortedRegions returns the regions' metadata in key order.
func (c *fakeCluster) sortedRegions() []*metapb.Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*metapb.Region
	for _, r := range c.regions {
		out = append(out, cloneRegion(r.meta))
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].StartKey, out[j].StartKey) < 0 })
	return out
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	out := &metapb.Region{Id: r.Id, StartKey: append([]byte(nil), r.StartKey...), EndKey: append([]byte(nil), r.EndKey...),
		RegionEpoch: &metapb.RegionEpoch{ConfVer: r.RegionEpoch.ConfVer, Version: r.RegionEpoch.Version}}
	for _, p := range r.Peers {
		out.Peers = append(out.Peers, &metapb.Peer{Id: p.Id, StoreId: p.StoreId, Role: p.Role})
	}
	return out
}

// --- the fake scheduler ---

type fakeScheduler struct{ c *fakeCluster }

func (c *fakeCluster) scheduler() fakeScheduler { return fakeScheduler{c} }

func (s fakeScheduler) describe(r *fakeRegion) *schedclient.Region {
	out := &schedclient.Region{Meta: cloneRegion(r.meta)}
	if p := peerByID(out.Meta, r.leader); p != nil {
		out.Leader = p
	}
	return out
}

func (s fakeScheduler) GetRegion(_ context.Context, key []byte) (*schedclient.Region, error) {
	s.c.schedCalls.Add(1)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.describe(s.c.regionOfLocked(key)), nil
}

func (s fakeScheduler) GetPrevRegion(_ context.Context, key []byte) (*schedclient.Region, error) {
	s.c.schedCalls.Add(1)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, r := range s.c.regions {
		if len(r.meta.EndKey) > 0 && bytes.Equal(r.meta.EndKey, s.c.regionOfLocked(key).meta.StartKey) {
			return s.describe(r), nil
		}
	}
	return nil, schedclient.ErrRegionNotFound
}

func (s fakeScheduler) ScanRegions(_ context.Context, start, end []byte, limit int) ([]*schedclient.Region, error) {
	s.c.schedCalls.Add(1)
	var out []*schedclient.Region
	for _, m := range s.c.sortedRegions() {
		if (len(end) > 0 && bytes.Compare(m.StartKey, end) >= 0) || (len(m.EndKey) > 0 && bytes.Compare(m.EndKey, start) <= 0) {
			continue
		}
		s.c.mu.Lock()
		out = append(out, s.describe(s.c.regions[m.Id]))
		s.c.mu.Unlock()
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (s fakeScheduler) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	s.c.schedCalls.Add(1)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	st := s.c.stores[id]
	if st == nil {
		return nil, schedclient.ErrStoreNotFound
	}
	return &metapb.Store{Id: id, Address: st.addr}, nil
}

func (fakeScheduler) Close() {}

// --- the fake store's checks ---

// begin counts the RPC, runs the hook and takes the cluster lock.
func (s *fakeStore) begin(method string) func() {
	v, _ := s.c.rpcs.LoadOrStore(method, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if h := s.c.hook.Load(); h != nil {
		(*h)(s.id, method)
	}
	s.c.mu.Lock()
	return s.c.mu.Unlock
}

// check validates a request's routing the way a region leader does, in
// raftstore's order; lower/upper are the bounds the request touches (upper
// exclusive, upperIncl for reverse scans' exclusive start which may equal
// the region end). Caller holds mu.
func (s *fakeStore) check(rctx *kvrpcpb.Context, keys ...[]byte) (*fakeRegion, *errorpb.Error) {
	c := s.c
	if rctx == nil {
		return nil, &errorpb.Error{Message: "no context"}
	}
	r := c.regions[rctx.RegionId]
	if r == nil || peerOnStore(r.meta, s.id) == nil {
		return nil, &errorpb.Error{Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{RegionId: rctx.RegionId}}
	}
	if rctx.Peer.GetStoreId() != s.id {
		return nil, &errorpb.Error{Message: "store not match", StoreNotMatch: &errorpb.StoreNotMatch{RequestStoreId: rctx.Peer.GetStoreId(), ActualStoreId: s.id}}
	}
	if n := c.busy[s.id]; n != 0 {
		if n > 0 {
			c.busy[s.id] = n - 1
		}
		return nil, &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "fake busy"}}
	}
	if leader := peerByID(r.meta, r.leader); leader == nil || leader.StoreId != s.id {
		ne := &errorpb.NotLeader{RegionId: r.meta.Id}
		if !c.noLeader && leader != nil {
			ne.Leader = leader
		}
		return nil, &errorpb.Error{Message: "not leader", NotLeader: ne}
	}
	ep := r.meta.RegionEpoch
	if c.behind > 0 {
		c.behind--
		old := cloneRegion(r.meta)
		old.RegionEpoch.Version = max(rctx.RegionEpoch.GetVersion(), 1) - 1
		return nil, &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{old}}}
	}
	if rctx.RegionEpoch.GetVersion() != ep.Version || rctx.RegionEpoch.GetConfVer() != ep.ConfVer {
		current := []*metapb.Region{cloneRegion(r.meta)}
		for _, o := range c.regions {
			if o.parent == r.meta.Id && o.meta.RegionEpoch.Version > rctx.RegionEpoch.GetVersion() {
				current = append(current, cloneRegion(o.meta))
			}
		}
		return nil, &errorpb.Error{Message: "epoch not match", EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: current}}
	}
	for _, k := range keys {
		if bytes.Compare(k, r.meta.StartKey) < 0 || (len(r.meta.EndKey) > 0 && bytes.Compare(k, r.meta.EndKey) >= 0) {
			return nil, &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{
				Key: k, RegionId: r.meta.Id, StartKey: r.meta.StartKey, EndKey: r.meta.EndKey}}
		}
	}
	return r, nil
}

func peerOnStore(r *metapb.Region, store uint64) *metapb.Peer {
	for _, p := range r.Peers {
		if p.StoreId == store {
			return p
		}
	}
	return nil
}

var errBadCF = errors.New("fake: unknown column family")

func checkCF(cf string) string {
	if cf != "" && cf != "default" {
		return fmt.Sprintf("%v %q", errBadCF, cf)
	}
	return ""
}

// --- the fake store's RPCs ---

func (s *fakeStore) RawGet(_ context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	defer s.begin("RawGet")()
	r, re := s.check(req.Context, req.Key)
	if re != nil {
		return &kvrpcpb.RawGetResponse{RegionError: re, Value: poison}, nil
	}
	if e := checkCF(req.Cf); e != "" {
		return &kvrpcpb.RawGetResponse{Error: e}, nil
	}
	v, ok := r.data[string(req.Key)]
	return &kvrpcpb.RawGetResponse{Value: v, NotFound: !ok}, nil
}

func (s *fakeStore) RawBatchGet(_ context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	defer s.begin("RawBatchGet")()
	r, re := s.check(req.Context, req.Keys...)
	if re != nil {
		return &kvrpcpb.RawBatchGetResponse{RegionError: re, Pairs: []*kvrpcpb.KvPair{{Key: req.Keys[0], Value: poison}}}, nil
	}
	resp := &kvrpcpb.RawBatchGetResponse{}
	for _, k := range req.Keys {
		if v, ok := r.data[string(k)]; ok {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: k, Value: v})
		}
	}
	return resp, nil
}

func (s *fakeStore) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	defer s.begin("RawPut")()
	r, re := s.check(req.Context, req.Key)
	if re != nil {
		return &kvrpcpb.RawPutResponse{RegionError: re}, nil
	}
	if e := checkCF(req.Cf); e != "" {
		return &kvrpcpb.RawPutResponse{Error: e}, nil
	}
	r.data[string(req.Key)] = req.Value
	if err := s.afterApply(ctx); err != nil {
		return nil, err
	}
	if s.c.undetermined {
		s.c.undetermined = false
		return &kvrpcpb.RawPutResponse{RegionError: &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{Message: "fake"}}}, nil
	}
	return &kvrpcpb.RawPutResponse{}, nil
}

func (s *fakeStore) RawBatchPut(ctx context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	if h := s.c.batchPutHook.Load(); h != nil {
		(*h)(req)
	}
	defer s.begin("RawBatchPut")()
	keys := make([][]byte, len(req.Pairs))
	for i, p := range req.Pairs {
		keys[i] = p.Key
	}
	r, re := s.check(req.Context, keys...)
	if re != nil {
		return &kvrpcpb.RawBatchPutResponse{RegionError: re}, nil
	}
	for _, p := range req.Pairs {
		r.data[string(p.Key)] = p.Value
	}
	if err := s.afterApply(ctx); err != nil {
		return nil, err
	}
	return &kvrpcpb.RawBatchPutResponse{}, nil
}

func (s *fakeStore) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	defer s.begin("RawDelete")()
	r, re := s.check(req.Context, req.Key)
	if re != nil {
		return &kvrpcpb.RawDeleteResponse{RegionError: re}, nil
	}
	delete(r.data, string(req.Key))
	if err := s.afterApply(ctx); err != nil {
		return nil, err
	}
	return &kvrpcpb.RawDeleteResponse{}, nil
}

func (s *fakeStore) RawBatchDelete(_ context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	defer s.begin("RawBatchDelete")()
	r, re := s.check(req.Context, req.Keys...)
	if re != nil {
		return &kvrpcpb.RawBatchDeleteResponse{RegionError: re}, nil
	}
	for _, k := range req.Keys {
		delete(r.data, string(k))
	}
	return &kvrpcpb.RawBatchDeleteResponse{}, nil
}

// inRange reports lower <= k < upper (empty bounds open).
func inRange(k, lower, upper []byte) bool {
	return bytes.Compare(k, lower) >= 0 && (len(upper) == 0 || bytes.Compare(k, upper) < 0)
}

func (s *fakeStore) RawDeleteRange(ctx context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	defer s.begin("RawDeleteRange")()
	r, re := s.check(req.Context, req.StartKey)
	if re == nil && len(r.meta.EndKey) > 0 && (len(req.EndKey) == 0 || bytes.Compare(req.EndKey, r.meta.EndKey) > 0) {
		re = &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: req.EndKey, RegionId: r.meta.Id}}
	}
	if re != nil {
		return &kvrpcpb.RawDeleteRangeResponse{RegionError: re}, nil
	}
	for k := range r.data {
		if inRange([]byte(k), req.StartKey, req.EndKey) {
			delete(r.data, k)
		}
	}
	if err := s.afterApply(ctx); err != nil {
		return nil, err
	}
	return &kvrpcpb.RawDeleteRangeResponse{}, nil
}

// RawScan clamps the range to the region, as raftstore does; the start of
// a forward scan (the upper bound of a reverse one) must be in the region.
func (s *fakeStore) RawScan(_ context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	defer s.begin("RawScan")()
	bad := &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Key: poison, Value: poison}}}
	var r *fakeRegion
	var re *errorpb.Error
	if !req.Reverse {
		r, re = s.check(req.Context, req.StartKey)
	} else if r, re = s.check(req.Context); re == nil && len(req.StartKey) > 0 {
		// The exclusive upper bound may equal the region's end.
		if bytes.Compare(req.StartKey, r.meta.StartKey) <= 0 || (len(r.meta.EndKey) > 0 && bytes.Compare(req.StartKey, r.meta.EndKey) > 0) {
			re = &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: req.StartKey, RegionId: r.meta.Id}}
		}
	} else if re == nil && len(r.meta.EndKey) > 0 {
		re = &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{Key: req.StartKey, RegionId: r.meta.Id}}
	}
	if re != nil {
		bad.RegionError = re
		return bad, nil
	}
	lower, upper := req.StartKey, req.EndKey
	if req.Reverse {
		lower, upper = req.EndKey, req.StartKey
	}
	if bytes.Compare(lower, r.meta.StartKey) < 0 {
		lower = r.meta.StartKey
	}
	if len(r.meta.EndKey) > 0 && (len(upper) == 0 || bytes.Compare(upper, r.meta.EndKey) > 0) {
		upper = r.meta.EndKey
	}
	var keys []string
	for k := range r.data {
		if inRange([]byte(k), lower, upper) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if req.Reverse {
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	}
	resp := &kvrpcpb.RawScanResponse{}
	for _, k := range keys {
		if len(resp.Kvs) == int(req.Limit) {
			break
		}
		resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: []byte(k), Value: r.data[k]})
	}
	return resp, nil
}

func (s *fakeStore) RawCompareAndSwap(_ context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	defer s.begin("RawCompareAndSwap")()
	r, re := s.check(req.Context, req.Key)
	if re != nil {
		return &kvrpcpb.RawCASResponse{RegionError: re, Succeed: true, PreviousValue: poison}, nil
	}
	cur, ok := r.data[string(req.Key)]
	resp := &kvrpcpb.RawCASResponse{PreviousNotExist: !ok, PreviousValue: cur}
	if req.PreviousNotExist == !ok && (!ok || bytes.Equal(cur, req.PreviousValue)) {
		r.data[string(req.Key)] = req.Value
		resp.Succeed = true
	}
	if s.c.undetermined {
		s.c.undetermined = false
		return &kvrpcpb.RawCASResponse{RegionError: &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{Message: "fake"}}, PreviousValue: poison}, nil
	}
	return resp, nil
}

// newTestClient returns an SDK client of the fake cluster.
func newTestClient(t *testing.T, c *fakeCluster, opts ...Option) *RawClient {
	t.Helper()
	cfg := defaultConfig()
	for _, o := range append([]Option{WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...) {
		o(&cfg)
	}
	cl := newRawClient(c.scheduler(), cfg)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}
