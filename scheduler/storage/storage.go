// Package storage keeps the scheduler's metadata in etcd: the cluster ID,
// cluster meta, stores, regions, the schedule config, and the ID and TSO
// windows. Every write made by the leader is guarded by its election key, so
// a member that lost leadership without noticing cannot overwrite the new
// leader's state.
package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Sentinel errors.
var (
	// ErrNotLeader: the leader guard failed; this member is no longer leader.
	ErrNotLeader = errors.New("storage: not leader (leader guard failed)")
	// ErrAlreadyBootstrapped: Bootstrap found cluster meta already there.
	ErrAlreadyBootstrapped = errors.New("storage: cluster already bootstrapped")
)

// RootPath is the prefix of every key regionkv writes to etcd.
const RootPath = "/regionkv"

// requestTimeout bounds one etcd round trip when the caller set no deadline.
const requestTimeout = 5 * time.Second

// maxTxnOps stays under etcd's default --max-txn-ops (128).
const maxTxnOps = 120

// ClusterIDKey holds the cluster ID; it is outside the per-cluster prefix
// because it names that prefix.
const ClusterIDKey = RootPath + "/cluster_id"

// InitClusterID returns the cluster ID stored in etcd, creating a random
// non-zero one if there is none. Concurrent callers agree on one ID.
func InitClusterID(ctx context.Context, cli *clientv3.Client) (uint64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	id := uint64(time.Now().Unix())<<32 | uint64(rand.Uint32())
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(ClusterIDKey), "=", 0)).
		Then(clientv3.OpPut(ClusterIDKey, strconv.FormatUint(id, 10))).
		Else(clientv3.OpGet(ClusterIDKey)).Commit()
	if err != nil {
		return 0, fmt.Errorf("storage: init cluster id: %w", err)
	}
	if resp.Succeeded {
		return id, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 {
		return 0, fmt.Errorf("storage: cluster id vanished")
	}
	v, err := strconv.ParseUint(string(kvs[0].Value), 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("storage: bad cluster id %q", kvs[0].Value)
	}
	return v, nil
}

// Storage reads and writes one cluster's metadata.
type Storage struct {
	cli   *clientv3.Client
	root  string
	guard atomic.Pointer[clientv3.Cmp]
}

// New returns the storage of cluster clusterID.
func New(cli *clientv3.Client, clusterID uint64) *Storage {
	return &Storage{cli: cli, root: fmt.Sprintf("%s/%d", RootPath, clusterID)}
}

// Client is the etcd client underneath.
func (s *Storage) Client() *clientv3.Client { return s.cli }

// Path returns the full etcd key of a path under the cluster's prefix.
func (s *Storage) Path(p string) string { return s.root + "/" + p }

// SetLeaderGuard makes every later write conditional on cmp (nil: none).
func (s *Storage) SetLeaderGuard(cmp *clientv3.Cmp) { s.guard.Store(cmp) }

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// commit runs ops in one transaction under the leader guard and the extra
// conditions. It returns whether the extra conditions held.
func (s *Storage) commit(ctx context.Context, conds []clientv3.Cmp, ops ...clientv3.Op) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	g := s.guard.Load()
	if g != nil {
		conds = append([]clientv3.Cmp{*g}, conds...)
	}
	resp, err := s.cli.Txn(ctx).If(conds...).Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("storage: etcd txn: %w", err)
	}
	if resp.Succeeded {
		return true, nil
	}
	if g != nil {
		ok, err := s.guardHolds(ctx, *g)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, ErrNotLeader
		}
	}
	return false, nil
}

func (s *Storage) guardHolds(ctx context.Context, g clientv3.Cmp) (bool, error) {
	resp, err := s.cli.Txn(ctx).If(g).Commit()
	if err != nil {
		return false, fmt.Errorf("storage: etcd txn: %w", err)
	}
	return resp.Succeeded, nil
}

func (s *Storage) put(ctx context.Context, key string, val []byte) error {
	_, err := s.commit(ctx, nil, clientv3.OpPut(s.Path(key), string(val)))
	return err
}

func (s *Storage) get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.Path(key))
	if err != nil {
		return nil, false, fmt.Errorf("storage: get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	return resp.Kvs[0].Value, true, nil
}

// loadRange calls fn for every key under prefix, in key order, in pages.
func (s *Storage) loadRange(ctx context.Context, prefix string, fn func(val []byte) error) error {
	start, end := s.Path(prefix), clientv3.GetPrefixRangeEnd(s.Path(prefix))
	for {
		cctx, cancel := withTimeout(ctx)
		resp, err := s.cli.Get(cctx, start, clientv3.WithRange(end), clientv3.WithLimit(10000))
		cancel()
		if err != nil {
			return fmt.Errorf("storage: load %s: %w", prefix, err)
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

const (
	clusterKey   = "meta/cluster"
	storePrefix  = "meta/stores/"
	regionPrefix = "meta/regions/"
	scheduleKey  = "config/schedule"
	allocIDKey   = "alloc_id"
	tsoKey       = "tso"
)

func storeKey(id uint64) string  { return fmt.Sprintf("%s%020d", storePrefix, id) }
func regionKey(id uint64) string { return fmt.Sprintf("%s%020d", regionPrefix, id) }

// Bootstrap writes the cluster meta, the first store and the first region in
// one transaction, unless the cluster meta exists already.
func (s *Storage) Bootstrap(ctx context.Context, c *metapb.Cluster, st *metapb.Store, r *metapb.Region) error {
	cb, _ := c.Marshal()
	sb, _ := st.Marshal()
	rb, _ := r.Marshal()
	ok, err := s.commit(ctx,
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.Path(clusterKey)), "=", 0)},
		clientv3.OpPut(s.Path(clusterKey), string(cb)),
		clientv3.OpPut(s.Path(storeKey(st.Id)), string(sb)),
		clientv3.OpPut(s.Path(regionKey(r.Id)), string(rb)))
	if err != nil {
		return err
	}
	if !ok {
		return ErrAlreadyBootstrapped
	}
	return nil
}

// LoadCluster returns the cluster meta, or nil before bootstrap.
func (s *Storage) LoadCluster(ctx context.Context) (*metapb.Cluster, error) {
	b, ok, err := s.get(ctx, clusterKey)
	if err != nil || !ok {
		return nil, err
	}
	c := &metapb.Cluster{}
	if err := c.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("storage: decode cluster meta: %w", err)
	}
	return c, nil
}

// SaveCluster overwrites the cluster meta.
func (s *Storage) SaveCluster(ctx context.Context, c *metapb.Cluster) error {
	b, _ := c.Marshal()
	return s.put(ctx, clusterKey, b)
}

// SaveStore writes one store's meta.
func (s *Storage) SaveStore(ctx context.Context, st *metapb.Store) error {
	b, _ := st.Marshal()
	return s.put(ctx, storeKey(st.Id), b)
}

// LoadStores returns every stored store.
func (s *Storage) LoadStores(ctx context.Context) ([]*metapb.Store, error) {
	var out []*metapb.Store
	err := s.loadRange(ctx, storePrefix, func(b []byte) error {
		st := &metapb.Store{}
		if err := st.Unmarshal(b); err != nil {
			return fmt.Errorf("storage: decode store: %w", err)
		}
		out = append(out, st)
		return nil
	})
	return out, err
}

// SaveRegions writes region metas and deletes the regions in deleted, in
// transactions of at most maxTxnOps operations.
func (s *Storage) SaveRegions(ctx context.Context, regions []*metapb.Region, deleted []uint64) error {
	ops := make([]clientv3.Op, 0, len(regions)+len(deleted))
	for _, r := range regions {
		b, _ := r.Marshal()
		ops = append(ops, clientv3.OpPut(s.Path(regionKey(r.Id)), string(b)))
	}
	for _, id := range deleted {
		ops = append(ops, clientv3.OpDelete(s.Path(regionKey(id))))
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if _, err := s.commit(ctx, nil, ops[:n]...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// LoadRegions calls fn for every stored region.
func (s *Storage) LoadRegions(ctx context.Context, fn func(*metapb.Region)) error {
	return s.loadRange(ctx, regionPrefix, func(b []byte) error {
		r := &metapb.Region{}
		if err := r.Unmarshal(b); err != nil {
			return fmt.Errorf("storage: decode region: %w", err)
		}
		fn(r)
		return nil
	})
}

// SaveSchedule writes the schedule config (JSON).
func (s *Storage) SaveSchedule(ctx context.Context, b []byte) error {
	return s.put(ctx, scheduleKey, b)
}

// LoadSchedule reads the schedule config (JSON); ok is false if none.
func (s *Storage) LoadSchedule(ctx context.Context) (b []byte, ok bool, err error) {
	return s.get(ctx, scheduleKey)
}

// Window is one persisted monotonic upper bound: the ID allocator's last
// reserved ID or the TSO's last reserved physical time.
type Window struct {
	s   *Storage
	key string
}

// IDWindow is the ID allocator's window.
func (s *Storage) IDWindow() *Window { return &Window{s: s, key: allocIDKey} }

// TSOWindow is the TSO's window (unix milliseconds).
func (s *Storage) TSOWindow() *Window { return &Window{s: s, key: tsoKey} }

// Load returns the saved bound, 0 if none.
func (w *Window) Load(ctx context.Context) (uint64, error) {
	b, ok, err := w.s.get(ctx, w.key)
	if err != nil || !ok {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("storage: bad window %s", w.key)
	}
	return binary.BigEndian.Uint64(b), nil
}

// Save replaces the saved bound with next, under the leader guard.
func (w *Window) Save(ctx context.Context, next uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], next)
	return w.s.put(ctx, w.key, b[:])
}
