package raftstore

import (
	"context"
	"errors"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// SchedulerClient is what a store needs of the scheduler, in raftstore's
// own terms, so that raftstore depends on no scheduler package (and no
// gRPC): grpctransport.Scheduler adapts the scheduler's gRPC client to it,
// raftstore/schedulertest is an in-memory fake.
type SchedulerClient interface {
	GetClusterID(ctx context.Context) uint64
	AllocID(ctx context.Context) (uint64, error)
	// Bootstrap returns an error wrapping ErrAlreadyBootstrapped if
	// another store bootstrapped the cluster first.
	Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) error
	IsBootstrapped(ctx context.Context) (bool, error)
	PutStore(ctx context.Context, store *metapb.Store) error
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	StoreHeartbeat(ctx context.Context, stats *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error)
	RegionHeartbeat(ctx context.Context, req *pdpb.RegionHeartbeatRequest) error
	RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse
	AskBatchSplit(ctx context.Context, region *metapb.Region, count int) ([]*pdpb.SplitID, error)
	ReportBatchSplit(ctx context.Context, regions []*metapb.Region) error
	// GetRegionByID is the scheduler's view of a region (nil if it has
	// none), for a peer that suspects it was removed.
	GetRegionByID(ctx context.Context, regionID uint64) (*metapb.Region, error)
}

// ErrAlreadyBootstrapped is what SchedulerClient.Bootstrap wraps when the
// cluster was bootstrapped by another store.
var ErrAlreadyBootstrapped = errors.New("raftstore: cluster already bootstrapped")
