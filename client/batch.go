package client

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// A batch call groups its keys by region and sends one RPC per region part,
// all parts in parallel. A part whose region changed under it (split,
// unknown to the store) is grouped again and re-sent, with the same retry
// budget. Writes are atomic per part only.

// part is the keys of one batch call (indexes into the caller's slice) that
// go to one region.
type part struct {
	r   *region
	idx []int
}

// partFunc sends the keys idx of a batch as one RPC; see rpcFunc.
type partFunc func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, idx []int) (*errorpb.Error, error)

// group splits idx into parts by region, keeping each part in the order of
// idx, and cuts parts larger than the part limits.
func (c *RawClient) group(ctx context.Context, bo *backoffer, keys [][]byte, idx []int, size func(i int) int) ([]part, error) {
	var parts []part
	byRegion := map[uint64]int{} // region id -> index in parts
	for _, i := range idx {
		var r *region
		for {
			var err error
			if r, err = c.cache.locate(ctx, keys[i]); err == nil {
				break
			}
			if err := c.locateErr(ctx, bo, err); err != nil {
				return nil, err
			}
		}
		at, ok := byRegion[r.id()]
		if !ok {
			at = len(parts)
			byRegion[r.id()] = at
			parts = append(parts, part{r: r})
		}
		parts[at].idx = append(parts[at].idx, i)
	}
	var out []part
	for _, p := range parts {
		n, nbytes := 0, 0
		from := 0
		for j, i := range p.idx {
			s := size(i)
			if n > 0 && (n+1 > DefaultBatchPartSize || nbytes+s > DefaultBatchPartBytes) {
				out = append(out, part{r: p.r, idx: p.idx[from:j]})
				from, n, nbytes = j, 0, 0
			}
			n, nbytes = n+1, nbytes+s
		}
		out = append(out, part{r: p.r, idx: p.idx[from:]})
	}
	return out, nil
}

// sendBatch sends fn for every key of keys, part by part in parallel, and
// returns the first error. Writes are retryUnsafe (see idempotent).
func (c *RawClient) sendBatch(ctx context.Context, keys [][]byte, safe idempotent, size func(i int) int, fn partFunc) error {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	return c.sendBatchOf(ctx, keys, idx, safe, size, fn)
}

// sendBatchOf is sendBatch for the keys idx of keys only.
func (c *RawClient) sendBatchOf(ctx context.Context, keys [][]byte, idx []int, safe idempotent, size func(i int) int, fn partFunc) error {
	if len(idx) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return c.sendParts(ctx, newBackoffer(&c.cfg), keys, idx, safe, size, fn, cancel)
}

func (c *RawClient) sendParts(ctx context.Context, bo *backoffer, keys [][]byte, idx []int, safe idempotent, size func(int) int, fn partFunc, cancel func()) error {
	parts, err := c.group(ctx, bo, keys, idx, size)
	if err != nil {
		return err
	}
	run := func(p part, bo *backoffer) error {
		err := c.sendToRegion(ctx, bo, p.r, safe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
			return fn(ctx, cli, rctx, p.idx)
		})
		if errors.Is(err, errRegionChanged) {
			return c.sendParts(ctx, bo, keys, p.idx, safe, size, fn, cancel)
		}
		return err
	}
	if len(parts) == 1 {
		return run(parts[0], bo)
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		pbo := &backoffer{cfg: bo.cfg, attempts: bo.attempts, next: bo.next}
		wg.Go(func() {
			if errs[i] = run(p, pbo); errs[i] != nil {
				cancel() // the call fails: stop the other parts
			}
		})
	}
	wg.Wait()
	return firstCause(errs)
}

// firstCause returns the first error that is not only the cancellation of
// the other parts after one failed. If any part's outcome is unknown
// (ErrUndetermined), so is the call's: the error returned then matches
// ErrUndetermined too.
func firstCause(errs []error) error {
	var first, cause, undetermined error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if undetermined == nil && errors.Is(err, ErrUndetermined) {
			undetermined = err
		}
		if cause == nil && !errors.Is(err, context.Canceled) {
			cause = err
		}
		if first == nil {
			first = err
		}
	}
	if cause == nil {
		cause = first
	}
	if undetermined != nil && !errors.Is(cause, ErrUndetermined) {
		return errors.Join(cause, undetermined)
	}
	return cause
}

// lastOfEachKey returns the indexes of keys, in order, keeping only the
// last occurrence of each key.
func lastOfEachKey(keys [][]byte) []int {
	last := make(map[string]int, len(keys))
	for i, k := range keys {
		last[string(k)] = i
	}
	idx := make([]int, 0, len(last))
	for i, k := range keys {
		if last[string(k)] == i {
			idx = append(idx, i)
		}
	}
	return idx
}

func keysSize(keys [][]byte) func(int) int {
	return func(i int) int { return len(keys[i]) }
}

// BatchGet returns the pairs of the keys that exist, in the order of keys (a
// key asked for twice is returned twice).
func (c *RawClient) BatchGet(ctx context.Context, keys [][]byte) ([]KvPair, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
	}
	values := make([][]byte, len(keys)) // nil: not found
	err := c.sendBatch(ctx, keys, retrySafe, keysSize(keys), func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, idx []int) (*errorpb.Error, error) {
		req := &kvrpcpb.RawBatchGetRequest{Context: rctx, Keys: make([][]byte, len(idx)), Cf: c.cfg.cf}
		for j, i := range idx {
			req.Keys[j] = keys[i]
		}
		resp, err := cli.RawBatchGet(ctx, req)
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if len(resp.Pairs) == 1 && resp.Pairs[0].Error != nil {
			return nil, &ServerError{Op: "RawBatchGet", Message: resp.Pairs[0].Error.Abort}
		}
		// The store returns the found keys in request order: match them up.
		p := 0
		for _, i := range idx {
			if p < len(resp.Pairs) && bytes.Equal(resp.Pairs[p].Key, keys[i]) {
				values[i] = resp.Pairs[p].Value
				p++
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]KvPair, 0, len(keys))
	for i, v := range values {
		if v != nil {
			out = append(out, KvPair{Key: keys[i], Value: v})
		}
	}
	return out, nil
}

// BatchPut sets keys[i] to values[i] for every i. When a key appears twice,
// the later pair wins. The pairs of one region are written atomically; the
// call as a whole is not atomic.
func (c *RawClient) BatchPut(ctx context.Context, keys, values [][]byte) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if len(keys) != len(values) {
		return ErrMismatchedBatch
	}
	for i := range keys {
		if err := firstErr(checkKey(keys[i]), checkValue(values[i])); err != nil {
			return err
		}
	}
	size := func(i int) int { return len(keys[i]) + len(values[i]) }
	// Only the last pair of each key is sent. A region's part larger than
	// one RPC goes out in several chunks, in parallel; two pairs of one
	// key in different chunks would race, and the earlier could win.
	return c.sendBatchOf(ctx, keys, lastOfEachKey(keys), retryUnsafe, size, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, idx []int) (*errorpb.Error, error) {
		req := &kvrpcpb.RawBatchPutRequest{Context: rctx, Pairs: make([]*kvrpcpb.KvPair, len(idx)), Cf: c.cfg.cf}
		for j, i := range idx {
			req.Pairs[j] = &kvrpcpb.KvPair{Key: keys[i], Value: values[i]}
		}
		resp, err := cli.RawBatchPut(ctx, req)
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, &ServerError{Op: "RawBatchPut", Message: resp.Error}
		}
		return nil, nil
	})
}

// BatchDelete deletes keys; missing keys are fine. The keys of one region
// are deleted atomically; the call as a whole is not atomic.
func (c *RawClient) BatchDelete(ctx context.Context, keys [][]byte) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return c.sendBatch(ctx, keys, retryUnsafe, keysSize(keys), func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context, idx []int) (*errorpb.Error, error) {
		req := &kvrpcpb.RawBatchDeleteRequest{Context: rctx, Keys: make([][]byte, len(idx)), Cf: c.cfg.cf}
		for j, i := range idx {
			req.Keys[j] = keys[i]
		}
		resp, err := cli.RawBatchDelete(ctx, req)
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, &ServerError{Op: "RawBatchDelete", Message: resp.Error}
		}
		return nil, nil
	})
}
