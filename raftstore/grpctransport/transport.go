// Package grpctransport is raftstore's Transport over gRPC: one BatchRaft
// stream per target store, fed by a bounded queue (a full queue drops the
// message and reports the peer unreachable rather than block the raft
// loop), batching whatever is queued into one BatchRaftMessage, and
// reconnecting with backoff. Snapshots go over a Snapshot stream: the
// RaftMessage first, then data chunks.
package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/proto/codec"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	"github.com/regionkv/regionkv/raftstore"
)

// Resolver maps a store ID to its address.
type Resolver interface {
	Resolve(ctx context.Context, storeID uint64) (string, error)
}

// SchedulerResolver resolves through the scheduler's GetStore.
type SchedulerResolver struct{ Sched raftstore.SchedulerClient }

// Resolve implements Resolver.
func (r SchedulerResolver) Resolve(ctx context.Context, id uint64) (string, error) {
	s, err := r.Sched.GetStore(ctx, id)
	if err != nil {
		return "", err
	}
	if s.PeerAddress != "" {
		return s.PeerAddress, nil
	}
	return s.Address, nil
}

// MapResolver is a fixed map, for tests.
type MapResolver map[uint64]string

// Resolve implements Resolver.
func (m MapResolver) Resolve(_ context.Context, id uint64) (string, error) {
	if a, ok := m[id]; ok {
		return a, nil
	}
	return "", fmt.Errorf("grpctransport: unknown store %d", id)
}

const (
	queueCap     = 4096
	maxBatch     = 256
	maxBackoff   = time.Second
	snapChunkLen = 1 << 20
)

// Transport implements raftstore.Transport.
type Transport struct {
	resolver Resolver
	logger   *zap.Logger
	creds    credentials.TransportCredentials
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu     sync.Mutex
	queues map[uint64]chan *rspb.RaftMessage
	conns  map[string]*grpc.ClientConn
}

var _ raftstore.Transport = (*Transport)(nil)

// Option adjusts a Transport.
type Option func(*Transport)

// WithCredentials secures the connections to other stores (TLS); the
// default is plaintext.
func WithCredentials(c credentials.TransportCredentials) Option {
	return func(t *Transport) {
		if c != nil {
			t.creds = c
		}
	}
}

// New returns a transport; Close it after stopping the store.
func New(r Resolver, logger *zap.Logger, opts ...Option) *Transport {
	if logger == nil {
		logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{resolver: r, logger: logger, creds: insecure.NewCredentials(), ctx: ctx, cancel: cancel,
		queues: make(map[uint64]chan *rspb.RaftMessage), conns: make(map[string]*grpc.ClientConn)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Close stops every stream and closes the connections.
func (t *Transport) Close() {
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.conns = nil
}

// Send implements raftstore.Transport.
func (t *Transport) Send(msg *rspb.RaftMessage) error {
	to := msg.ToPeer.GetStoreId()
	t.mu.Lock()
	if t.ctx.Err() != nil {
		t.mu.Unlock()
		return raftstore.ErrUnreachable
	}
	q, ok := t.queues[to]
	if !ok {
		q = make(chan *rspb.RaftMessage, queueCap)
		t.queues[to] = q
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.runStream(to, q) }()
	}
	t.mu.Unlock()
	select {
	case q <- msg:
		return nil
	default:
		return fmt.Errorf("%w: queue to store %d is full", raftstore.ErrUnreachable, to)
	}
}

func (t *Transport) conn(ctx context.Context, storeID uint64) (*grpc.ClientConn, error) {
	addr, err := t.resolver.Resolve(ctx, storeID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(t.creds), codec.DialOption())
	if err != nil {
		return nil, err
	}
	t.conns[addr] = c
	return c, nil
}

// runStream keeps a BatchRaft stream to one store, reconnecting with
// backoff; messages queued while it is down wait (or are dropped by Send
// when the queue is full).
func (t *Transport) runStream(to uint64, q chan *rspb.RaftMessage) {
	backoff := 10 * time.Millisecond
	var pending []*rspb.RaftMessage
	for t.ctx.Err() == nil {
		err := t.stream(to, q, &pending)
		if t.ctx.Err() != nil {
			return
		}
		t.logger.Debug("raft stream broken", zap.Uint64("store-id", to), zap.Error(err))
		pending = nil // raft retransmits what matters
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (t *Transport) stream(to uint64, q chan *rspb.RaftMessage, pending *[]*rspb.RaftMessage) error {
	c, err := t.conn(t.ctx, to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	st, err := tikvpb.NewTikvClient(c).BatchRaft(ctx)
	if err != nil {
		return err
	}
	for {
		var first *rspb.RaftMessage
		select {
		case <-ctx.Done():
			return ctx.Err()
		case first = <-q:
		}
		batch := append((*pending)[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case m := <-q:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if err := st.Send(&tikvpb.BatchRaftMessage{Msgs: batch}); err != nil {
			return err
		}
	}
}

// SendSnapshot implements raftstore.Transport.
func (t *Transport) SendSnapshot(msg *rspb.RaftMessage, open func() (io.ReadCloser, error), done func(error)) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		done(t.sendSnapshot(msg, open))
	}()
}

func (t *Transport) sendSnapshot(msg *rspb.RaftMessage, open func() (io.ReadCloser, error)) error {
	c, err := t.conn(t.ctx, msg.ToPeer.GetStoreId())
	if err != nil {
		return err
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Minute)
	defer cancel()
	st, err := tikvpb.NewTikvClient(c).Snapshot(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&rspb.SnapshotChunk{Message: msg}); err != nil {
		return err
	}
	buf := make([]byte, snapChunkLen)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if serr := st.Send(&rspb.SnapshotChunk{Data: append([]byte(nil), buf[:n]...)}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	_, err = st.CloseAndRecv()
	return err
}
