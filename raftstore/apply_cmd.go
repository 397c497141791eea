package raftstore

import (
	"bytes"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// execEntry applies one command entry into the batch and returns its
// response. ok is false only if the store failed during a flush.
func (w *applyWorker) execEntry(d *applyDelegate, e *eraftpb.Entry) (*raft_cmdpb.RaftCmdResponse, bool) {
	var req raft_cmdpb.RaftCmdRequest
	if err := req.Unmarshal(e.Data); err != nil {
		// Every replica fails the same way, so skipping keeps them equal.
		w.logger.Error("undecodable command entry skipped", zap.Uint64("region-id", d.region.Id),
			zap.Uint64("index", e.Index), zap.Error(err))
		return errResp(&errorpb.Error{Message: "undecodable command"}), true
	}
	if req.AdminRequest != nil {
		return w.execAdmin(d, req.Header, req.AdminRequest), true
	}
	// The epoch may have changed between proposal and apply (a split
	// committed in between); re-check so a command never writes outside
	// the region it was checked against.
	if ep := req.Header.GetRegionEpoch(); ep != nil && ep.Version != d.region.RegionEpoch.GetVersion() {
		return errResp(errEpochNotMatch(d.region)), true
	}
	if err := checkKeys(d.region, req.Requests); err != nil {
		return errResp(err), true
	}
	resp := &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{}}
	for _, r := range req.Requests {
		var err error
		switch r.CmdType {
		case raft_cmdpb.CmdType_Put:
			err = w.wb.PutCF(r.Put.Cf, r.Put.Key, r.Put.Value)
			w.countWrite(d, len(r.Put.Key)+len(r.Put.Value))
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, Put: &raft_cmdpb.PutResponse{}})
		case raft_cmdpb.CmdType_Delete:
			err = w.wb.DeleteCF(r.Delete.Cf, r.Delete.Key)
			w.countWrite(d, len(r.Delete.Key))
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, Delete: &raft_cmdpb.DeleteResponse{}})
		case raft_cmdpb.CmdType_DeleteRange:
			if !w.execDeleteRange(d, r.DeleteRange) {
				return nil, false
			}
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType, DelteRange: &raft_cmdpb.DeleteRangeResponse{}})
		default:
			resp.Responses = append(resp.Responses, &raft_cmdpb.Response{CmdType: r.CmdType})
		}
		if err != nil {
			// Validated at the server; an error here is a bug, and every
			// replica hits it alike.
			w.logger.Error("apply request", zap.Uint64("region-id", d.region.Id), zap.Error(err))
		}
	}
	return resp, true
}

// execDeleteRange deletes a range clamped to the region. A range of up to
// deleteRangeAtomicKeys keys is deleted in the apply batch, atomically with
// the entry. A larger one cannot fit one engine transaction and is deleted
// in chunks: the batch so far is flushed first (its apply state names the
// previous entry, so a crash in the middle replays the whole entry, and
// deleting again is harmless), and the region is fenced (readFence) until
// the batch that records this entry as applied is written, so that no
// reader sees part of it.
func (w *applyWorker) execDeleteRange(d *applyDelegate, r *raft_cmdpb.DeleteRangeRequest) bool {
	start, end := r.StartKey, r.EndKey
	if bytes.Compare(start, d.region.StartKey) < 0 {
		start = d.region.StartKey
	}
	if re := d.region.EndKey; len(re) > 0 && (len(end) == 0 || bytes.Compare(end, re) > 0) {
		end = re
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return true
	}
	// The batch may hold earlier entries' writes into the range: flush it,
	// so that the scan below sees them.
	if !w.flush() {
		return false
	}
	keys, all, err := w.env.scanKeys(r.Cf, start, end, deleteRangeAtomicKeys)
	if err != nil {
		w.env.fail("delete range: scan", err)
		return false
	}
	if all {
		for _, k := range keys {
			_ = w.wb.DeleteCF(r.Cf, k)
			w.countWrite(d, len(k))
		}
		return true
	}
	w.fence.enter(d.region.Id)
	w.fenced = append(w.fenced, d.region.Id)
	return w.env.engineOp("delete range", func() error { return w.engines.DeleteRangeKV(r.Cf, start, end) })
}

// deleteRangeAtomicKeys bounds the DeleteRange that is applied in one batch
// (well within the smallest engine transaction; see kvBatchFull).
const deleteRangeAtomicKeys = 1024

// scanKeys returns the keys of cf in [start, end), and whether that is all
// of them (at most limit are returned).
func (s *Store) scanKeys(cf string, start, end []byte, limit int) (keys [][]byte, all bool, err error) {
	view, err := s.engines.NewSnapshot()
	if err != nil {
		return nil, false, err
	}
	defer view.Close()
	it, err := view.NewCFIterator(cf, engine.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if len(keys) == limit {
			return keys, false, nil
		}
		keys = append(keys, bytes.Clone(it.Key()))
	}
	return keys, true, it.Err()
}

// countWrite records a written key for split checks and heartbeats.
func (w *applyWorker) countWrite(d *applyDelegate, bytes int) {
	if d.result == nil {
		d.result = &applyResult{} // a DeleteRange flushed mid-command
	}
	d.result.bytesWritten += uint64(bytes)
	d.result.keysWritten++
}

func errResp(err *errorpb.Error) *raft_cmdpb.RaftCmdResponse {
	return &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{Error: err}}
}

// execAdmin applies an admin command that goes through the log.
func (w *applyWorker) execAdmin(d *applyDelegate, hdr *raft_cmdpb.RaftRequestHeader, req *raft_cmdpb.AdminRequest) *raft_cmdpb.RaftCmdResponse {
	cmd, ok := adminCmds[req.CmdType]
	if !ok || cmd.apply == nil {
		return errResp(errAdminUnsupported(req.CmdType))
	}
	return cmd.apply(w, d, hdr, req)
}

// execCompactLog moves the truncated state forward; the raft worker deletes
// the log once the kv DB made this state (and the data up to it) durable.
func (w *applyWorker) execCompactLog(d *applyDelegate, _ *raft_cmdpb.RaftRequestHeader, req *raft_cmdpb.AdminRequest) *raft_cmdpb.RaftCmdResponse {
	c := req.CompactLog
	ts := d.state.TruncatedState
	if ts == nil {
		ts = &rspb.RaftTruncatedState{}
	}
	if c.GetCompactIndex() > ts.Index && c.CompactIndex <= d.state.AppliedIndex {
		d.state.TruncatedState = &rspb.RaftTruncatedState{Index: c.CompactIndex, Term: c.CompactTerm}
		w.needSync = true
		t := *d.state.TruncatedState
		d.result.truncated = &t
	}
	return &raft_cmdpb.RaftCmdResponse{Header: &raft_cmdpb.RaftResponseHeader{},
		AdminResponse: &raft_cmdpb.AdminResponse{CmdType: req.CmdType, CompactLog: &raft_cmdpb.CompactLogResponse{}}}
}
