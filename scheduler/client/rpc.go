package client

import (
	"context"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
)

type pdc = pdpbgrpc.PDClient
type rh = *pdpb.RequestHeader

func (c *grpcClient) AllocID(ctx context.Context) (uint64, error) {
	var id uint64
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.AllocID(ctx, &pdpb.AllocIDRequest{Header: h, Count: 1})
		id = resp.GetId()
		return resp.GetHeader(), err
	})
	return id, err
}

func (c *grpcClient) Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) error {
	return c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.Bootstrap(ctx, &pdpb.BootstrapRequest{Header: h, Store: store, Region: region})
		return resp.GetHeader(), err
	})
}

func (c *grpcClient) IsBootstrapped(ctx context.Context) (bool, error) {
	var ok bool
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.IsBootstrapped(ctx, &pdpb.IsBootstrappedRequest{Header: h})
		ok = resp.GetBootstrapped()
		return resp.GetHeader(), err
	})
	return ok, err
}

func (c *grpcClient) PutStore(ctx context.Context, store *metapb.Store) error {
	return c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.PutStore(ctx, &pdpb.PutStoreRequest{Header: h, Store: store})
		return resp.GetHeader(), err
	})
}

func (c *grpcClient) GetStore(ctx context.Context, id uint64) (*metapb.Store, error) {
	var st *metapb.Store
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.GetStore(ctx, &pdpb.GetStoreRequest{Header: h, StoreId: id})
		st = resp.GetStore()
		return resp.GetHeader(), err
	})
	return st, err
}

func (c *grpcClient) GetAllStores(ctx context.Context, excludeTombstone bool) ([]*metapb.Store, error) {
	var out []*metapb.Store
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.GetAllStores(ctx, &pdpb.GetAllStoresRequest{Header: h, ExcludeTombstoneStores: excludeTombstone})
		out = resp.GetStores()
		return resp.GetHeader(), err
	})
	return out, err
}

func (c *grpcClient) StoreHeartbeat(ctx context.Context, stats *pdpb.StoreStats) (*pdpb.StoreHeartbeatResponse, error) {
	var out *pdpb.StoreHeartbeatResponse
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.StoreHeartbeat(ctx, &pdpb.StoreHeartbeatRequest{Header: h, Stats: stats})
		out = resp
		return resp.GetHeader(), err
	})
	return out, err
}

func toRegion(resp *pdpb.GetRegionResponse) (*Region, error) {
	if resp.GetRegion() == nil {
		return nil, ErrRegionNotFound
	}
	return &Region{Meta: resp.Region, Leader: resp.Leader, DownPeers: resp.DownPeers, PendingPeers: resp.PendingPeers}, nil
}

func (c *grpcClient) getRegion(ctx context.Context, f func(context.Context, pdc, rh) (*pdpb.GetRegionResponse, error)) (*Region, error) {
	var out *pdpb.GetRegionResponse
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := f(ctx, cli, h)
		out = resp
		return resp.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	return toRegion(out)
}

func (c *grpcClient) GetRegion(ctx context.Context, key []byte) (*Region, error) {
	return c.getRegion(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.GetRegionResponse, error) {
		return cli.GetRegion(ctx, &pdpb.GetRegionRequest{Header: h, RegionKey: key})
	})
}

func (c *grpcClient) GetPrevRegion(ctx context.Context, key []byte) (*Region, error) {
	return c.getRegion(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.GetRegionResponse, error) {
		return cli.GetPrevRegion(ctx, &pdpb.GetRegionRequest{Header: h, RegionKey: key})
	})
}

func (c *grpcClient) GetRegionByID(ctx context.Context, id uint64) (*Region, error) {
	return c.getRegion(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.GetRegionResponse, error) {
		return cli.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{Header: h, RegionId: id})
	})
}

func (c *grpcClient) ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*Region, error) {
	var out []*Region
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.ScanRegions(ctx, &pdpb.ScanRegionsRequest{Header: h, StartKey: start, EndKey: end, Limit: int32(limit)})
		out = out[:0]
		for _, r := range resp.GetRegions() {
			out = append(out, &Region{Meta: r.Region, Leader: r.Leader, DownPeers: r.DownPeers, PendingPeers: r.PendingPeers})
		}
		return resp.GetHeader(), err
	})
	return out, err
}

func (c *grpcClient) AskBatchSplit(ctx context.Context, region *metapb.Region, count int) ([]*pdpb.SplitID, error) {
	if count <= 0 {
		return nil, fmt.Errorf("client: split count must be positive")
	}
	var out []*pdpb.SplitID
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.AskBatchSplit(ctx, &pdpb.AskBatchSplitRequest{Header: h, Region: region, SplitCount: uint32(count)})
		out = resp.GetIds()
		return resp.GetHeader(), err
	})
	return out, err
}

func (c *grpcClient) ReportBatchSplit(ctx context.Context, regions []*metapb.Region) error {
	return c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.ReportBatchSplit(ctx, &pdpb.ReportBatchSplitRequest{Header: h, Regions: regions})
		return resp.GetHeader(), err
	})
}

func (c *grpcClient) GetMembers(ctx context.Context) (*pdpb.GetMembersResponse, error) {
	var out *pdpb.GetMembersResponse
	err := c.call(ctx, func(ctx context.Context, cli pdc, h rh) (*pdpb.ResponseHeader, error) {
		resp, err := cli.GetMembers(ctx, &pdpb.GetMembersRequest{Header: h})
		out = resp
		return resp.GetHeader(), err
	})
	return out, err
}
