package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/keyviz"
	"github.com/regionkv/regionkv/scheduler/operator"
	"github.com/regionkv/regionkv/scheduler/schedulers"
)

// apiServer adapts the Server to api.Backend.
type apiServer struct{ s *Server }

func (s *Server) apiBackend() api.Backend { return apiServer{s} }

func (a apiServer) Members(ctx context.Context) ([]*pdpb.Member, *pdpb.Member, error) {
	ms, err := a.s.members(ctx)
	return ms, a.s.currentLeader(ctx), err
}

func (a apiServer) ClusterID() uint64 { return a.s.clusterID }

func (a apiServer) Leader() api.Leader {
	if ls := a.s.leader.Load(); ls != nil {
		return apiLeader{ls}
	}
	return nil
}

func (a apiServer) StoreRecords(ctx context.Context) ([]*metapb.Store, error) {
	return a.s.storage.LoadStores(ctx)
}

// RunningConfig is the member's config with, on the leader, the schedule
// it runs (changed since the start by `ctl config set`).
func (a apiServer) RunningConfig() (map[string]any, error) {
	cfg := a.s.cfg
	if ls := a.s.leader.Load(); ls != nil {
		cfg.Schedule = ls.schedule()
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// apiLeader adapts a leaderState to api.Leader.
type apiLeader struct{ ls *leaderState }

var _ api.Leader = apiLeader{}

func bad(err error) error { return fmt.Errorf("%w: %v", api.ErrBadRequest, err) }

func (a apiLeader) Stores() []*cluster.StoreInfo       { return a.ls.cluster.GetStores() }
func (a apiLeader) Store(id uint64) *cluster.StoreInfo { return a.ls.cluster.GetStore(id) }

func (a apiLeader) SetStoreState(ctx context.Context, id uint64, st metapb.StoreState) error {
	if st == metapb.StoreState_Offline {
		if err := a.checkEnoughUpStores(id); err != nil {
			return bad(err)
		}
	}
	if err := a.ls.setStoreState(ctx, id, st); err != nil {
		if errors.Is(err, cluster.ErrInvalidState) || errors.Is(err, cluster.ErrStoreNotFound) {
			return bad(err)
		}
		return err
	}
	return nil
}

// checkEnoughUpStores refuses to take store id offline (delete it) when
// fewer than max-replicas Up stores would remain: its replicas would have
// nowhere to go, and the regions would stay one replica short while the
// store is drained for ever.
func (a apiLeader) checkEnoughUpStores(id uint64) error {
	o := a.ls.options()
	s := a.ls.cluster.GetStore(id)
	if s == nil || s.Meta.State != metapb.StoreState_Up {
		return nil // not found, or already offline: setStoreState decides
	}
	up := 0
	for _, st := range a.ls.cluster.GetStores() {
		if st.ID() != id && st.State(o.Now, o.Thresholds) == cluster.StateUp {
			up++
		}
	}
	if up < o.MaxReplicas {
		return fmt.Errorf("taking store %d offline would leave %d Up stores, fewer than max-replicas (%d)", id, up, o.MaxReplicas)
	}
	return nil
}

// checkTarget refuses an admin operator whose target store cannot take a
// replica or leadership now: not Up (Disconnected, Down, Offline,
// Tombstone), or not heard from by this scheduler leader.
func (a apiLeader) checkTarget(id uint64) error {
	s := a.ls.cluster.GetStore(id)
	if s == nil {
		return fmt.Errorf("store %d not found", id)
	}
	o := a.ls.options()
	for _, f := range []filter.Filter{filter.Up, filter.Reported} {
		if ok, why := f(o, s); !ok {
			return fmt.Errorf("store %d cannot be a target: %s", id, why)
		}
	}
	return nil
}

func (a apiLeader) SetStoreWeight(id uint64, leader, region float64) error {
	if err := a.ls.cluster.SetStoreWeight(id, leader, region); err != nil {
		return bad(err)
	}
	return nil
}

func (a apiLeader) StoreOptions() (time.Time, cluster.Thresholds) {
	o := a.ls.options()
	return o.Now, o.Thresholds
}

func (a apiLeader) Region(id uint64) *cluster.RegionInfo { return a.ls.cluster.GetRegion(id) }
func (a apiLeader) RegionByKey(k []byte) *cluster.RegionInfo {
	return a.ls.cluster.GetRegionByKey(k)
}
func (a apiLeader) Regions(start, end []byte, limit int) []*cluster.RegionInfo {
	return a.ls.cluster.ScanRegions(start, end, limit)
}
func (a apiLeader) RegionCount() int { return a.ls.cluster.RegionCount() }

func (a apiLeader) ScatterRegion(id uint64) error {
	r := a.ls.cluster.GetRegion(id)
	if r == nil {
		return bad(fmt.Errorf("region %d not found", id))
	}
	if err := a.ls.scatter(r); err != nil {
		return bad(err)
	}
	return nil
}

func (a apiLeader) Operators() []operator.View { return a.ls.ops.List() }
func (a apiLeader) Operator(id uint64) (operator.View, bool) {
	return a.ls.ops.Get(id)
}
func (a apiLeader) CancelOperator(id uint64) bool { return a.ls.ops.Cancel(id) }

func (a apiLeader) AddOperator(_ context.Context, req api.OperatorRequest) error {
	r := a.ls.cluster.GetRegion(req.RegionID)
	if r == nil {
		return bad(fmt.Errorf("region %d not found", req.RegionID))
	}
	const kind, prio = operator.KindAdmin, operator.PriorityHigh
	var op *operator.Operator
	var err error
	switch req.Name {
	case "transfer-leader":
		if err := a.checkTarget(req.ToStore); err != nil {
			return bad(err)
		}
		if p := r.StorePeer(req.ToStore); p != nil && (r.IsDown(p.Id) || r.IsPending(p.Id)) {
			return bad(fmt.Errorf("region %d's peer on store %d is down or behind: it cannot lead", r.ID(), req.ToStore))
		}
		op, err = operator.CreateTransferLeader("admin-transfer-leader", r, req.ToStore, kind, prio)
	case "remove-peer":
		if err := operator.CheckRemovable(r, req.FromStore, a.ls.checker.Health(a.ls.options(), r)); err != nil {
			return bad(err)
		}
		op, err = operator.CreateRemovePeer("admin-remove-peer", r, req.FromStore, kind, prio)
	case "add-peer", "move-peer":
		if r.StorePeer(req.ToStore) != nil {
			return bad(fmt.Errorf("store %d already holds region %d", req.ToStore, r.ID()))
		}
		if err := a.checkTarget(req.ToStore); err != nil {
			return bad(err)
		}
		var id uint64
		if id, err = a.ls.view().AllocID(); err != nil {
			return err
		}
		if req.Name == "add-peer" {
			op = operator.CreateAddPeer("admin-add-peer", r, req.ToStore, id, kind, prio)
		} else {
			op, err = operator.CreateMovePeer("admin-move-peer", r, req.FromStore, req.ToStore, id, kind, prio)
		}
	case "split":
		var keys [][]byte
		for _, k := range req.SplitKeys {
			b, herr := hex.DecodeString(k)
			if herr != nil {
				return bad(fmt.Errorf("split key %q is not hex", k))
			}
			// A key that is already one of the region's bounds needs no
			// split: asking again (a retried ctl command) is not an error.
			if len(b) > 0 && (bytes.Equal(b, r.StartKey()) || bytes.Equal(b, r.EndKey())) {
				continue
			}
			keys = append(keys, b)
		}
		if len(keys) == 0 && len(req.SplitKeys) > 0 {
			return nil // every key is a bound already
		}
		if err := operator.CheckSplitKeys(r.StartKey(), r.EndKey(), keys); err != nil {
			return bad(fmt.Errorf("region %d: %w", r.ID(), err))
		}
		op = operator.CreateSplit("admin-split", r, keys, prio)
		op.Kind |= kind
	default:
		return bad(fmt.Errorf("unknown operator %q", req.Name))
	}
	if err != nil {
		return bad(err)
	}
	if err := a.ls.ops.Add(op, r); err != nil {
		return bad(err)
	}
	return nil
}

func (a apiLeader) Schedulers() []schedulers.Status {
	return a.ls.registry.List(a.ls.cluster.Now())
}
func (a apiLeader) AvailableSchedulers() []string { return a.ls.registry.Available() }

func (a apiLeader) AddScheduler(ctx context.Context, name string) error {
	if err := a.ls.registry.Add(name); err != nil {
		return bad(err)
	}
	return a.saveSchedulers(ctx)
}

func (a apiLeader) RemoveScheduler(ctx context.Context, name string) error {
	if err := a.ls.registry.Remove(name); err != nil {
		return bad(err)
	}
	return a.saveSchedulers(ctx)
}

// saveSchedulers persists the running set so a new leader starts the same.
func (a apiLeader) saveSchedulers(ctx context.Context) error {
	sc := a.ls.schedule().Clone()
	sc.Schedulers = a.ls.registry.Names()
	return a.ls.setSchedule(ctx, sc)
}

func (a apiLeader) PauseScheduler(name string, d time.Duration) error {
	if err := a.ls.registry.Pause(name, a.ls.cluster.Now(), d); err != nil {
		return bad(err)
	}
	return nil
}

func (a apiLeader) Schedule() config.Schedule { return a.ls.schedule() }

func (a apiLeader) SetSchedule(ctx context.Context, changes map[string]json.RawMessage) error {
	sc := a.ls.schedule().Clone()
	if err := sc.SetAll(changes); err != nil {
		return bad(err)
	}
	if err := a.ls.setSchedule(ctx, sc); err != nil {
		if errors.Is(err, config.ErrInvalid) {
			return bad(err)
		}
		return err
	}
	return nil
}

func (a apiLeader) KeyViz(q keyviz.Query) (*keyviz.Matrix, error) { return a.ls.s.keyviz.Query(q) }
func (a apiLeader) KeyVizConfig() keyviz.Config                   { return a.ls.s.keyviz.Config() }

func (a apiLeader) HotRegions() []hot.RegionStat { return a.ls.hot.Regions() }
func (a apiLeader) HotStores() []hot.StoreStat   { return a.ls.hot.Stores() }
