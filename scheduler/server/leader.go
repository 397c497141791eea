package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/checker"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/filter"
	"github.com/regionkv/regionkv/scheduler/hot"
	"github.com/regionkv/regionkv/scheduler/operator"
	"github.com/regionkv/regionkv/scheduler/schedulers"
	"github.com/regionkv/regionkv/scheduler/storage"
)

// tsoUpdateInterval is how often the TSO's physical clock advances.
const tsoUpdateInterval = 50 * time.Millisecond

// leaderState is everything that exists only while this member leads. A
// new term builds a new one from etcd.
type leaderState struct {
	s        *Server
	cluster  *cluster.Cluster
	ops      *operator.Controller
	registry *schedulers.Registry
	checker  *checker.ReplicaChecker
	persist  *regionPersister
	// hot holds the load statistics of this term, from the heartbeats it
	// received (in memory only: a new leader starts afresh).
	hot *hot.Cache
	// lease says whether this term's etcd lease is known to be alive;
	// timestamps and operator steps are served only while it is.
	lease *leaderLease
	meta  atomic.Pointer[metapb.Cluster] // nil until bootstrapped
	prep  prepare                        // prepare.go

	// patrolCursor is where the replica checker's patrol goes on; only the
	// patrol goroutine touches it.
	patrolCursor struct{ key []byte }

	schedMu sync.RWMutex
	sched   config.Schedule

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	lost     chan struct{} // closed when a write finds leadership gone
	lostOnce sync.Once
}

func (s *Server) becomeLeader(ctx context.Context, guard *clientv3.Cmp, lease *leaderLease) (*leaderState, error) {
	s.storage.SetLeaderGuard(guard)
	s.ids.Reset()
	if err := s.tso.Sync(ctx); err != nil {
		return nil, err
	}
	ls := &leaderState{s: s, cluster: cluster.New(nil), lease: lease, lost: make(chan struct{})}
	ls.prep.start = ls.cluster.Now()
	ls.sched = s.cfg.Schedule.Clone()
	if b, ok, err := s.storage.LoadSchedule(ctx); err != nil {
		return nil, err
	} else if ok {
		next := config.DefaultSchedule()
		if err := json.Unmarshal(b, &next); err == nil && next.Validate() == nil {
			ls.sched = next
		}
	}
	meta, err := s.storage.LoadCluster(ctx)
	if err != nil {
		return nil, err
	}
	if meta != nil {
		ls.meta.Store(meta)
	}
	stores, err := s.storage.LoadStores(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range stores {
		ls.cluster.LoadStore(st)
	}
	n := 0
	if err := s.storage.LoadRegions(ctx, func(r *metapb.Region) {
		if _, err := ls.cluster.PutRegion(cluster.NewRegionInfo(r, nil)); err == nil {
			n++
		}
	}); err != nil {
		return nil, err
	}
	ls.ops = operator.NewController(ls.limits, nil, s.logger)
	ls.ops.SetOnFinish(s.metrics.operatorFinished)
	ls.ops.SetSender(func(r *cluster.RegionInfo, resp *pdpb.RegionHeartbeatResponse) {
		if ls.lease.valid() {
			s.pushResponse(r, resp)
		}
	})
	ls.registry = schedulers.NewRegistry(schedulers.Builtin(), s.seed)
	for _, name := range ls.sched.Schedulers {
		if err := ls.registry.Add(name); err != nil {
			s.logger.Warn("unknown scheduler in config", zap.String("scheduler", name), zap.Error(err))
		}
	}
	ls.checker = checker.NewReplicaChecker(ls.view())
	ls.ops.SetHealth(func(r *cluster.RegionInfo) operator.Health { return ls.checker.Health(ls.options(), r) })
	ls.persist = newRegionPersister(s.storage, ls.cluster)
	ls.hot = hot.NewCache(ls.hotConfig, ls.cluster.Now)
	lctx, cancel := context.WithCancel(ctx)
	ls.cancel = cancel
	ls.goLoop(lctx, ls.persist.interval, func(ctx context.Context) error { return ls.persist.flush(ctx) })
	ls.goLoop(lctx, tsoUpdateInterval, func(ctx context.Context) error { return s.tso.Update(ctx) })
	ls.goLoop(lctx, ls.schedule().PatrolInterval.Duration, func(context.Context) error { ls.patrol(); return nil })
	ls.goLoop(lctx, ls.schedule().ScheduleInterval.Duration, func(context.Context) error { ls.runSchedulers(); return nil })
	ls.goLoop(lctx, time.Second, ls.maintainStores)
	s.leader.Store(ls)
	s.metrics.leaderTerms.Inc()
	s.logger.Info("leader state loaded", zap.Int("stores", len(stores)), zap.Int("regions", n),
		zap.Bool("bootstrapped", meta != nil))
	return ls, nil
}

// goLoop runs fn every interval until ctx ends. An ErrNotLeader from fn
// means another member leads: this term ends.
func (ls *leaderState) goLoop(ctx context.Context, interval time.Duration, fn func(context.Context) error) {
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				ls.fail(err)
			}
		}
	}()
}

// fail handles an error of a background task.
func (ls *leaderState) fail(err error) {
	if errors.Is(err, storage.ErrNotLeader) {
		ls.lostOnce.Do(func() { close(ls.lost) })
		return
	}
	ls.s.logger.Warn("leader background task", zap.Error(err))
}

func (s *Server) stepDown(ls *leaderState) {
	s.leader.Store(nil)
	ls.cancel()
	ls.wg.Wait()
	// Save what is pending if we still can; the guard refuses otherwise.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = ls.persist.flush(ctx)
	cancel()
	s.tso.Reset()
	s.ids.Reset()
	// The storage keeps this term's leader guard: a request that passed the
	// leader check just before we stepped down then fails its write instead
	// of overwriting the next leader's state. becomeLeader installs a new one.
	s.logger.Info("stepped down as scheduler leader", zap.String("name", s.cfg.Name))
}

func (ls *leaderState) schedule() config.Schedule {
	ls.schedMu.RLock()
	defer ls.schedMu.RUnlock()
	return ls.sched
}

// setSchedule validates, persists and installs a new schedule config.
// Known debt: the patrol and schedule intervals are read when a term starts,
// so changes to them take effect at the next leader change.
func (ls *leaderState) setSchedule(ctx context.Context, next config.Schedule) error {
	if err := next.Validate(); err != nil {
		return err
	}
	if err := next.CheckSchedulers(ls.registry.Available()); err != nil {
		return err
	}
	b, _ := json.Marshal(next)
	if err := ls.s.storage.SaveSchedule(ctx, b); err != nil {
		return err
	}
	ls.schedMu.Lock()
	ls.sched = next
	ls.schedMu.Unlock()
	return nil
}

func (ls *leaderState) hotConfig() hot.Config {
	c := ls.schedule()
	hc := hot.DefaultConfig()
	hc.Window, hc.HitsThreshold = c.HotRegionWindow.Duration, c.HotRegionCacheHitsThreshold
	return hc
}

func (ls *leaderState) limits() operator.Limits {
	c := ls.schedule()
	return operator.Limits{Leader: c.LeaderScheduleLimit, Region: c.RegionScheduleLimit,
		Replica: c.ReplicaScheduleLimit, Hot: c.HotRegionScheduleLimit, Store: c.StoreLimit, Timeout: c.OperatorTimeout.Duration}
}

func (ls *leaderState) options() *filter.Options {
	c := ls.schedule()
	return &filter.Options{
		Now:           ls.cluster.Now(),
		Thresholds:    cluster.Thresholds{Disconnect: c.StoreDisconnectTime.Duration, Down: c.MaxStoreDownTime.Duration},
		MaxReplicas:   c.MaxReplicas,
		LowSpaceRatio: c.LowSpaceRatio,
		Tolerance:     c.Tolerance,
	}
}

// view is the cluster as checkers and schedulers see it.
type view struct {
	*cluster.Cluster
	ls *leaderState
}

func (ls *leaderState) view() view { return view{Cluster: ls.cluster, ls: ls} }

// HasOperator implements schedulers.Cluster.
func (v view) HasOperator(regionID uint64) bool { return v.ls.ops.Has(regionID) }

// RegionLoads implements schedulers.Cluster.
func (v view) RegionLoads() []hot.RegionStat { return v.ls.hot.Regions() }

// AllocID implements checker.Cluster and schedulers.Cluster.
func (v view) AllocID() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.ls.s.ids.Alloc(ctx, 1)
}
