package server

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/operator"
)

// patrol runs the replica checker over the next batch of regions, and ends
// operators that timed out.
func (ls *leaderState) patrol() {
	ls.ops.CheckTimeouts()
	if ls.meta.Load() == nil || !ls.prepared() {
		return
	}
	cur := &ls.patrolCursor
	c := ls.schedule()
	regions := ls.cluster.ScanRegions(cur.key, nil, c.PatrolBatch)
	if len(regions) < c.PatrolBatch {
		cur.key = nil // wrap around next time
	} else {
		cur.key = regions[len(regions)-1].EndKey()
		if len(cur.key) == 0 {
			cur.key = nil
		}
	}
	o := ls.options()
	for _, r := range regions {
		// A region busy with a balance operator (low priority) is still
		// checked, for repairs only (high priority: a replica on a down or
		// offline store): a store that went down after the operator was
		// built may leave its step unable to finish, and the repair must
		// not wait for the operator's timeout. Add replaces it. Lesser
		// fixes (an extra replica while the balancer moves one) wait.
		prio, busy := ls.ops.Priority(r.ID())
		if busy && prio > operator.PriorityLow {
			continue
		}
		op, _ := ls.checker.Check(o, r)
		if op == nil || (busy && op.Priority < operator.PriorityHigh) {
			continue
		}
		if err := ls.ops.Add(op, r); err != nil && !errors.Is(err, operator.ErrKindLimit) &&
			!errors.Is(err, operator.ErrStoreLimit) {
			ls.s.logger.Debug("replica operator not admitted", zap.Uint64("region-id", r.ID()), zap.Error(err))
		}
	}
}

// runSchedulers runs each unpaused balance scheduler once.
func (ls *leaderState) runSchedulers() {
	if ls.meta.Load() == nil {
		return
	}
	o := ls.options()
	if !ls.prepared() {
		for _, sch := range ls.registry.Runnable(o.Now) {
			ls.registry.Record(sch.Name(), o.Now, 0, "preparing: waiting for stores and region leaders to report to this scheduler leader")
		}
		return
	}
	lim := ls.limits()
	v := ls.view()
	for _, sch := range ls.registry.Runnable(o.Now) {
		limit := lim.Region
		switch sch.Kind() {
		case operator.KindLeader:
			limit = lim.Leader
		case operator.KindHot:
			limit = lim.Hot
		}
		if ls.ops.Count(sch.Kind()) >= limit {
			ls.registry.Record(sch.Name(), o.Now, 0, "operator limit reached")
			continue
		}
		ops, why := sch.Schedule(v, ls.ops.Influence(), o)
		added := 0
		for _, op := range ops {
			r := ls.cluster.GetRegion(op.RegionID)
			if r == nil {
				continue
			}
			if err := ls.ops.Add(op, r); err != nil {
				why = err.Error()
				continue
			}
			added++
		}
		ls.registry.Record(sch.Name(), o.Now, added, why)
	}
}

// maintainStores turns drained Offline stores into Tombstones.
func (ls *leaderState) maintainStores(ctx context.Context) error {
	for _, s := range ls.cluster.GetStores() {
		if s.Meta.State != metapb.StoreState_Offline || s.RegionCount > 0 {
			continue
		}
		if err := ls.setStoreState(ctx, s.ID(), metapb.StoreState_Tombstone); err != nil {
			return err
		}
	}
	return nil
}

// setStoreState changes and persists a store's state.
func (ls *leaderState) setStoreState(ctx context.Context, id uint64, state metapb.StoreState) error {
	if state == metapb.StoreState_Tombstone {
		if s := ls.cluster.GetStore(id); s != nil && s.RegionCount > 0 {
			return errors.Join(cluster.ErrInvalidState, errors.New("store still has regions"))
		}
	}
	meta, err := ls.cluster.SetStoreState(id, state)
	if err != nil {
		return err
	}
	ls.s.logger.Info("store state changed", zap.Uint64("store-id", id), zap.Stringer("state", state))
	return ls.s.storage.SaveStore(ctx, meta)
}
