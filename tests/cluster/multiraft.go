package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	"github.com/regionkv/regionkv/raftstore"
)

// Helpers for tests with many regions: leaders per region, admin commands
// sent to a region's leader, and per-store views of region data.

// ErrNoLeader: a region has no leader among the running stores.
var ErrNoLeader = errors.New("cluster: region has no leader")

// store returns store id's raftstore if it runs.
func (c *Cluster) store(id uint64) *raftstore.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(id)
	if !n.up {
		return nil
	}
	return n.Store
}

// LeaderOf returns the store whose peer of region leads with the highest
// term, waiting up to timeout.
func (c *Cluster) LeaderOf(regionID uint64, timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for {
		var best, bestTerm uint64
		for _, id := range c.StoreIDs() {
			s := c.store(id)
			if s == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := s.PeerStatus(ctx, regionID)
			cancel()
			if err == nil && st.Leader && st.Term > bestTerm {
				best, bestTerm = id, st.Term
			}
		}
		if best != 0 {
			return best, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%w: region %d within %v", ErrNoLeader, regionID, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling raft state; nothing to wait on
	}
}

// onLeader runs f on the leader of the region holding key, retrying on
// another leader while f fails, until ctx is done.
func (c *Cluster) onLeader(ctx context.Context, regionID uint64, f func(s *raftstore.Store) error) error {
	var last error
	for ctx.Err() == nil {
		l, err := c.LeaderOf(regionID, 5*time.Second)
		if err != nil {
			last = err
			continue
		}
		s := c.store(l)
		if s == nil {
			continue
		}
		if err = f(s); err == nil {
			return nil
		}
		last = err
		sleepCtx(ctx, 50*time.Millisecond)
	}
	if last == nil {
		last = ctx.Err()
	}
	return last
}

// Split splits the region holding key at key (through its leader).
func (c *Cluster) Split(ctx context.Context, key string) ([]*metapb.Region, error) {
	var out []*metapb.Region
	err := c.onLeader(ctx, c.RegionOf([]byte(key)).Id, func(s *raftstore.Store) error {
		r := s.RegionForKey([]byte(key))
		if r == nil {
			return raftstore.ErrRegionNotFound
		}
		if string(r.StartKey) == key {
			out = []*metapb.Region{r}
			return nil // already split there
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rs, err := s.SplitRegion(sctx, r.Id, [][]byte{[]byte(key)})
		out = rs
		return err
	})
	return out, err
}

// ChangePeer adds or removes a peer of a region through its leader.
func (c *Cluster) ChangePeer(ctx context.Context, regionID uint64, typ eraftpb.ConfChangeType, p *metapb.Peer) (*metapb.Region, error) {
	var out *metapb.Region
	err := c.onLeader(ctx, regionID, func(s *raftstore.Store) error {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := s.Admin(sctx, regionID, &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_ChangePeer,
			ChangePeer: &raft_cmdpb.ChangePeerRequest{ChangeType: typ, Peer: p}})
		if err != nil {
			return err
		}
		out = resp.ChangePeer.Region
		return nil
	})
	return out, err
}

// TransferLeader asks the region's leader to hand leadership to store to.
func (c *Cluster) TransferLeader(ctx context.Context, regionID, to uint64) error {
	return c.onLeader(ctx, regionID, func(s *raftstore.Store) error {
		var r *metapb.Region
		for _, reg := range s.Regions() {
			if reg.Id == regionID {
				r = reg
			}
		}
		if r == nil {
			return raftstore.ErrRegionNotFound
		}
		var target *metapb.Peer
		for _, p := range r.Peers {
			if p.StoreId == to {
				target = p
			}
		}
		if target == nil {
			return fmt.Errorf("cluster: region %d has no peer on store %d", regionID, to)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := s.Admin(sctx, regionID, &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_TransferLeader,
			TransferLeader: &raft_cmdpb.TransferLeaderRequest{Peer: target}})
		return err
	})
}

// AllocID hands out a fresh ID from the scheduler fake.
func (c *Cluster) AllocID() uint64 {
	id, _ := c.Sched.AllocID(context.Background())
	return id
}

// RegionData returns the data of region (default CF) as stored on store id.
func (c *Cluster) RegionData(id uint64, r *metapb.Region) (map[string]string, error) {
	c.mu.Lock()
	n := c.node(id)
	e := n.Engines
	c.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("cluster: store %d has no engines open", id)
	}
	snap, err := e.NewSnapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	it, err := snap.NewCFIterator("", engine.IterOptions{LowerBound: r.StartKey, UpperBound: r.EndKey})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]string{}
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, err
		}
		out[string(it.Key())] = string(v)
	}
	return out, it.Err()
}

// StoreRegion returns store id's view of a region (nil if it holds none).
func (c *Cluster) StoreRegion(id, regionID uint64) *metapb.Region {
	s := c.store(id)
	if s == nil {
		return nil
	}
	for _, r := range s.Regions() {
		if r.Id == regionID {
			return r
		}
	}
	return nil
}

// DumpRegion describes every store's peer of the region holding key, for
// failure reports.
func (c *Cluster) DumpRegion(key []byte) string {
	var b []byte
	for _, id := range c.StoreIDs() {
		s := c.store(id)
		if s == nil {
			b = fmt.Appendf(b, "store %d down\n", id)
			continue
		}
		r := s.RegionForKey(key)
		if r == nil {
			b = fmt.Appendf(b, "store %d: no region for key\n", id)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := s.PeerStatus(ctx, r.Id)
		cancel()
		b = fmt.Appendf(b, "store %d: region %d [%q,%q) epoch %v peers %v: %+v %v awake=%d\n", id, r.Id, r.StartKey, r.EndKey,
			r.RegionEpoch, r.Peers, st, err, s.AwakeRegions())
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		resp, err := c.server(id).RawGet(ctx, &kvrpcpb.RawGetRequest{Key: key, Context: &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch}})
		cancel()
		b = fmt.Appendf(b, "  direct get: %v %v\n", resp, err)
	}
	return string(b)
}
