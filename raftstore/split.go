package raftstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Region split.
//
//  1. The leader decides to split: its split checker found the region past
//     region-max-size / region-max-keys (split_check.go), the scheduler sent
//     a SplitRegion operator, or a caller asked (Store.SplitRegion).
//  2. It asks the scheduler for one new region ID and one peer ID per
//     existing peer for each split key (AskBatchSplit), off the raft worker,
//     and proposes a BatchSplit admin command carrying the region epoch it
//     was computed against.
//  3. Every replica applies the entry at the same log index (execBatchSplit):
//     the parent keeps [start, k1) (or the rightmost part with right_derive),
//     new regions get the rest; all get epoch.version+1; every region state
//     and the new regions' initial apply state (index and term 5) go into the
//     apply batch with the parent's apply state. Their data is already in
//     place: a split moves no data.
//  4. The raft worker installs the new ranges in storeMeta and creates the
//     new peers (onSplitApplied). A new region's peer that a raft message
//     created earlier, uninitialized, is re-initialized from the state the
//     split wrote instead of blocking it; one whose region state already
//     existed on disk (a tombstone: this store's peer was removed meanwhile,
//     or a snapshot got there first) is left alone.
//  5. The parent's leader reports the split (ReportBatchSplit) and heartbeats
//     every resulting region; its peers of the new regions campaign at once.

// maxBatchSplitKeys bounds one BatchSplit: its region states go into one
// kv write batch, which must stay well under the engine's transaction limit.
const maxBatchSplitKeys = 1000

// ErrSplit is wrapped by split requests that cannot be carried out.
var ErrSplit = errors.New("raftstore: split")

// validateSplitKeys checks split keys against a region: inside it, strictly
// increasing, none equal to its start key.
func validateSplitKeys(r *metapb.Region, keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no split keys", ErrSplit)
	}
	if len(keys) > maxBatchSplitKeys {
		return fmt.Errorf("%w: %d split keys, at most %d at once", ErrSplit, len(keys), maxBatchSplitKeys)
	}
	prev := r.StartKey
	for i, k := range keys {
		if len(k) == 0 {
			return fmt.Errorf("%w: empty split key", ErrSplit)
		}
		if bytes.Compare(k, prev) <= 0 {
			if i == 0 {
				return fmt.Errorf("%w: split key %q not after the region start %q", ErrSplit, k, r.StartKey)
			}
			return fmt.Errorf("%w: split keys not strictly increasing at %q", ErrSplit, k)
		}
		if !keyInRegion(k, r) {
			return fmt.Errorf("%w: split key %q outside region %d", ErrSplit, k, r.Id)
		}
		prev = k
	}
	return nil
}

func cloneRegion(r *metapb.Region) *metapb.Region {
	c := *r
	ep := *r.RegionEpoch
	c.RegionEpoch = &ep
	c.Peers = make([]*metapb.Peer, len(r.Peers))
	for i, p := range r.Peers {
		pc := *p
		c.Peers[i] = &pc
	}
	return &c
}

// deriveSplit computes the regions a BatchSplit produces from r, in key
// order. The parent keeps its ID on the left (or right with rightDerive).
func deriveSplit(r *metapb.Region, req *raft_cmdpb.BatchSplitRequest) ([]*metapb.Region, error) {
	keys := make([][]byte, len(req.Requests))
	for i, s := range req.Requests {
		keys[i] = s.SplitKey
		if len(s.NewPeerIds) != len(r.Peers) {
			return nil, fmt.Errorf("%w: %d new peer ids for %d peers", ErrSplit, len(s.NewPeerIds), len(r.Peers))
		}
		if s.NewRegionId == 0 || s.NewRegionId == r.Id {
			return nil, fmt.Errorf("%w: bad new region id %d", ErrSplit, s.NewRegionId)
		}
	}
	if err := validateSplitKeys(r, keys); err != nil {
		return nil, err
	}
	bounds := append(append([][]byte{r.StartKey}, keys...), r.EndKey)
	epoch := metapb.RegionEpoch{ConfVer: r.RegionEpoch.GetConfVer(), Version: r.RegionEpoch.GetVersion() + 1}
	out := make([]*metapb.Region, 0, len(keys)+1)
	newIdx := 0
	for i := 0; i+1 < len(bounds); i++ {
		parent := (!req.RightDerive && i == 0) || (req.RightDerive && i == len(bounds)-2)
		nr := cloneRegion(r)
		nr.StartKey, nr.EndKey = bounds[i], bounds[i+1]
		ep := epoch
		nr.RegionEpoch = &ep
		if !parent {
			s := req.Requests[newIdx]
			newIdx++
			nr.Id = s.NewRegionId
			for j := range nr.Peers {
				nr.Peers[j].Id = s.NewPeerIds[j]
			}
		}
		out = append(out, nr)
	}
	return out, nil
}

// splitResult is what applying a BatchSplit tells the raft worker.
type splitResult struct {
	regions []*metapb.Region // every resulting region, key order, parent included
	created map[uint64]bool  // new regions whose state the split wrote
}

// execBatchSplit applies a BatchSplit entry (apply worker).
func (w *applyWorker) execBatchSplit(d *applyDelegate, hdr *raft_cmdpb.RaftRequestHeader, req *raft_cmdpb.AdminRequest) *raft_cmdpb.RaftCmdResponse {
	if ep := hdr.GetRegionEpoch(); ep == nil || ep.Version != d.region.RegionEpoch.GetVersion() || ep.ConfVer != d.region.RegionEpoch.GetConfVer() {
		return errResp(errEpochNotMatch(d.region))
	}
	regions, err := deriveSplit(d.region, req.Splits)
	if err != nil {
		w.logger.Warn("reject split", zap.Uint64("region-id", d.region.Id), zap.Error(err))
		return errResp(&errorpb.Error{Message: err.Error()})
	}
	res := &splitResult{regions: regions, created: make(map[uint64]bool)}
	for _, r := range regions {
		if r.Id == d.region.Id {
			d.region = r
			if err := w.wb.SetMeta(engine.RegionStateKey(r.Id), &rspb.RegionLocalState{State: rspb.PeerState_Normal, Region: r}); err != nil {
				w.logger.Panic("encode region state", zap.Error(err))
			}
			continue
		}
		var st rspb.RegionLocalState
		found, err := engine.GetMeta(w.engines.KV, engine.RegionStateKey(r.Id), &st)
		if err != nil {
			w.logger.Panic("read region state", zap.Uint64("region-id", r.Id), zap.Error(err))
		}
		if found {
			// Our peer of the new region was removed already (tombstone)
			// or created by a snapshot: what is on disk is newer.
			w.logger.Info("split skips a region already known here", zap.Uint64("region-id", r.Id),
				zap.Stringer("state", st.State))
			continue
		}
		res.created[r.Id] = true
		if err := w.wb.SetMeta(engine.RegionStateKey(r.Id), &rspb.RegionLocalState{State: rspb.PeerState_Normal, Region: r}); err != nil {
			w.logger.Panic("encode region state", zap.Error(err))
		}
		if err := w.wb.SetMeta(engine.ApplyStateKey(r.Id), &rspb.RaftApplyState{AppliedIndex: raftInitLogIndex,
			TruncatedState: &rspb.RaftTruncatedState{Index: raftInitLogIndex, Term: raftInitLogTerm}}); err != nil {
			w.logger.Panic("encode apply state", zap.Error(err))
		}
	}
	d.result.admins = append(d.result.admins, adminResult{split: res})
	w.logger.Info("applied split", zap.Uint64("region-id", d.region.Id), zap.Int("regions", len(regions)),
		zap.Uint64("version", d.region.RegionEpoch.GetVersion()))
	return &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{},
		AdminResponse: &raft_cmdpb.AdminResponse{CmdType: req.CmdType, Splits: &raft_cmdpb.BatchSplitResponse{Regions: regions}}}
}

// onSplitApplied installs a split's regions and creates the new peers
// (raft worker holding the parent).
func (p *peer) onSplitApplied(res *splitResult) {
	s := p.store
	var parent *metapb.Region
	for _, r := range res.regions {
		if r.Id == p.region.Id {
			parent = r
		}
	}
	if parent == nil {
		return
	}
	p.setRegion(parent)
	p.derived = p.derived[:0]
	s.createMu.Lock()
	s.meta.mu.Lock()
	s.meta.setRegionLocked(parent)
	for _, r := range res.regions {
		if res.created[r.Id] {
			s.meta.setRegionLocked(r)
			p.derived = append(p.derived, r.Id)
		}
	}
	s.meta.mu.Unlock()
	for _, r := range res.regions {
		if !res.created[r.Id] {
			continue
		}
		me := storePeer(r, s.storeID)
		if me == nil {
			continue
		}
		if f := s.router.get(r.Id); f != nil {
			// Created uninitialized by a message before we got here:
			// the split replaces it.
			s.router.send(r.Id, peerMsg{kind: msgSplitInit, region: r})
			continue
		}
		f, err := s.addPeer(r, me, false)
		if err != nil {
			p.logger.Error("create split peer", zap.Uint64("new-region-id", r.Id), zap.Error(err))
			continue
		}
		if p.isLeader() {
			// Our replicas of the new regions have the same log as the
			// others: campaigning now saves an election timeout.
			_ = f.peer.rn.Campaign()
		}
		s.work.signal(r.Id, flagMsgs)
	}
	s.createMu.Unlock()
	p.sizeDiffHint = p.store.cfg.splitCheckDiff() // re-measure the smaller parent
	if p.isLeader() {
		p.logger.Info("region split", zap.Int("regions", len(res.regions)),
			zap.Binary("start-key", parent.StartKey), zap.Binary("end-key", parent.EndKey))
		s.reportSplit(res.regions, p.meta.StoreId)
		p.heartbeatScheduler()
	}
}

// onSplitInit re-creates an uninitialized peer from the region state a
// split wrote for it (the raft worker holding that peer).
func (f *regionEntry) onSplitInit(s *Store, r *metapb.Region) {
	old := f.peer
	if old != nil && old.ps.isInitialized() {
		return
	}
	me := storePeer(r, s.storeID)
	if me == nil {
		return
	}
	p, err := newPeer(s, r, me, false)
	if err != nil {
		s.logger.Error("re-create peer after split", zap.Uint64("region-id", r.Id), zap.Error(err))
		return
	}
	if old != nil {
		for id, pr := range old.peerCache {
			p.peerCache[id] = pr
		}
		old.failProposals("peer replaced by a split")
		old.failAllReads(errRegionNotFound(r.Id))
	}
	f.peer = p
	ts := p.ps.truncated
	s.applier.schedule(&applyTask{kind: taskRegister, regionID: r.Id, region: r,
		state: rspb.RaftApplyState{AppliedIndex: p.ps.applied, TruncatedState: &ts}, term: p.ps.appliedT})
	p.logger.Info("uninitialized peer replaced by split")
}

func storePeer(r *metapb.Region, storeID uint64) *metapb.Peer {
	for _, p := range r.Peers {
		if p.StoreId == storeID {
			return p
		}
	}
	return nil
}

// reportSplit tells the scheduler about a split and heartbeats every
// resulting region with our store's peer as leader (the new regions' own
// heartbeats follow once they elect).
func (s *Store) reportSplit(regions []*metapb.Region, storeID uint64) {
	s.goBackground(func(ctx context.Context) {
		if err := s.scheduler.ReportBatchSplit(ctx, regions); err != nil && ctx.Err() == nil {
			s.logger.Warn("report split", zap.Error(err))
		}
		for _, r := range regions {
			s.queueHeartbeat(newHeartbeat(r, storePeer(r, storeID), 0))
		}
	})
}

// askSplit gets IDs for a split of region at keys from the scheduler and
// proposes it; cb (may be nil) gets the outcome.
func (s *Store) askSplit(region *metapb.Region, keys [][]byte, cb func([]*metapb.Region, error)) {
	done := func(rs []*metapb.Region, err error) {
		if cb != nil {
			cb(rs, err)
		}
	}
	if err := validateSplitKeys(region, keys); err != nil {
		done(nil, err)
		return
	}
	s.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ids, err := s.scheduler.AskBatchSplit(ctx, region, len(keys))
		if err != nil {
			done(nil, fmt.Errorf("%w: ask ids: %v", ErrSplit, err))
			return
		}
		if len(ids) != len(keys) {
			done(nil, fmt.Errorf("%w: asked %d ids, got %d", ErrSplit, len(keys), len(ids)))
			return
		}
		split := &raft_cmdpb.BatchSplitRequest{}
		for i, k := range keys {
			split.Requests = append(split.Requests, &raft_cmdpb.SplitRequest{SplitKey: k,
				NewRegionId: ids[i].NewRegionId, NewPeerIds: ids[i].NewPeerIds})
		}
		req := &raft_cmdpb.RaftCmdRequest{
			Header:       &raft_cmdpb.RaftRequestHeader{RegionId: region.Id, RegionEpoch: region.RegionEpoch},
			AdminRequest: &raft_cmdpb.AdminRequest{CmdType: raft_cmdpb.AdminCmdType_BatchSplit, Splits: split},
		}
		s.Propose(req, func(resp *raft_cmdpb.RaftCmdResponse) {
			if e := resp.GetHeader().GetError(); e != nil {
				done(nil, fmt.Errorf("%w: %s", ErrSplit, e.Message))
				return
			}
			done(resp.GetAdminResponse().GetSplits().GetRegions(), nil)
		})
	})
}

// SplitRegion splits a region at keys (ascending, inside the region) and
// returns the resulting regions. It must reach the region's leader; the
// split is done when it returns without error.
func (s *Store) SplitRegion(ctx context.Context, regionID uint64, keys [][]byte) ([]*metapb.Region, error) {
	region := s.meta.regionByID(regionID)
	if region == nil {
		return nil, fmt.Errorf("%w: region %d not on store %d", ErrSplit, regionID, s.storeID)
	}
	type out struct {
		rs  []*metapb.Region
		err error
	}
	ch := make(chan out, 1)
	s.askSplit(region, keys, func(rs []*metapb.Region, err error) { ch <- out{rs, err} })
	select {
	case o := <-ch:
		return o.rs, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopCh:
		return nil, ErrStopped
	}
}

// epochNotMatch is the error for a request routed with a stale epoch: the
// current region and the regions our last split derived from it.
func (p *peer) epochNotMatch() *errorpb.Error {
	regions := []*metapb.Region{p.region}
	for _, id := range p.derived {
		if r := p.store.meta.regionByID(id); r != nil {
			regions = append(regions, r)
		}
	}
	return errEpochNotMatch(regions...)
}

// maybeSplitInit handles a msgSplitInit in a region's mailbox before its
// other messages, and returns the peer to step them with.
func (s *Store) maybeSplitInit(f *regionEntry, msgs []peerMsg) *peer {
	for i := range msgs {
		if msgs[i].kind == msgSplitInit {
			f.onSplitInit(s, msgs[i].region)
		}
	}
	return f.peer
}
