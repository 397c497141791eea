package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/client"
)

// Target is the store under test. Implementations are safe for concurrent
// use by every worker.
type Target interface {
	Get(ctx context.Context, key []byte) ([]byte, error)
	Put(ctx context.Context, key, value []byte) error
	BatchGet(ctx context.Context, keys [][]byte) (int, error)
	BatchPut(ctx context.Context, keys, values [][]byte) error
	// Scan returns the number of pairs read, at most limit, from start
	// (inclusive) to end (exclusive; nil is unbounded).
	Scan(ctx context.Context, start, end []byte, limit int) (int, error)
	Close() error
}

// regionkvTarget runs the workloads through the client SDK.
type regionkvTarget struct{ c *client.RawClient }

// NewRegionkvTarget connects to a cluster through its scheduler, or to one
// standalone store when storeAddr is set.
func NewRegionkvTarget(ctx context.Context, schedulers []string, storeAddr string, opts ...client.Option) (Target, error) {
	var c *client.RawClient
	var err error
	if storeAddr != "" {
		c, err = client.NewRawClientForStore(ctx, storeAddr, opts...)
	} else {
		c, err = client.NewRawClient(ctx, schedulers, opts...)
	}
	if err != nil {
		return nil, err
	}
	return &regionkvTarget{c: c}, nil
}

func (t *regionkvTarget) Get(ctx context.Context, key []byte) ([]byte, error) {
	return t.c.Get(ctx, key)
}
func (t *regionkvTarget) Put(ctx context.Context, key, value []byte) error {
	return t.c.Put(ctx, key, value)
}
func (t *regionkvTarget) BatchPut(ctx context.Context, keys, values [][]byte) error {
	return t.c.BatchPut(ctx, keys, values)
}
func (t *regionkvTarget) BatchGet(ctx context.Context, keys [][]byte) (int, error) {
	pairs, err := t.c.BatchGet(ctx, keys)
	return len(pairs), err
}
func (t *regionkvTarget) Scan(ctx context.Context, start, end []byte, limit int) (int, error) {
	keys, _, err := t.c.Scan(ctx, start, end, limit)
	return len(keys), err
}
func (t *regionkvTarget) Close() error { return t.c.Close() }

// etcdTarget runs the workloads against etcd through clientv3: gets are
// linearizable unless serializable is set, scans are ranges with a limit,
// batches are one transaction. conns clients (one gRPC connection each) are
// used round-robin by the workers.
type etcdTarget struct {
	clients      []*clientv3.Client
	next         uint64
	serializable bool
}

// NewEtcdTarget connects conns clients to the endpoints.
func NewEtcdTarget(ctx context.Context, endpoints []string, conns int, serializable bool, tlsCfg *tls.Config) (Target, error) {
	if conns < 1 {
		conns = 1
	}
	t := &etcdTarget{serializable: serializable}
	for i := 0; i < conns; i++ {
		c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, Context: ctx, Logger: zap.NewNop(),
			MaxCallSendMsgSize: 16 << 20, MaxCallRecvMsgSize: 64 << 20, TLS: tlsCfg})
		if err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("bench: etcd %s: %w", strings.Join(endpoints, ","), err)
		}
		t.clients = append(t.clients, c)
	}
	// Fail early, with the endpoint in the message, when nothing listens.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := t.clients[0].Status(sctx, endpoints[0]); err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("bench: etcd %s: %w", endpoints[0], err)
	}
	return t, nil
}

// kv hands out clients round-robin; the race on next only skews the spread.
func (t *etcdTarget) kv() *clientv3.Client {
	t.next++
	return t.clients[t.next%uint64(len(t.clients))]
}

func (t *etcdTarget) readOpts(o ...clientv3.OpOption) []clientv3.OpOption {
	if t.serializable {
		o = append(o, clientv3.WithSerializable())
	}
	return o
}

func (t *etcdTarget) Get(ctx context.Context, key []byte) ([]byte, error) {
	resp, err := t.kv().Get(ctx, string(key), t.readOpts()...)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return resp.Kvs[0].Value, nil
}

func (t *etcdTarget) Put(ctx context.Context, key, value []byte) error {
	_, err := t.kv().Put(ctx, string(key), string(value))
	return err
}

func (t *etcdTarget) BatchPut(ctx context.Context, keys, values [][]byte) error {
	ops := make([]clientv3.Op, len(keys))
	for i := range keys {
		ops[i] = clientv3.OpPut(string(keys[i]), string(values[i]))
	}
	_, err := t.kv().Txn(ctx).Then(ops...).Commit()
	return err
}

func (t *etcdTarget) BatchGet(ctx context.Context, keys [][]byte) (int, error) {
	ops := make([]clientv3.Op, len(keys))
	for i := range keys {
		ops[i] = clientv3.OpGet(string(keys[i]), t.readOpts()...)
	}
	// A read-only Txn is served like a range: serializable when asked.
	resp, err := t.kv().Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range resp.Responses {
		if rr := r.GetResponseRange(); rr != nil {
			n += len(rr.Kvs)
		}
	}
	return n, nil
}

func (t *etcdTarget) Scan(ctx context.Context, start, end []byte, limit int) (int, error) {
	rangeEnd := string(end)
	if end == nil {
		rangeEnd = "\x00" // etcd: from start to the end of the key space
	}
	resp, err := t.kv().Get(ctx, string(start), t.readOpts(clientv3.WithRange(rangeEnd), clientv3.WithLimit(int64(limit)))...)
	if err != nil {
		return 0, err
	}
	return len(resp.Kvs), nil
}

func (t *etcdTarget) Close() error {
	var errs []error
	for _, c := range t.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// errorKind names an error for the report's errors-by-kind table.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, errNotFound):
		return "not-found"
	case errors.Is(err, client.ErrUndetermined):
		return "undetermined"
	case errors.Is(err, client.ErrRetriesExhausted):
		return "retries-exhausted"
	case errors.Is(err, client.ErrNotLeader):
		return "not-leader"
	case errors.Is(err, client.ErrEpochNotMatch):
		return "epoch-not-match"
	case errors.Is(err, client.ErrServerIsBusy):
		return "server-is-busy"
	case errors.Is(err, client.ErrRegionUnavailable):
		return "region-unavailable"
	case errors.Is(err, client.ErrNoPeer):
		return "no-peer"
	case errors.Is(err, client.ErrServer):
		return "server"
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return "grpc-" + strings.ToLower(s.Code().String())
	}
	return "other"
}

// errNotFound is a read of a record the workload knows it wrote.
var errNotFound = errors.New("bench: record not found")
