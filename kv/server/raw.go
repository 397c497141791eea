package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// The raw API. Each handler validates the whole request before it touches
// storage, so a bad request changes nothing; failures are answered in the
// response's error fields.

// RawGet reads one key.
func (s *Server) RawGet(ctx context.Context, req *kvrpcpb.RawGetRequest) (*kvrpcpb.RawGetResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawGetResponse{}
	if err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf), s.checkKey(req.Key)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	r, err := s.storage.Reader(ctx, req.Context)
	if err != nil {
		resp.RegionError, resp.Error = splitErr(err)
		return resp, nil
	}
	defer r.Close()
	v, err := r.GetCF(req.Cf, req.Key)
	if err != nil {
		resp.RegionError, resp.Error = splitErr(err)
		return resp, nil
	}
	if v == nil {
		resp.NotFound = true
	}
	resp.Value = v
	return resp, nil
}

// RawBatchGet reads many keys from one consistent view. Only keys that exist
// are returned, in request order; a key asked for twice is returned twice.
func (s *Server) RawBatchGet(ctx context.Context, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawBatchGetResponse{}
	err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf))
	for _, k := range req.Keys {
		if err != nil {
			break
		}
		err = s.checkKey(k)
	}
	if err != nil {
		resp.Pairs = keyError(err)
		return resp, nil
	}
	r, err := s.storage.Reader(ctx, req.Context)
	if err != nil {
		if resp.RegionError = regionErr(err); resp.RegionError == nil {
			resp.Pairs = keyError(err)
		}
		return resp, nil
	}
	defer r.Close()
	for _, k := range req.Keys {
		v, err := r.GetCF(req.Cf, k)
		if err != nil {
			resp.Pairs = nil
			if resp.RegionError = regionErr(err); resp.RegionError == nil {
				resp.Pairs = keyError(err)
			}
			return resp, nil
		}
		if v != nil {
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Key: k, Value: v})
		}
	}
	return resp, nil
}

// RawPut writes one key.
func (s *Server) RawPut(ctx context.Context, req *kvrpcpb.RawPutRequest) (*kvrpcpb.RawPutResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawPutResponse{}
	if err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf), checkTTL(req.Ttl),
		s.checkKey(req.Key), s.checkValue(req.Value)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	resp.RegionError, resp.Error = s.writeKeys(ctx, req.Context, pointSpans(req.Key), storage.NewPut(req.Cf, req.Key, req.Value))
	return resp, nil
}

// RawBatchPut writes many keys atomically. When a key appears more than once,
// the last pair wins.
func (s *Server) RawBatchPut(ctx context.Context, req *kvrpcpb.RawBatchPutRequest) (*kvrpcpb.RawBatchPutResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawBatchPutResponse{}
	err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf), checkTTL(req.Ttl))
	for _, ttl := range req.Ttls {
		if err == nil {
			err = checkTTL(ttl)
		}
	}
	keys := make([][]byte, 0, len(req.Pairs))
	mods := make([]storage.Modify, 0, len(req.Pairs))
	for _, p := range req.Pairs {
		if err != nil {
			break
		}
		if p == nil {
			err = fmt.Errorf("%w: nil pair", ErrMismatchedBatch)
			break
		}
		err = firstErr(s.checkKey(p.Key), s.checkValue(p.Value))
		keys = append(keys, p.Key)
		mods = append(mods, storage.NewPut(req.Cf, p.Key, p.Value))
	}
	if err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	if len(mods) == 0 {
		return resp, nil
	}
	resp.RegionError, resp.Error = s.writeKeys(ctx, req.Context, pointSpans(keys...), mods...)
	return resp, nil
}

// RawDelete deletes one key; deleting a missing key succeeds.
func (s *Server) RawDelete(ctx context.Context, req *kvrpcpb.RawDeleteRequest) (*kvrpcpb.RawDeleteResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawDeleteResponse{}
	if err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf), s.checkKey(req.Key)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	resp.RegionError, resp.Error = s.writeKeys(ctx, req.Context, pointSpans(req.Key), storage.NewDelete(req.Cf, req.Key))
	return resp, nil
}

// RawBatchDelete deletes many keys atomically.
func (s *Server) RawBatchDelete(ctx context.Context, req *kvrpcpb.RawBatchDeleteRequest) (*kvrpcpb.RawBatchDeleteResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawBatchDeleteResponse{}
	err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf))
	mods := make([]storage.Modify, 0, len(req.Keys))
	for _, k := range req.Keys {
		if err != nil {
			break
		}
		err = s.checkKey(k)
		mods = append(mods, storage.NewDelete(req.Cf, k))
	}
	if err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	if len(mods) == 0 {
		return resp, nil
	}
	resp.RegionError, resp.Error = s.writeKeys(ctx, req.Context, pointSpans(req.Keys...), mods...)
	return resp, nil
}

// RawDeleteRange deletes [start_key, end_key) of one CF. An empty bound is
// open: an empty end_key deletes to the end of the key space.
func (s *Server) RawDeleteRange(ctx context.Context, req *kvrpcpb.RawDeleteRangeRequest) (*kvrpcpb.RawDeleteRangeResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawDeleteRangeResponse{}
	err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf),
		s.checkBound(req.StartKey), s.checkBound(req.EndKey))
	if err == nil && len(req.EndKey) > 0 && bytes.Compare(req.StartKey, req.EndKey) >= 0 {
		err = fmt.Errorf("%w: start key %q is not before end key %q", ErrInvalidRange, req.StartKey, req.EndKey)
	}
	if err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	resp.RegionError, resp.Error = s.writeKeys(ctx, req.Context, []span{rangeSpan(req.StartKey, req.EndKey)},
		storage.NewDeleteRange(req.Cf, req.StartKey, req.EndKey))
	return resp, nil
}

// RawScan returns up to limit pairs of one consistent view. Forward, it scans
// [start_key, end_key); with reverse set it scans downward from start_key
// (exclusive) to end_key (inclusive), as TiKV does. An empty bound is open.
func (s *Server) RawScan(ctx context.Context, req *kvrpcpb.RawScanRequest) (*kvrpcpb.RawScanResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawScanResponse{}
	lower, upper := req.StartKey, req.EndKey
	if req.Reverse {
		lower, upper = req.EndKey, req.StartKey
	}
	err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf),
		s.checkBound(lower), s.checkBound(upper))
	if err == nil && len(lower) > 0 && len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
		err = fmt.Errorf("%w: scan range [%q, %q) is empty", ErrInvalidRange, lower, upper)
	}
	if err == nil && req.Limit > uint32(s.cfg.MaxScanLimit) {
		err = fmt.Errorf("%w: %d, the limit is %d", ErrScanLimit, req.Limit, s.cfg.MaxScanLimit)
	}
	if err != nil {
		resp.Kvs = keyError(err)
		return resp, nil
	}
	if req.Limit == 0 {
		return resp, nil
	}
	r, err := s.storage.Reader(ctx, req.Context)
	if err != nil {
		if resp.RegionError = regionErr(err); resp.RegionError == nil {
			resp.Kvs = keyError(err)
		}
		return resp, nil
	}
	defer r.Close()
	if rr, ok := r.(storage.RegionReader); ok {
		if e := checkScanStart(rr.Region(), req.StartKey, req.Reverse); e != nil {
			resp.RegionError = e
			return resp, nil
		}
	}
	it := r.IterCF(req.Cf, engine.IterOptions{
		LowerBound: nilIfEmpty(lower),
		UpperBound: nilIfEmpty(upper),
		Reverse:    req.Reverse,
		KeyOnly:    req.KeyOnly,
	})
	defer it.Close()
	for it.Rewind(); it.Valid() && len(resp.Kvs) < int(req.Limit); it.Next() {
		p := &kvrpcpb.KvPair{Key: it.Key()}
		if !req.KeyOnly {
			v, err := it.Value()
			if err != nil {
				resp.Kvs = keyError(err)
				return resp, nil
			}
			p.Value = v
		}
		resp.Kvs = append(resp.Kvs, p)
	}
	return resp, nil
}

// checkScanStart reports KeyNotInRegion when a scan starts outside the
// region its reader is bound to (TiKV's rule), instead of quietly scanning
// the clamped, perhaps empty, intersection. Forward, start_key must be in
// [region start, region end); an empty start_key is the key space's start.
// Reverse, start_key is an exclusive upper bound, so it may equal the
// region's end: it must be in [region start, region end]; an empty one means
// the region's end. The other bound is clamped to the region (IterCF).
func checkScanStart(region *metapb.Region, start []byte, reverse bool) *errorpb.Error {
	in := bytes.Compare(start, region.StartKey) >= 0
	if end := region.EndKey; len(end) > 0 {
		c := bytes.Compare(start, end)
		in = in && (c < 0 || (reverse && c == 0))
	}
	if reverse && len(start) == 0 {
		in = true
	}
	if in {
		return nil
	}
	return &errorpb.Error{Message: "scan start key not in region", KeyNotInRegion: &errorpb.KeyNotInRegion{
		Key: start, RegionId: region.Id, StartKey: region.StartKey, EndKey: region.EndKey}}
}

// RawCompareAndSwap writes value only if the key's current value equals
// previous_value, or, with previous_not_exist, only if the key is absent. The
// read and the write hold the key's latch, so no other write of the key can
// land between them. The response reports what the key held before.
func (s *Server) RawCompareAndSwap(ctx context.Context, req *kvrpcpb.RawCASRequest) (*kvrpcpb.RawCASResponse, error) {
	ctx, cancel := s.bound(ctx, req.Context)
	defer cancel()
	resp := &kvrpcpb.RawCASResponse{}
	if err := firstErr(s.checkContext(req.Context), engine.ValidateCF(req.Cf), checkTTL(req.Ttl),
		s.checkKey(req.Key), s.checkValue(req.Value)); err != nil {
		resp.Error = err.Error()
		return resp, nil
	}
	release, err := s.latches.acquire(ctx, pointSpan(req.Key))
	if err != nil {
		resp.RegionError = latchBusy(err)
		return resp, nil
	}
	var werr error
	defer func() { releaseWhenSettled(release, werr) }()
	r, err := s.storage.Reader(ctx, req.Context)
	if err != nil {
		resp.RegionError, resp.Error = splitErr(err)
		return resp, nil
	}
	wctx := req.Context
	if rr, ok := r.(storage.RegionReader); ok {
		// Pin the write to the term that confirmed the read: if another
		// leader took over in between, the write is refused.
		c := kvrpcpb.Context{}
		if wctx != nil {
			c = *wctx
		}
		c.Term = rr.Term()
		wctx = &c
	}
	cur, err := r.GetCF(req.Cf, req.Key)
	r.Close()
	if err != nil {
		resp.RegionError, resp.Error = splitErr(err)
		return resp, nil
	}
	resp.PreviousNotExist = cur == nil
	resp.PreviousValue = cur
	if req.PreviousNotExist != (cur == nil) || (cur != nil && !bytes.Equal(cur, req.PreviousValue)) {
		return resp, nil
	}
	if werr = s.storage.Write(ctx, wctx, []storage.Modify{storage.NewPut(req.Cf, req.Key, req.Value)}); werr != nil {
		resp.RegionError, resp.Error = writeErr(werr)
		return resp, nil
	}
	resp.Succeed = true
	return resp, nil
}

// regionErr returns the region error err carries, if any.
func regionErr(err error) *errorpb.Error {
	var re *storage.RegionError
	if errors.As(err, &re) {
		return re.Err
	}
	return nil
}

// writeKeys writes mods under the latches of spans and sorts a failure into
// a response's region_error and error fields.
func (s *Server) writeKeys(ctx context.Context, kvctx *kvrpcpb.Context, spans []span, mods ...storage.Modify) (*errorpb.Error, string) {
	release, err := s.latches.acquire(ctx, spans...)
	if err != nil {
		return latchBusy(err), ""
	}
	err = s.storage.Write(ctx, kvctx, mods)
	releaseWhenSettled(release, err)
	if err != nil {
		return writeErr(err)
	}
	return nil, ""
}

// releaseWhenSettled releases a write's latches once its outcome is known.
// A write answered as undetermined may still apply: until its proposal is
// applied or dropped, its keys stay latched, so that a later write of them
// is not overtaken by it and a compare-and-swap does not read around it.
// The latches of a write stuck for good (a region that lost its quorum)
// stay taken; other writes of those keys are refused when their own wait
// ends, which they would be anyway.
func releaseWhenSettled(release func(), err error) {
	var u *storage.UnsettledError
	if errors.As(err, &u) {
		u.Settlement.Then(release)
		return
	}
	release()
}

// latchBusy answers a write that gave up waiting for the latches of its
// keys: it wrote nothing, so the client may send it again.
func latchBusy(err error) *errorpb.Error {
	msg := "server: keys latched by a write whose outcome is not known yet: " + err.Error()
	return &errorpb.Error{Message: msg, ServerIsBusy: &errorpb.ServerIsBusy{Reason: msg}}
}

func pointSpans(keys ...[]byte) []span {
	out := make([]span, len(keys))
	for i, k := range keys {
		out[i] = pointSpan(k)
	}
	return out
}

// bound limits ctx by the request's max_execution_duration_ms and by the
// store's own bound, whichever ends first, so that no wait on the store
// outlives the request.
func (s *Server) bound(ctx context.Context, kvctx *kvrpcpb.Context) (context.Context, context.CancelFunc) {
	d := s.maxWait
	if ms := kvctx.GetMaxExecutionDurationMs(); ms > 0 && time.Duration(ms) < d/time.Millisecond {
		d = time.Duration(ms) * time.Millisecond
	}
	return context.WithTimeout(ctx, d)
}

// writeErr is splitErr for a write that may have been proposed: if the
// request's context ended while the write waited, the write may still
// apply, so the answer is UndeterminedResult (a client must not re-send
// it blindly), not an error text that reads as a rejection.
func writeErr(err error) (*errorpb.Error, string) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		msg := "write outcome unknown: " + err.Error()
		return &errorpb.Error{Message: msg, UndeterminedResult: &errorpb.UndeterminedResult{Message: msg}}, ""
	}
	return splitErr(err)
}

// splitErr sorts err into a response's region_error or error field.
func splitErr(err error) (*errorpb.Error, string) {
	if re := regionErr(err); re != nil {
		return re, ""
	}
	return nil, err.Error()
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
