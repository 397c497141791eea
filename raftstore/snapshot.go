package raftstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raft"
)

// Snapshots. A region's snapshot is a file of its kv data in every CF,
// taken from one engine snapshot at the applied index (so data, applied
// index and region agree), plus small metadata that travels inside the
// raft message (eraftpb.Snapshot.Data = RaftSnapshotData without pairs).
//
// Files live in <data-dir>/snap:
//
//	gen_<region>_<term>_<index>.snap   generated here, sent to followers
//	rcv_<region>_<term>_<index>.snap   received, applied, then deleted
//	*.tmp                              being written
//
// A received file is kept until its application finished (kv state synced),
// so that a crash in the middle of applying replays it on restart
// (RegionLocalState Applying). Everything else is deleted on restart.
//
// File format: records of cf byte, uvarint key length, key, uvarint value
// length, value. Its size and CRC-32 (Castagnoli) are in the metadata.

const snapFormatVersion = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type genState struct {
	generating bool
	epoch      metapb.RegionEpoch // of snap's region
	snap       *eraftpb.Snapshot
	path       string
}

// snapshotGen is the store's snapshot manager.
type snapshotGen struct {
	dir     string
	store   *Store
	engines *engine.Engines
	logger  *zap.Logger

	mu      sync.Mutex
	gens    map[uint64]*genState
	stopped bool
	wg      sync.WaitGroup
}

func newSnapshotGen(dir string, s *Store, logger *zap.Logger) (*snapshotGen, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftstore: snap dir: %w", err)
	}
	return &snapshotGen{dir: dir, store: s, engines: s.engines, logger: logger, gens: make(map[uint64]*genState)}, nil
}

func (g *snapshotGen) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}

func snapName(kind string, region, term, index uint64) string {
	return fmt.Sprintf("%s_%d_%d_%d.snap", kind, region, term, index)
}

// snapshot returns the newest generated snapshot of a region if it is not
// older than the truncated index, else starts generating one.
// A snapshot of an older epoch than the region's is stale too: after a
// membership change its ConfState would not list a new peer.
func (g *snapshotGen) snapshot(regionID, truncated uint64, epoch *metapb.RegionEpoch) (eraftpb.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.gens[regionID]
	if st == nil {
		st = &genState{}
		g.gens[regionID] = st
	}
	if st.snap != nil && st.snap.Metadata.Index >= truncated &&
		st.epoch.ConfVer >= epoch.GetConfVer() && st.epoch.Version >= epoch.GetVersion() {
		return *st.snap, nil
	}
	if !st.generating && !g.stopped {
		st.generating = true
		g.wg.Add(1)
		g.store.spawn(func() {
			defer g.wg.Done()
			g.generate(regionID)
		})
	}
	return eraftpb.Snapshot{}, raft.ErrSnapshotTemporarilyUnavailable
}

func (g *snapshotGen) generate(regionID uint64) {
	snap, path, err := g.build(regionID)
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.gens[regionID]
	st.generating = false
	if err != nil {
		g.logger.Warn("generate snapshot", zap.Uint64("region-id", regionID), zap.Error(err))
		return
	}
	if st.path != "" && st.path != path {
		_ = os.Remove(st.path)
	}
	st.snap, st.path = snap, path
	var data rspb.RaftSnapshotData
	if err := data.Unmarshal(snap.Data); err == nil && data.Region != nil {
		st.epoch = *data.Region.RegionEpoch
	}
	g.logger.Info("generated snapshot", zap.Uint64("region-id", regionID),
		zap.Uint64("index", snap.Metadata.Index), zap.Uint64("term", snap.Metadata.Term))
}

// build writes the snapshot file of a region from one consistent kv view.
// The view is taken at an entry boundary (readFence): never in the middle
// of an entry that the apply worker writes in several batches.
func (g *snapshotGen) build(regionID uint64) (*eraftpb.Snapshot, string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		if g.store.failed.Load() {
			return nil, "", ErrStopped
		}
		view, ok, err := g.store.fence.snapshot(g.engines, regionID)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", fmt.Errorf("%w: region %d is in the middle of applying an entry", ErrSnapshot, regionID)
		}
		snap, path, retry, err := g.buildFrom(view, regionID)
		view.Close()
		if !retry {
			return snap, path, err
		}
	}
	return nil, "", fmt.Errorf("%w: region %d: applied entry kept being compacted", ErrSnapshot, regionID)
}

func (g *snapshotGen) buildFrom(view *engine.Snapshot, regionID uint64) (_ *eraftpb.Snapshot, _ string, retry bool, _ error) {
	var rs rspb.RegionLocalState
	var as rspb.RaftApplyState
	if ok, err := view.GetMeta(engine.RegionStateKey(regionID), &rs); err != nil || !ok {
		return nil, "", false, fmt.Errorf("%w: region %d has no region state (%v)", ErrSnapshot, regionID, err)
	}
	if ok, err := view.GetMeta(engine.ApplyStateKey(regionID), &as); err != nil || !ok {
		return nil, "", false, fmt.Errorf("%w: region %d has no apply state (%v)", ErrSnapshot, regionID, err)
	}
	idx := as.AppliedIndex
	var term uint64
	if ts := as.TruncatedState; ts != nil && ts.Index == idx {
		term = ts.Term
	} else {
		var e eraftpb.Entry
		ok, err := engine.GetMeta(g.engines.Raft, engine.RaftLogKey(regionID, idx), &e)
		if err != nil {
			return nil, "", false, err
		}
		if !ok {
			return nil, "", true, nil // compacted after our view was taken
		}
		term = e.Term
	}
	region := rs.Region
	final := filepath.Join(g.dir, snapName("gen", regionID, term, idx))
	tmp := final + ".tmp"
	size, sum, err := writeSnapFile(tmp, view, region)
	if err != nil {
		_ = os.Remove(tmp)
		return nil, "", false, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, "", false, err
	}
	data := &rspb.RaftSnapshotData{Region: region, FileSize: size, Version: snapFormatVersion,
		Meta: &rspb.SnapshotMeta{CfFiles: []*rspb.SnapshotCFFile{{Cf: "all", Size_: size, Checksum: sum}}}}
	b, err := data.Marshal()
	if err != nil {
		return nil, "", false, err
	}
	cs := confStateOf(region)
	return &eraftpb.Snapshot{Data: b, Metadata: &eraftpb.SnapshotMetadata{ConfState: &cs, Index: idx, Term: term}}, final, false, nil
}

func writeSnapFile(path string, view *engine.Snapshot, region *metapb.Region) (uint64, uint32, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(crcTable)
	cw := &countWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var hdr [2 * binary.MaxVarintLen64]byte
	for i, cf := range engine.CFs {
		it, err := view.NewCFIterator(cf, engine.IterOptions{LowerBound: region.StartKey, UpperBound: region.EndKey})
		if err != nil {
			return 0, 0, err
		}
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Key()
			v, err := it.Value()
			if err != nil {
				it.Close()
				return 0, 0, err
			}
			_ = bw.WriteByte(byte(i))
			n := binary.PutUvarint(hdr[:], uint64(len(k)))
			_, _ = bw.Write(hdr[:n])
			_, _ = bw.Write(k)
			n = binary.PutUvarint(hdr[:], uint64(len(v)))
			_, _ = bw.Write(hdr[:n])
			if _, err := bw.Write(v); err != nil {
				it.Close()
				return 0, 0, err
			}
		}
		err = it.Err()
		it.Close()
		if err != nil {
			return 0, 0, err
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	return cw.n, h.Sum32(), nil
}

type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// forget drops a destroyed region's generated snapshot.
func (g *snapshotGen) forget(regionID uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.gens[regionID]; st != nil && !st.generating {
		if st.path != "" {
			_ = os.Remove(st.path)
		}
		delete(g.gens, regionID)
	}
}

// openGenerated opens the file of a snapshot this store generated, for
// sending.
func (g *snapshotGen) openGenerated(m *rspb.RaftMessage) (io.ReadCloser, error) {
	md := m.Message.Snapshot.GetMetadata()
	return os.Open(filepath.Join(g.dir, snapName("gen", m.RegionId, md.GetTerm(), md.GetIndex())))
}

// receive stores a snapshot's data, read from r, and checks it against the
// metadata in m. Only a complete, verified file gets its final name.
func (g *snapshotGen) receive(m *rspb.RaftMessage, r io.Reader) error {
	if m.Message == nil || m.Message.Snapshot == nil {
		return fmt.Errorf("%w: snapshot message without snapshot", ErrSnapshot)
	}
	var data rspb.RaftSnapshotData
	if err := data.Unmarshal(m.Message.Snapshot.Data); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	final := g.receivedPath(m)
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := crc32.New(crcTable)
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		cf := data.GetMeta().GetCfFiles()
		if uint64(n) != data.FileSize || len(cf) != 1 || cf[0].Checksum != h.Sum32() {
			err = fmt.Errorf("%w: region %d: got %d bytes, want %d, or checksum mismatch", ErrSnapshot, m.RegionId, n, data.FileSize)
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, final)
}

// cleanup deletes every snapshot file except the received ones named in
// keep (full paths: those must be replayed).
func (g *snapshotGen) cleanup(keep map[string]bool) {
	ents, err := os.ReadDir(g.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		path := filepath.Join(g.dir, e.Name())
		if !keep[path] {
			_ = os.Remove(path)
		}
	}
}

// receivedFile is the path of a region's received snapshot at (term,
// index).
func (g *snapshotGen) receivedFile(regionID, term, index uint64) string {
	return filepath.Join(g.dir, snapName("rcv", regionID, term, index))
}

// receivedPath is where a received snapshot's file is kept.
func (g *snapshotGen) receivedPath(m *rspb.RaftMessage) string {
	md := m.Message.Snapshot.GetMetadata()
	return g.receivedFile(m.RegionId, md.GetTerm(), md.GetIndex())
}

// snapApply is a snapshot to apply on the kv side, run by the region's
// apply worker so that it is ordered after every entry applied before it.
type snapApply struct {
	region      *metapb.Region // the snapshot's
	oldRegion   *metapb.Region // the peer's before it (nil or no peers: none)
	index, term uint64
	path        string
	// done reports, on the apply worker, that the kv side is applied
	// (nil: nobody waits, as when a restart replays the snapshot).
	done func()
}

// applySnapshotKV replaces the region's kv state by the snapshot. Crash
// safety: the first write marks the region Applying and records which
// snapshot, over which old range (SnapshotApplyState), so that a restart
// replays exactly this file; the old and new ranges are cleared and refilled
// in several batches; the last batch sets the apply state (applied =
// truncated = snapshot index) and the region Normal and drops the record in
// one write; then the kv DB is synced, and only then does the raft worker
// persist the raft state and delete the file.
func applySnapshotKV(s *Store, sa *snapApply) error {
	e := s.engines
	var wb engine.WriteBatch
	if err := wb.SetMeta(engine.RegionStateKey(sa.region.Id), &rspb.RegionLocalState{State: rspb.PeerState_Applying, Region: sa.region}); err != nil {
		return err
	}
	if err := wb.SetMeta(engine.SnapshotApplyingKey(sa.region.Id), &rspb.SnapshotApplyState{Index: sa.index, Term: sa.term,
		OldRegion: sa.oldRegion}); err != nil {
		return err
	}
	if !s.writeKV(&wb) {
		return ErrStopped
	}
	wb.Reset()
	for _, r := range []*metapb.Region{sa.oldRegion, sa.region} {
		if r == nil || len(r.Peers) == 0 {
			continue
		}
		for _, cf := range engine.CFs {
			if err := e.DeleteRangeKV(cf, r.StartKey, r.EndKey); err != nil {
				return err
			}
		}
	}
	f, err := os.Open(sa.path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		cfi, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		k, err := readChunk(br)
		if err != nil {
			return err
		}
		v, err := readChunk(br)
		if err != nil {
			return err
		}
		if int(cfi) >= len(engine.CFs) {
			return fmt.Errorf("%w: cf index %d", ErrSnapshot, cfi)
		}
		if err := wb.PutCF(engine.CFs[cfi], k, v); err != nil {
			return err
		}
		if s.kvBatchFull(&wb) {
			if !s.writeKV(&wb) {
				return ErrStopped
			}
			wb.Reset()
		}
	}
	as := &rspb.RaftApplyState{AppliedIndex: sa.index, TruncatedState: &rspb.RaftTruncatedState{Index: sa.index, Term: sa.term}}
	if err := wb.SetMeta(engine.ApplyStateKey(sa.region.Id), as); err != nil {
		return err
	}
	if err := wb.SetMeta(engine.RegionStateKey(sa.region.Id), &rspb.RegionLocalState{State: rspb.PeerState_Normal, Region: sa.region}); err != nil {
		return err
	}
	if err := wb.Delete(engine.SnapshotApplyingKey(sa.region.Id)); err != nil {
		return err
	}
	if !s.writeKV(&wb) || !s.syncKV() {
		return ErrStopped
	}
	return nil
}

// interruptedSnapshot returns the snapshot a region in the Applying state
// was applying when the store went down.
func (s *Store) interruptedSnapshot(st *rspb.RegionLocalState) (*snapApply, error) {
	var rec rspb.SnapshotApplyState
	ok, err := engine.GetMeta(s.engines.KV, engine.SnapshotApplyingKey(st.Region.Id), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: region %d is applying a snapshot but does not say which", ErrCorrupt, st.Region.Id)
	}
	path := s.snaps.receivedFile(st.Region.Id, rec.Term, rec.Index)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: region %d is applying snapshot %s: %v", ErrCorrupt, st.Region.Id, filepath.Base(path), err)
	}
	return &snapApply{region: st.Region, oldRegion: rec.OldRegion, index: rec.Index, term: rec.Term, path: path}, nil
}

func readChunk(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if n > 64<<20 {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrSnapshot, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	return b, nil
}

// applySnapshot runs in the apply worker.
func (w *applyWorker) applySnapshot(t *applyTask) error {
	sa := t.snap
	if err := w.env.applySnapshotKV(sa); err != nil {
		return err
	}
	delete(w.stopped, t.regionID)
	d := w.delegates[t.regionID]
	if d == nil {
		d = &applyDelegate{}
		w.delegates[t.regionID] = d
	}
	d.region = sa.region
	d.state = rspb.RaftApplyState{AppliedIndex: sa.index, TruncatedState: &rspb.RaftTruncatedState{Index: sa.index, Term: sa.term}}
	d.appliedTerm = sa.term
	return nil
}
