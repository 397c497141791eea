package server

import (
	"context"
	"sync"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/storage"
)

// regionPersister batches region meta changes into etcd. Heartbeats only
// mark regions dirty; the flush loop writes them, so the heartbeat path never
// waits for etcd. A region lost in a crash before its flush is reported again
// by its leader's next heartbeat.
type regionPersister struct {
	st       *storage.Storage
	c        *cluster.Cluster
	interval time.Duration

	mu      sync.Mutex
	dirty   map[uint64]struct{}
	deleted map[uint64]struct{}
}

func newRegionPersister(st *storage.Storage, c *cluster.Cluster) *regionPersister {
	return &regionPersister{st: st, c: c, interval: 50 * time.Millisecond,
		dirty: map[uint64]struct{}{}, deleted: map[uint64]struct{}{}}
}

func (p *regionPersister) mark(ch cluster.RegionChange, id uint64) {
	if !ch.SaveMeta && len(ch.Removed) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.SaveMeta {
		p.dirty[id] = struct{}{}
		delete(p.deleted, id)
	}
	for _, r := range ch.Removed {
		p.deleted[r] = struct{}{}
		delete(p.dirty, r)
	}
}

func (p *regionPersister) flush(ctx context.Context) error {
	p.mu.Lock()
	dirty, deleted := p.dirty, p.deleted
	p.dirty, p.deleted = map[uint64]struct{}{}, map[uint64]struct{}{}
	p.mu.Unlock()
	if len(dirty) == 0 && len(deleted) == 0 {
		return nil
	}
	var metas []*metapb.Region
	for id := range dirty {
		if r := p.c.GetRegion(id); r != nil {
			metas = append(metas, r.Meta())
		}
	}
	ids := make([]uint64, 0, len(deleted))
	for id := range deleted {
		ids = append(ids, id)
	}
	if err := p.st.SaveRegions(ctx, metas, ids); err != nil {
		// Put them back for the next round.
		p.mu.Lock()
		for id := range dirty {
			p.dirty[id] = struct{}{}
		}
		for id := range deleted {
			if _, ok := p.dirty[id]; !ok {
				p.deleted[id] = struct{}{}
			}
		}
		p.mu.Unlock()
		return err
	}
	return nil
}
