package client

import (
	"context"
	"fmt"
	"math"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// scheduler is what the SDK needs from the scheduler: where regions are, and
// where stores are. schedclient.Client satisfies it; tests fake it.
type scheduler interface {
	GetRegion(ctx context.Context, key []byte) (*schedclient.Region, error)
	GetPrevRegion(ctx context.Context, key []byte) (*schedclient.Region, error)
	ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*schedclient.Region, error)
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	Close()
}

var _ scheduler = schedclient.Client(nil)

// standaloneScheduler describes one standalone store as a cluster of one
// region that covers the whole key space, with one peer on that store. The
// region has id 0, which tells the sender to leave the request Context
// empty: a standalone store has no regions to check.
type standaloneScheduler struct{ addr string }

const standaloneStoreID = math.MaxUint64

func (s standaloneScheduler) region() *schedclient.Region {
	peer := &metapb.Peer{StoreId: standaloneStoreID}
	return &schedclient.Region{
		Meta:   &metapb.Region{RegionEpoch: &metapb.RegionEpoch{}, Peers: []*metapb.Peer{peer}},
		Leader: peer,
	}
}

func (s standaloneScheduler) GetRegion(context.Context, []byte) (*schedclient.Region, error) {
	return s.region(), nil
}

func (s standaloneScheduler) GetPrevRegion(context.Context, []byte) (*schedclient.Region, error) {
	return s.region(), nil
}

func (s standaloneScheduler) ScanRegions(context.Context, []byte, []byte, int) ([]*schedclient.Region, error) {
	return []*schedclient.Region{s.region()}, nil
}

func (s standaloneScheduler) GetStore(_ context.Context, id uint64) (*metapb.Store, error) {
	if id != standaloneStoreID {
		return nil, fmt.Errorf("client: standalone store has no store %d", id)
	}
	return &metapb.Store{Id: id, Address: s.addr}, nil
}

func (standaloneScheduler) Close() {}
