// Package schedulertest is an in-memory scheduler for tests: it hands out
// IDs (also for splits), records bootstrap, stores and the regions leaders
// report, and sends the operators a test gives it (SendOperator) to the
// store of the region's last reported leader.
package schedulertest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/raftstore"
)

// ErrBootstrapped: a second Bootstrap.
var ErrBootstrapped = fmt.Errorf("schedulertest: %w", raftstore.ErrAlreadyBootstrapped)

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
	traffic      map[uint64]*Traffic // summed over every heartbeat, by region
	responses    chan *pdpb.RegionHeartbeatResponse
	perStore     map[uint64]chan *pdpb.RegionHeartbeatResponse
}

var _ raftstore.SchedulerClient = (*Fake)(nil)

// New returns a fake whose IDs start above firstID.
func New(clusterID, firstID uint64) *Fake {
	return &Fake{clusterID: clusterID, nextID: firstID, stores: make(map[uint64]*metapb.Store),
		regions: make(map[uint64]*pdpb.RegionHeartbeatRequest), responses: make(chan *pdpb.RegionHeartbeatResponse),
		traffic:  make(map[uint64]*Traffic),
		perStore: make(map[uint64]chan *pdpb.RegionHeartbeatResponse)}
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
	tr := f.traffic[req.Region.Id]
	if tr == nil {
		tr = &Traffic{}
		f.traffic[req.Region.Id] = tr
	}
	tr.KeysRead += req.KeysRead
	tr.BytesRead += req.BytesRead
	tr.KeysWritten += req.KeysWritten
	tr.BytesWritten += req.BytesWritten
	if q := req.QueryStats; q != nil {
		tr.Gets += q.Get
		tr.Scans += q.Scan
		tr.Puts += q.Put
		tr.Deletes += q.Delete
	}
	old, ok := f.regions[req.Region.Id]
	if !ok || newer(req, old) {
		f.regions[req.Region.Id] = req
	}
	return nil
}

// newer reports whether heartbeat a is at least as recent as b: a newer
// epoch, or the same epoch and a term not older.
func newer(a, b *pdpb.RegionHeartbeatRequest) bool {
	ae, be := a.Region.GetRegionEpoch(), b.Region.GetRegionEpoch()
	if ae.GetVersion() != be.GetVersion() {
		return ae.GetVersion() > be.GetVersion()
	}
	if ae.GetConfVer() != be.GetConfVer() {
		return ae.GetConfVer() > be.GetConfVer()
	}
	return a.Term >= b.Term || a.Leader != nil && b.Leader == nil
}

// Traffic is what a region's heartbeats reported, summed.
type Traffic struct {
	KeysRead, BytesRead, KeysWritten, BytesWritten uint64
	// Requests (query_stats).
	Gets, Scans, Puts, Deletes uint64
}

// TotalTraffic returns the traffic every region's heartbeats reported so
// far, summed.
func (f *Fake) TotalTraffic() Traffic {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sum Traffic
	for _, tr := range f.traffic {
		sum.KeysRead += tr.KeysRead
		sum.BytesRead += tr.BytesRead
		sum.KeysWritten += tr.KeysWritten
		sum.BytesWritten += tr.BytesWritten
		sum.Gets += tr.Gets
		sum.Scans += tr.Scans
		sum.Puts += tr.Puts
		sum.Deletes += tr.Deletes
	}
	return sum
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

func (f *Fake) AskBatchSplit(_ context.Context, r *metapb.Region, count int) ([]*pdpb.SplitID, error) {
	if count <= 0 {
		return nil, errors.New("schedulertest: split count must be positive")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*pdpb.SplitID, count)
	for i := range out {
		f.nextID++
		id := &pdpb.SplitID{NewRegionId: f.nextID}
		for range r.Peers {
			f.nextID++
			id.NewPeerIds = append(id.NewPeerIds, f.nextID)
		}
		out[i] = id
	}
	return out, nil
}

func (f *Fake) ReportBatchSplit(_ context.Context, regions []*metapb.Region) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range regions {
		req := &pdpb.RegionHeartbeatRequest{Region: r}
		if old, ok := f.regions[r.Id]; !ok || old.Region.GetRegionEpoch().GetVersion() < r.RegionEpoch.GetVersion() {
			f.regions[r.Id] = req
		}
	}
	return nil
}

// GetRegionByID returns the region as last reported (ErrNotFound if never).
func (f *Fake) GetRegionByID(_ context.Context, id uint64) (*metapb.Region, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.regions[id]
	if !ok {
		return nil, ErrNotFound
	}
	return r.Region, nil
}

// Heartbeat returns the last heartbeat (or split report) of a region.
func (f *Fake) Heartbeat(regionID uint64) *pdpb.RegionHeartbeatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regions[regionID]
}

// ForStore returns the view of the fake a store uses: the same state, but
// its own channel of operators.
func (f *Fake) ForStore(storeID uint64) raftstore.SchedulerClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.perStore[storeID]
	if !ok {
		ch = make(chan *pdpb.RegionHeartbeatResponse, 64)
		f.perStore[storeID] = ch
	}
	return &storeView{Fake: f, ch: ch}
}

type storeView struct {
	*Fake
	ch chan *pdpb.RegionHeartbeatResponse
}

func (v *storeView) RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse { return v.ch }

// SendOperator sends an operator step to the store of the region's last
// reported leader, filling in the region ID and the reported epoch unless
// set. It reports whether it could.
func (f *Fake) SendOperator(resp *pdpb.RegionHeartbeatResponse) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.regions[resp.RegionId]
	if !ok || r.Leader == nil {
		return false
	}
	if resp.RegionEpoch == nil {
		resp.RegionEpoch = r.Region.RegionEpoch
	}
	ch, ok := f.perStore[r.Leader.StoreId]
	if !ok {
		return false
	}
	select {
	case ch <- resp:
		return true
	default:
		return false
	}
}
