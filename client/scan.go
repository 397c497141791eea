package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// Range calls walk the regions one after another. Each RPC is clamped to the
// part of the range inside the region it is routed to, so a store answers
// for its region only; the walk goes on from the region's bound.

func (c *RawClient) checkScan(limit int) error {
	if limit < 0 || limit > c.cfg.maxScanLimit {
		return fmt.Errorf("%w: %d, the limit is %d", ErrScanLimit, limit, c.cfg.maxScanLimit)
	}
	return nil
}

// checkRange refuses lower >= upper when both bounds are given.
func checkRange(lower, upper []byte) error {
	if len(lower) > 0 && len(upper) > 0 && bytes.Compare(lower, upper) >= 0 {
		return fmt.Errorf("%w: [%q, %q) is empty", ErrInvalidRange, lower, upper)
	}
	return nil
}

// Scan returns up to limit pairs with startKey <= key < endKey in ascending
// key order. An empty startKey is the beginning of the key space and an
// empty endKey its end. limit must be at most the max scan limit
// (WithMaxScanLimit, by default 10240; ErrScanLimit otherwise); a limit of 0
// returns nothing.
func (c *RawClient) Scan(ctx context.Context, startKey, endKey []byte, limit int) (keys, values [][]byte, err error) {
	if err := firstErr(c.checkOpen(), c.checkScan(limit), checkRange(startKey, endKey)); err != nil {
		return nil, nil, err
	}
	key := startKey
	bo := newBackoffer(&c.cfg) // for this region's retries
	for len(keys) < limit {
		r, err := c.locateIn(ctx, key, false)
		if err != nil {
			return nil, nil, err
		}
		reqEnd := endKey
		if len(r.end()) > 0 && (len(endKey) == 0 || bytes.Compare(r.end(), endKey) < 0) {
			reqEnd = r.end()
		}
		ks, vs, err := c.scanRegion(ctx, bo, r, key, reqEnd, limit-len(keys), false)
		if errors.Is(err, errRegionChanged) {
			continue // the same key, in whatever region now holds it
		}
		if err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, ks...), append(values, vs...)
		bo = newBackoffer(&c.cfg)
		if len(r.end()) == 0 || (len(endKey) > 0 && bytes.Compare(r.end(), endKey) >= 0) {
			break
		}
		key = r.end()
	}
	return keys, values, nil
}

// ReverseScan returns up to limit pairs in descending key order, as TiKV's
// raw ReverseScan does: from startKey, the exclusive UPPER bound, down to
// endKey, the inclusive LOWER bound, that is the keys with
// endKey <= key < startKey. An empty startKey is the end of the key space
// (+infinity) and an empty endKey its beginning. Limits as for Scan.
func (c *RawClient) ReverseScan(ctx context.Context, startKey, endKey []byte, limit int) (keys, values [][]byte, err error) {
	if err := firstErr(c.checkOpen(), c.checkScan(limit), checkRange(endKey, startKey)); err != nil {
		return nil, nil, err
	}
	upper := startKey
	bo := newBackoffer(&c.cfg)
	for len(keys) < limit {
		r, err := c.locateIn(ctx, upper, true)
		if err != nil {
			return nil, nil, err
		}
		reqLower := endKey
		if bytes.Compare(r.start(), endKey) > 0 {
			reqLower = r.start()
		}
		ks, vs, err := c.scanRegion(ctx, bo, r, upper, reqLower, limit-len(keys), true)
		if errors.Is(err, errRegionChanged) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, ks...), append(values, vs...)
		bo = newBackoffer(&c.cfg)
		if len(r.start()) == 0 || bytes.Compare(r.start(), endKey) <= 0 {
			break
		}
		upper = r.start()
	}
	return keys, values, nil
}

// locateIn locates the region holding key, or with before the keys just
// below key, retrying while the scheduler knows none.
func (c *RawClient) locateIn(ctx context.Context, key []byte, before bool) (*region, error) {
	bo := newBackoffer(&c.cfg)
	for {
		var r *region
		var err error
		if before {
			r, err = c.cache.locateBefore(ctx, key)
		} else {
			r, err = c.cache.locate(ctx, key)
		}
		if err == nil {
			return r, nil
		}
		if err := c.locateErr(ctx, bo, err); err != nil {
			return nil, err
		}
	}
}

// scanRegion scans one region: [start, end) forward, or from start
// (exclusive) down to end (inclusive) in reverse. It returns
// errRegionChanged when the region must be located again.
func (c *RawClient) scanRegion(ctx context.Context, bo *backoffer, r *region, start, end []byte, limit int, reverse bool) (keys, values [][]byte, err error) {
	err = c.sendToRegion(ctx, bo, r, retrySafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
		resp, err := cli.RawScan(ctx, &kvrpcpb.RawScanRequest{
			Context: rctx, StartKey: start, EndKey: end, Limit: uint32(limit), Reverse: reverse, Cf: c.cfg.cf,
		})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if len(resp.Kvs) == 1 && resp.Kvs[0].Error != nil {
			return nil, &ServerError{Op: "RawScan", Message: resp.Kvs[0].Error.Abort}
		}
		keys, values = make([][]byte, len(resp.Kvs)), make([][]byte, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			keys[i], values[i] = kv.Key, kv.Value
		}
		return nil, nil
	})
	return keys, values, err
}

// DeleteRange deletes every key with startKey <= key < endKey, one region
// after another (each region's part atomically, the whole not). An empty
// startKey is the beginning of the key space and an empty endKey its end:
// DeleteRange(ctx, nil, nil) deletes everything.
func (c *RawClient) DeleteRange(ctx context.Context, startKey, endKey []byte) error {
	if err := firstErr(c.checkOpen(), checkRange(startKey, endKey)); err != nil {
		return err
	}
	key := startKey
	bo := newBackoffer(&c.cfg)
	for {
		r, err := c.locateIn(ctx, key, false)
		if err != nil {
			return err
		}
		reqEnd := endKey
		if len(r.end()) > 0 && (len(endKey) == 0 || bytes.Compare(r.end(), endKey) < 0) {
			reqEnd = r.end()
		}
		err = c.sendToRegion(ctx, bo, r, retryUnsafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
			resp, err := cli.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Context: rctx, StartKey: key, EndKey: reqEnd, Cf: c.cfg.cf})
			if err != nil || resp.RegionError != nil {
				return resp.GetRegionError(), err
			}
			return nil, serverErr("RawDeleteRange", resp.Error)
		})
		if errors.Is(err, errRegionChanged) {
			continue
		}
		if err != nil {
			return err
		}
		if len(r.end()) == 0 || (len(endKey) > 0 && bytes.Compare(r.end(), endKey) >= 0) {
			return nil
		}
		key, bo = r.end(), newBackoffer(&c.cfg)
	}
}
