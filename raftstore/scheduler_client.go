package raftstore

import (
	"context"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// SchedulerClient is what a store needs of the scheduler. Its methods have
// the signatures of scheduler/client.Client, so the real client satisfies
// it; raftstore/schedulertest has an in-memory fake.
type SchedulerClient interface {
	GetClusterID(ctx context.Context) uint64
	AllocID(ctx context.Context) (uint64, error)
	Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) error
	IsBootstrapped(ctx context.Context) (bool, error)
	PutStore(ctx context.Context, store *metapb.Store) error
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	StoreHeartbeat(ctx context.Context, stats *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error)
	RegionHeartbeat(ctx context.Context, req *pdpb.RegionHeartbeatRequest) error
	RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse
	AskBatchSplit(ctx context.Context, region *metapb.Region, count int) ([]*pdpb.SplitID, error)
	ReportBatchSplit(ctx context.Context, regions []*metapb.Region) error
	// GetRegionByID is the scheduler's view of a region, for a peer that
	// suspects it was removed.
	GetRegionByID(ctx context.Context, regionID uint64) (*schedclient.Region, error)
}
