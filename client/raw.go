package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// KvPair is a key and its value.
type KvPair struct {
	Key, Value []byte
}

// RawClient reads and writes the raw key space of a regionkv cluster. It is
// safe for concurrent use; create one per process and Close it when done.
type RawClient struct {
	cfg    config
	logger *zap.Logger
	sched  scheduler
	cache  *regionCache
	stores *storeCache
	closed atomic.Bool
}

// NewRawClient connects to the scheduler cluster through any of
// schedulerAddrs (host:port) and returns a client that routes each request
// to the leader of the region holding its keys. It fails if no scheduler
// member answers before ctx ends.
func NewRawClient(ctx context.Context, schedulerAddrs []string, opts ...Option) (*RawClient, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	sc, err := schedclient.New(ctx, schedulerAddrs, schedclient.Options{
		Logger:      cfg.logger,
		MaxBackoff:  cfg.maxBackoff,
		CallerID:    "regionkv-client",
		Credentials: cfg.creds,
	})
	if err != nil {
		return nil, fmt.Errorf("client: connect to scheduler %v: %w", schedulerAddrs, err)
	}
	return newRawClient(sc, cfg), nil
}

// NewRawClientForStore returns a client of one standalone store (`regionkv
// server --standalone`): no scheduler, no regions; the store is treated as
// one region that covers every key, and requests carry no region context.
// Nothing is dialed until the first request.
func NewRawClientForStore(ctx context.Context, addr string, opts ...Option) (*RawClient, error) {
	if addr == "" {
		return nil, errors.New("client: no store address given")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return newRawClient(standaloneScheduler{addr: addr}, cfg), nil
}

// newRawClient builds a client on any scheduler; tests pass a fake one.
func newRawClient(sched scheduler, cfg config) *RawClient {
	c := &RawClient{cfg: cfg, logger: cfg.logger, sched: sched}
	c.cache = newRegionCache(sched, cfg.logger)
	c.stores = newStoreCache(sched, &c.cfg)
	return c
}

// Close closes the connections to the stores and the scheduler. Requests
// made after Close fail with ErrClosed.
func (c *RawClient) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.stores.close()
	c.sched.Close()
	return nil
}

func (c *RawClient) checkOpen() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) == 0 {
		return ErrEmptyValue
	}
	return nil
}

// serverErr turns a response's error text into a *ServerError.
func serverErr(op, msg string) error {
	if msg == "" {
		return nil
	}
	return &ServerError{Op: op, Message: msg}
}

// Get returns the value of key, or (nil, nil) if key does not exist.
func (c *RawClient) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := firstErr(c.checkOpen(), checkKey(key)); err != nil {
		return nil, err
	}
	var value []byte
	err := c.sendToKey(ctx, key, retrySafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
		resp, err := cli.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: rctx, Key: key, Cf: c.cfg.cf})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, serverErr("RawGet", resp.Error)
		}
		if !resp.NotFound {
			value = resp.Value
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return value, nil
}

// Put sets key to value. Empty keys and values are refused
// (ErrEmptyKey, ErrEmptyValue).
func (c *RawClient) Put(ctx context.Context, key, value []byte) error {
	if err := firstErr(c.checkOpen(), checkKey(key), checkValue(value)); err != nil {
		return err
	}
	err := c.sendToKey(ctx, key, retryUnsafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
		resp, err := cli.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: rctx, Key: key, Value: value, Cf: c.cfg.cf})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		return nil, serverErr("RawPut", resp.Error)
	})
	return err
}

// Delete deletes key; deleting a missing key succeeds.
func (c *RawClient) Delete(ctx context.Context, key []byte) error {
	if err := firstErr(c.checkOpen(), checkKey(key)); err != nil {
		return err
	}
	err := c.sendToKey(ctx, key, retryUnsafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
		resp, err := cli.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Context: rctx, Key: key, Cf: c.cfg.cf})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		return nil, serverErr("RawDelete", resp.Error)
	})
	return err
}

// CompareAndSwap sets key to newValue only if its current value is
// prevValue, or, when prevValue is nil, only if key does not exist. It
// returns the value key held before (nil if it did not exist) and whether
// the swap happened.
//
// A compare-and-swap is never sent twice once it may have reached the
// leader: if the connection fails after sending, the error wraps
// ErrUndetermined and the caller must read the key to learn the outcome.
func (c *RawClient) CompareAndSwap(ctx context.Context, key, prevValue, newValue []byte) (previous []byte, swapped bool, err error) {
	if err := firstErr(c.checkOpen(), checkKey(key), checkValue(newValue)); err != nil {
		return nil, false, err
	}
	if prevValue != nil && len(prevValue) == 0 {
		return nil, false, fmt.Errorf("%w: previous value is empty, which no key can hold; use nil for \"absent\"", ErrEmptyValue)
	}
	err = c.sendToKey(ctx, key, retryUnsafe, func(ctx context.Context, cli tikvpb.TikvClient, rctx *kvrpcpb.Context) (*errorpb.Error, error) {
		resp, err := cli.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{
			Context: rctx, Key: key, Value: newValue, Cf: c.cfg.cf,
			PreviousValue: prevValue, PreviousNotExist: prevValue == nil,
		})
		if err != nil || resp.RegionError != nil {
			return resp.GetRegionError(), err
		}
		if resp.Error != "" {
			return nil, serverErr("RawCompareAndSwap", resp.Error)
		}
		if !resp.PreviousNotExist {
			previous = resp.PreviousValue
		}
		swapped = resp.Succeed
		return nil, nil
	})
	if err != nil {
		return nil, false, err
	}
	return previous, swapped, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
