// Package raftstorage implements storage.Storage over raftstore: writes are
// proposed to the region's Raft group and acknowledged once applied on the
// leader; reads run on a kv snapshot at a read index (ReadIndex or lease),
// bound to the region.
package raftstorage

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	"github.com/regionkv/regionkv/raftstore"
)

// ErrNoRegion: a request without a region context; a Raft-backed store
// cannot guess the region.
var ErrNoRegion = errors.New("raftstorage: request has no region context")

// RaftStorage is the Raft-backed storage.Storage. The store's lifecycle
// belongs to the process that built it.
type RaftStorage struct {
	store *raftstore.Store
}

var _ storage.Storage = (*RaftStorage)(nil)

// New returns a storage over a started store.
func New(store *raftstore.Store) *RaftStorage { return &RaftStorage{store: store} }

func header(kvctx *kvrpcpb.Context) (*raft_cmdpb.RaftRequestHeader, error) {
	if kvctx == nil || kvctx.RegionId == 0 {
		return nil, &storage.RegionError{Err: &errorpb.Error{Message: ErrNoRegion.Error(),
			RegionNotFound: &errorpb.RegionNotFound{}}}
	}
	return &raft_cmdpb.RaftRequestHeader{RegionId: kvctx.RegionId, Peer: kvctx.Peer,
		RegionEpoch: kvctx.RegionEpoch, Term: kvctx.Term}, nil
}

// Write implements storage.Storage: the batch is one Raft command, applied
// atomically (a DeleteRange in it is chunked, see storage.DeleteRange).
func (s *RaftStorage) Write(ctx context.Context, kvctx *kvrpcpb.Context, batch []storage.Modify) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storage.Validate(batch); err != nil {
		return err
	}
	h, err := header(kvctx)
	if err != nil {
		return err
	}
	req := &raft_cmdpb.RaftCmdRequest{Header: h}
	for _, m := range batch {
		switch m := m.(type) {
		case storage.Put:
			req.Requests = append(req.Requests, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_Put,
				Put: &raft_cmdpb.PutRequest{Cf: m.Cf, Key: m.Key, Value: m.Value}})
		case storage.Delete:
			req.Requests = append(req.Requests, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_Delete,
				Delete: &raft_cmdpb.DeleteRequest{Cf: m.Cf, Key: m.Key}})
		case storage.DeleteRange:
			req.Requests = append(req.Requests, &raft_cmdpb.Request{CmdType: raft_cmdpb.CmdType_DeleteRange,
				DeleteRange: &raft_cmdpb.DeleteRangeRequest{Cf: m.Cf, StartKey: m.Start, EndKey: m.End}})
		}
	}
	ch := make(chan *raft_cmdpb.RaftCmdResponse, 1)
	settled := storage.NewSettlement()
	var once sync.Once
	start := time.Now()
	// The store answers every proposal: when its entry applies, when it is
	// dropped (a new leader overwrote it, the peer was destroyed or
	// replaced) or when the store stops.
	s.store.Propose(req, func(r *raft_cmdpb.RaftCmdResponse) {
		once.Do(func() {
			ch <- r
			settled.Settle()
		})
	})
	select {
	case r := <-ch:
		if e := r.GetHeader().GetError(); e != nil {
			return &storage.RegionError{Err: e}
		}
		return nil
	case <-ctx.Done():
		// The command may still apply: the caller learns nothing now, and
		// when it will.
		if waited := time.Since(start); waited >= time.Second {
			s.store.LogUnansweredWrite(h.RegionId, waited)
		}
		return &storage.UnsettledError{Err: ctx.Err(), Settlement: settled}
	}
}

// Reader implements storage.Storage.
func (s *RaftStorage) Reader(ctx context.Context, kvctx *kvrpcpb.Context) (storage.StorageReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := header(kvctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan raftstore.ReadResult, 1)
	s.store.Read(h, func(r raftstore.ReadResult) { ch <- r })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, &storage.RegionError{Err: r.Err}
		}
		return &reader{snap: r.Snap, region: r.Region, term: r.Term, stats: r.Stats}, nil
	case <-ctx.Done():
		go func() {
			// The store answers every read, even when it stops.
			if r := <-ch; r.Snap != nil {
				r.Snap.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// reader is a kv snapshot bound to a region.
type reader struct {
	snap   *engine.Snapshot
	region *metapb.Region
	term   uint64
	stats  *raftstore.ReadStats
}

var _ storage.RegionReader = (*reader)(nil)

func (r *reader) Region() *metapb.Region { return r.region }
func (r *reader) Term() uint64           { return r.term }

func (r *reader) inRegion(key []byte) bool {
	return bytes.Compare(key, r.region.StartKey) >= 0 && (len(r.region.EndKey) == 0 || bytes.Compare(key, r.region.EndKey) < 0)
}

// GetCF implements storage.StorageReader; a key outside the region fails
// with KeyNotInRegion.
func (r *reader) GetCF(cf string, key []byte) ([]byte, error) {
	if !r.inRegion(key) {
		return nil, &storage.RegionError{Err: &errorpb.Error{Message: "key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{
			Key: key, RegionId: r.region.Id, StartKey: r.region.StartKey, EndKey: r.region.EndKey}}}
	}
	v, err := r.snap.GetCF(cf, key)
	r.stats.RecordGet(key)
	if v != nil {
		r.stats.Record(1, len(key)+len(v))
	}
	return v, err
}

// IterCF implements storage.StorageReader, clamping the bounds to the
// region: a client continues a scan in the next region.
func (r *reader) IterCF(cf string, opts engine.IterOptions) engine.Iterator {
	if len(opts.LowerBound) == 0 || bytes.Compare(opts.LowerBound, r.region.StartKey) < 0 {
		opts.LowerBound = r.region.StartKey
	}
	if end := r.region.EndKey; len(end) > 0 && (len(opts.UpperBound) == 0 || bytes.Compare(opts.UpperBound, end) > 0) {
		opts.UpperBound = end
	}
	if len(opts.LowerBound) == 0 {
		opts.LowerBound = nil
	}
	if len(opts.UpperBound) > 0 && bytes.Compare(opts.LowerBound, opts.UpperBound) >= 0 {
		// Empty intersection: an iterator over nothing.
		opts.UpperBound = opts.LowerBound
		if len(opts.UpperBound) == 0 {
			return engine.NewErrorIterator(nil)
		}
	}
	it, err := r.snap.NewCFIterator(cf, opts)
	if err != nil {
		return engine.NewErrorIterator(err)
	}
	r.stats.RecordScan(opts.LowerBound, opts.UpperBound)
	return &countingIterator{Iterator: it, stats: r.stats}
}

// countingIterator records what a scan reads: each key it yields, and each
// value fetched.
type countingIterator struct {
	engine.Iterator
	stats *raftstore.ReadStats
}

func (c *countingIterator) Key() []byte {
	k := c.Iterator.Key()
	c.stats.Record(1, len(k))
	return k
}

func (c *countingIterator) Value() ([]byte, error) {
	v, err := c.Iterator.Value()
	c.stats.Record(0, len(v))
	return v, err
}

func (r *reader) Close() { r.snap.Close() }
