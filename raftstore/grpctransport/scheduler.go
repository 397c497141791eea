package grpctransport

import (
	"context"
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/raftstore"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// Scheduler adapts the scheduler's gRPC client to what a store needs of
// it (raftstore.SchedulerClient), so that raftstore itself depends on no
// scheduler package.
func Scheduler(c schedclient.Client) raftstore.SchedulerClient { return schedulerAdapter{c} }

type schedulerAdapter struct{ schedclient.Client }

func (a schedulerAdapter) Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) error {
	err := a.Client.Bootstrap(ctx, store, region)
	if errors.Is(err, schedclient.ErrAlreadyBootstrapped) {
		return fmt.Errorf("%w: %w", raftstore.ErrAlreadyBootstrapped, err)
	}
	return err
}

func (a schedulerAdapter) GetRegionByID(ctx context.Context, id uint64) (*metapb.Region, error) {
	r, err := a.Client.GetRegionByID(ctx, id)
	if err != nil || r == nil {
		return nil, err
	}
	return r.Meta, nil
}

var _ raftstore.SchedulerClient = schedulerAdapter{}
