package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// Outcome of a write: applied, definitely not applied, or unknown (the
// command may apply later; a linearizability checker must allow both).
type Outcome int

const (
	OK Outcome = iota
	Failed
	Unknown
)

// ErrGiveUp: the client ran out of time.
var ErrGiveUp = errors.New("cluster: request did not complete in time")

// Client routes each request to the leader of the region holding its key
// through the stores' kv/server, following NotLeader hints and retrying
// region errors. Regions are looked up in the stores themselves (see
// Cluster.RegionOf) and re-looked up after EpochNotMatch, KeyNotInRegion or
// RegionNotFound.
type Client struct {
	c      *Cluster
	rnd    *rand.Rand
	leader uint64 // store of the current region's leader, 0 if unknown
	// AttemptTimeout bounds one attempt at one store.
	AttemptTimeout time.Duration

	key     []byte         // the current operation's routing key
	region  *metapb.Region // its region, nil until routed
	leaders map[uint64]uint64
}

// NewClient returns a client with its own seeded randomness.
func (c *Cluster) NewClient(seed uint64) *Client {
	return &Client{c: c, rnd: rand.New(rand.NewPCG(seed, c.opts.Seed)), AttemptTimeout: time.Second,
		leaders: make(map[uint64]uint64)}
}

func (cl *Client) kvctx() *kvrpcpb.Context {
	if cl.region == nil {
		cl.route()
	}
	return &kvrpcpb.Context{RegionId: cl.region.Id, RegionEpoch: cl.region.RegionEpoch}
}

// route finds the region of cl.key (keeping the current one if it holds
// the key) and its last known leader.
func (cl *Client) route() {
	if cl.region != nil && keyInRange(cl.key, cl.region.StartKey, cl.region.EndKey) {
		return
	}
	if cl.region != nil {
		cl.leaders[cl.region.Id] = cl.leader
	}
	cl.region = cl.c.RegionOf(cl.key)
	cl.leader = cl.leaders[cl.region.Id]
}

// setKey starts an operation on key.
func (cl *Client) setKey(key []byte) {
	cl.key = key
	cl.route()
}

func (cl *Client) pick() (uint64, *server.Server) {
	if cl.leader != 0 {
		if s := cl.c.server(cl.leader); s != nil {
			return cl.leader, s
		}
	}
	ids := cl.c.StoreIDs()
	id := ids[cl.rnd.IntN(len(ids))]
	cl.leader = id
	return id, cl.c.server(id)
}

// retryable classifies a region error: retry elsewhere (true), or the
// command's outcome is unknown (false).
func (cl *Client) onRegionError(e *errorpb.Error) (definite bool) {
	switch {
	case e.NotLeader != nil:
		if l := e.NotLeader.Leader; l != nil {
			cl.leader = l.StoreId
			return true
		}
		cl.leader = 0
	case e.UndeterminedResult != nil:
		cl.leader = 0
		return false
	case e.EpochNotMatch != nil, e.KeyNotInRegion != nil, e.RegionNotFound != nil:
		// The store we asked is no help for this region any more.
		cl.leaders[cl.region.Id] = 0
		cl.leader = 0
		cl.region = nil
		cl.route()
	default:
		cl.leader = 0
	}
	return true
}

// do runs attempt until it reports done, retrying region errors. attempt
// returns (region error, other error string); a write treats an undetermined
// region error or a failure after sending as Unknown.
func (cl *Client) do(ctx context.Context, write bool, attempt func(ctx context.Context, s *server.Server) (*errorpb.Error, string)) Outcome {
	backoff := 5 * time.Millisecond
	for ctx.Err() == nil {
		cl.route()
		_, s := cl.pick()
		if s == nil {
			cl.leader = 0
			sleepCtx(ctx, backoff)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, cl.AttemptTimeout)
		re, errStr := attempt(actx, s)
		cancel()
		if re == nil && errStr == "" {
			return OK
		}
		if re != nil {
			if !cl.onRegionError(re) && write {
				return Unknown
			}
			if re.NotLeader != nil && re.NotLeader.Leader != nil {
				continue
			}
		} else {
			// A timeout or a stopped store: a write may still apply.
			cl.leader = 0
			if write {
				return Unknown
			}
		}
		sleepCtx(ctx, backoff)
		backoff = min(backoff*2, 100*time.Millisecond)
	}
	if write {
		return Unknown
	}
	return Failed
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Put writes key; Unknown if its fate is unknown.
func (cl *Client) Put(ctx context.Context, key, value string) Outcome {
	cl.setKey([]byte(key))
	return cl.do(ctx, true, func(ctx context.Context, s *server.Server) (*errorpb.Error, string) {
		r, err := s.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: cl.kvctx(), Key: []byte(key), Value: []byte(value)})
		if err != nil {
			return nil, err.Error()
		}
		return r.RegionError, r.Error
	})
}

// Delete deletes key.
func (cl *Client) Delete(ctx context.Context, key string) Outcome {
	cl.setKey([]byte(key))
	return cl.do(ctx, true, func(ctx context.Context, s *server.Server) (*errorpb.Error, string) {
		r, err := s.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Context: cl.kvctx(), Key: []byte(key)})
		if err != nil {
			return nil, err.Error()
		}
		return r.RegionError, r.Error
	})
}

// Get reads key; found is false for a missing key.
func (cl *Client) Get(ctx context.Context, key string) (value string, found bool, err error) {
	cl.setKey([]byte(key))
	out := cl.do(ctx, false, func(ctx context.Context, s *server.Server) (*errorpb.Error, string) {
		r, err := s.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: cl.kvctx(), Key: []byte(key)})
		if err != nil {
			return nil, err.Error()
		}
		value, found = string(r.Value), !r.NotFound
		return r.RegionError, r.Error
	})
	if out != OK {
		return "", false, ErrGiveUp
	}
	return value, found, nil
}

// CAS sets key to value if it holds prev (prevAbsent: if it is missing).
func (cl *Client) CAS(ctx context.Context, key, prev string, prevAbsent bool, value string) (bool, Outcome) {
	var ok bool
	cl.setKey([]byte(key))
	out := cl.do(ctx, true, func(ctx context.Context, s *server.Server) (*errorpb.Error, string) {
		r, err := s.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: cl.kvctx(), Key: []byte(key),
			PreviousValue: []byte(prev), PreviousNotExist: prevAbsent, Value: []byte(value)})
		if err != nil {
			return nil, err.Error()
		}
		ok = r.Succeed
		return r.RegionError, r.Error
	})
	return ok, out
}

// Scan returns up to limit pairs from start, across regions.
func (cl *Client) Scan(ctx context.Context, start, end string, limit int) ([][2]string, error) {
	var all [][2]string
	for {
		cl.setKey([]byte(start))
		got, err := cl.scanRegion(ctx, start, end, limit-len(all))
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		rend := string(cl.region.EndKey)
		if len(all) >= limit || rend == "" || (end != "" && end <= rend) {
			return all, nil
		}
		start = rend
	}
}

// scanRegion scans within the region of start.
func (cl *Client) scanRegion(ctx context.Context, start, end string, limit int) ([][2]string, error) {
	var out [][2]string
	res := cl.do(ctx, false, func(ctx context.Context, s *server.Server) (*errorpb.Error, string) {
		r, err := s.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: cl.kvctx(), StartKey: []byte(start), EndKey: []byte(end), Limit: uint32(limit)})
		if err != nil {
			return nil, err.Error()
		}
		if r.RegionError != nil {
			return r.RegionError, ""
		}
		out = out[:0]
		for _, kv := range r.Kvs {
			if kv.Error != nil {
				return nil, kv.Error.String()
			}
			out = append(out, [2]string{string(kv.Key), string(kv.Value)})
		}
		return nil, ""
	})
	if res != OK {
		return nil, ErrGiveUp
	}
	return out, nil
}

// putAt sends one put to store id, without retrying elsewhere.
func (cl *Client) putAt(ctx context.Context, id uint64, key, value string) Outcome {
	s := cl.c.server(id)
	if s == nil {
		return Failed
	}
	cl.setKey([]byte(key))
	r, err := s.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: cl.kvctx(), Key: []byte(key), Value: []byte(value)})
	switch {
	case err != nil:
		return Unknown
	case r.RegionError != nil:
		return Failed
	case r.Error != "":
		return Unknown
	}
	return OK
}
