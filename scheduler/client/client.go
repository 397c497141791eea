// Package client is the Go client of the scheduler's pdpb.PD service, used
// by stores (raftstore) and the client SDK. It discovers the scheduler
// members from any given address, follows the leader, reconnects when the
// leader changes, and retries with bounded backoff within the caller's
// context deadline.
//
// This package imports no other scheduler package but scheduler/pderr (the
// wire convention for errors), so that raftstore and the SDK depend on the
// protocol only.
package client

import (
	"context"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// Client talks to the scheduler cluster. All methods are safe for
// concurrent use. Methods that take a context return when it is done, with
// the last error seen.
type Client interface {
	// GetClusterID is the cluster's ID, learned at creation.
	GetClusterID(ctx context.Context) uint64
	// GetLeaderURL is the scheduler leader's client URL as last seen.
	GetLeaderURL() string
	// AllocID returns a new unique ID.
	AllocID(ctx context.Context) (uint64, error)
	Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) error
	IsBootstrapped(ctx context.Context) (bool, error)
	PutStore(ctx context.Context, store *metapb.Store) error
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	GetAllStores(ctx context.Context, excludeTombstone bool) ([]*metapb.Store, error)
	// StoreHeartbeat reports a store's stats; the response carries the
	// scheduler's view of the store's state.
	StoreHeartbeat(ctx context.Context, stats *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error)
	// RegionHeartbeat queues a region heartbeat on the stream to the leader;
	// it blocks only while the queue is full. A heartbeat queued when the
	// stream breaks is dropped: region heartbeats are periodic.
	RegionHeartbeat(ctx context.Context, req *pdpb.RegionHeartbeatRequest) error
	// RegionHeartbeatResponses delivers the operator steps the scheduler
	// sends back. Read it, or heartbeat processing stalls.
	RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse
	// GetRegion returns the region containing key (ErrRegionNotFound if none).
	GetRegion(ctx context.Context, key []byte) (*Region, error)
	// GetPrevRegion returns the region just before the one containing key.
	GetPrevRegion(ctx context.Context, key []byte) (*Region, error)
	GetRegionByID(ctx context.Context, regionID uint64) (*Region, error)
	// ScanRegions lists up to limit regions overlapping [start, end)
	// (limit <= 0: all; empty end: +infinity).
	ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*Region, error)
	// AskBatchSplit asks IDs for count new regions split from region.
	AskBatchSplit(ctx context.Context, region *metapb.Region, count int) ([]*pdpb.SplitID, error)
	// ReportBatchSplit reports the regions a split produced.
	ReportBatchSplit(ctx context.Context, regions []*metapb.Region) error
	// GetTS returns a new timestamp (physical ms, logical).
	GetTS(ctx context.Context) (physical, logical int64, err error)
	// GetMembers returns the scheduler members and the leader.
	GetMembers(ctx context.Context) (*pdpb.GetMembersResponse, error)
	// Close stops the background streams and closes connections.
	Close()
}

// Region is a region with its leader and unhealthy peers.
type Region struct {
	Meta         *metapb.Region
	Leader       *metapb.Peer
	DownPeers    []*pdpb.PeerStats
	PendingPeers []*metapb.Peer
}
