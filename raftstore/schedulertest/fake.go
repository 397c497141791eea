// Package schedulertest is an in-memory scheduler for tests: it hands out
// IDs, records bootstrap, stores and the regions leaders report, and never
// sends operators.
package schedulertest

import (
	"context"
	"errors"
	"sync"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/raftstore"
)

// ErrBootstrapped: a second Bootstrap.
var ErrBootstrapped = errors.New("schedulertest: cluster already bootstrapped")

// ErrNotFound: an unknown store.
var ErrNotFound = errors.New("schedulertest: not found")

// Fake implements raftstore.SchedulerClient in memory. Safe for concurrent
// use; one Fake is shared by every store of a test cluster.
type Fake struct {
	mu           sync.Mutex
	clusterID    uint64
	nextID       uint64
	bootstrapped bool
	stores       map[uint64]*metapb.Store
	regions      map[uint64]*pdpb.RegionHeartbeatRequest
	responses    chan *pdpb.RegionHeartbeatResponse
}

var _ raftstore.SchedulerClient = (*Fake)(nil)

// New returns a fake whose IDs start above firstID.
func New(clusterID, firstID uint64) *Fake {
	return &Fake{clusterID: clusterID, nextID: firstID, stores: make(map[uint64]*metapb.Store),
		regions: make(map[uint64]*pdpb.RegionHeartbeatRequest), responses: make(chan *pdpb.RegionHeartbeatResponse)}
}

func (f *Fake) GetClusterID(context.Context) uint64 { return f.clusterID }

func (f *Fake) AllocID(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}

func (f *Fake) Bootstrap(_ context.Context, store *metapb.Store, region *metapb.Region) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bootstrapped {
		return ErrBootstrapped
	}
	f.bootstrapped = true
	f.stores[store.Id] = store
	f.regions[region.Id] = &pdpb.RegionHeartbeatRequest{Region: region}
	return nil
}

func (f *Fake) IsBootstrapped(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bootstrapped, nil
}

// SetBootstrapped marks the cluster bootstrapped (by a test that wrote
// the first region itself).
func (f *Fake) SetBootstrapped() {
	f.mu.Lock()
	f.bootstrapped = true
	f.mu.Unlock()
}

func (f *Fake) PutStore(_ context.Context, store *metapb.Store) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[store.Id] = store
	return nil
}

func (f *Fake) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.stores[id]
	if !ok {
		return nil, ErrNotFound
	}
	return s, nil
}

func (f *Fake) StoreHeartbeat(_ context.Context, stats *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error) {
	return &pdpb.StoreHeartbeatResponse{}, nil
}

func (f *Fake) RegionHeartbeat(_ context.Context, req *pdpb.RegionHeartbeatRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.regions[req.Region.Id]
	if !ok || old.Term <= req.Term {
		f.regions[req.Region.Id] = req
	}
	return nil
}

// Leader returns the last reported leader of a region.
func (f *Fake) Leader(regionID uint64) *metapb.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.regions[regionID]; ok {
		return r.Leader
	}
	return nil
}

func (f *Fake) RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse { return f.responses }

func (f *Fake) AskBatchSplit(ctx context.Context, _ *metapb.Region, count int) ([]*pdpb.SplitID, error) {
	return nil, errors.New("schedulertest: split is not supported yet")
}

func (f *Fake) ReportBatchSplit(context.Context, []*metapb.Region) error { return nil }
