package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// store is a store's address and a small pool of connections to it.
type store struct {
	id      uint64
	addr    string
	conns   []*grpc.ClientConn
	clients []tikvpb.TikvClient
	next    atomic.Uint32
}

func (s *store) String() string {
	if s.id == standaloneStoreID {
		return "store " + s.addr
	}
	return fmt.Sprintf("store %d (%s)", s.id, s.addr)
}

func (s *store) close() {
	for _, cc := range s.conns {
		_ = cc.Close()
	}
}

// storeCache resolves store IDs to addresses through the scheduler and keeps
// the connections to each store.
type storeCache struct {
	sched  scheduler
	cfg    *config
	logger *zap.Logger

	mu     sync.Mutex
	stores map[uint64]*store
	stale  map[uint64]bool // address to be re-read before the next use
	closed bool
}

func newStoreCache(sched scheduler, cfg *config) *storeCache {
	return &storeCache{sched: sched, cfg: cfg, logger: cfg.logger, stores: map[uint64]*store{}, stale: map[uint64]bool{}}
}

// get returns the store with its connections, resolving its address when it
// is unknown or was invalidated.
func (c *storeCache) get(ctx context.Context, id uint64) (*store, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	s, stale := c.stores[id], c.stale[id]
	c.mu.Unlock()
	if s != nil && !stale {
		return s, nil
	}
	meta, err := c.sched.GetStore(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("client: resolve store %d: %w", id, err)
	}
	if meta.GetState() == metapb.StoreState_Tombstone || meta.GetAddress() == "" {
		return nil, fmt.Errorf("%w: store %d is %s at %q", ErrNoPeer, id, meta.GetState(), meta.GetAddress())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	delete(c.stale, id)
	if cur := c.stores[id]; cur != nil {
		if cur.addr == meta.Address {
			return cur, nil // same address: gRPC reconnects the same connections
		}
		c.logger.Info("store moved", zap.Uint64("store-id", id), zap.String("old", cur.addr), zap.String("new", meta.Address))
		cur.close()
	}
	s, err = c.dial(id, meta.Address)
	if err != nil {
		delete(c.stores, id)
		return nil, err
	}
	c.stores[id] = s
	return s, nil
}

func (c *storeCache) dial(id uint64, addr string) (*store, error) {
	s := &store{id: id, addr: addr}
	for range c.cfg.connsPerStore {
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(c.cfg.creds),
			codec.DialOption(),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.cfg.maxMsgSize), grpc.MaxCallSendMsgSize(c.cfg.maxMsgSize)),
			// A store that comes back is found within a second or so,
			// not after gRPC's default two-minute reconnect backoff.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 2 * time.Second,
			}),
			// Stores accept pings every 5 s or slower; TiKV clients use 10 s.
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
		)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("client: dial store %d at %s: %w", id, addr, err)
		}
		s.conns = append(s.conns, cc)
		s.clients = append(s.clients, tikvpb.NewTikvClient(cc))
	}
	return s, nil
}

// invalidate marks a store whose request failed in transport: its address
// is read again from the scheduler before the next use (the store may have
// restarted elsewhere). The connections are kept if the address is the
// same, so requests in flight on them are not cut.
func (c *storeCache) invalidate(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stores[id] != nil {
		c.stale[id] = true
	}
}

func (c *storeCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, s := range c.stores {
		s.close()
		delete(c.stores, id)
	}
}

// pick returns the next connection and its client, round-robin.
func (s *store) pick() (tikvpb.TikvClient, *grpc.ClientConn) {
	if len(s.clients) == 1 {
		return s.clients[0], s.conns[0]
	}
	i := s.next.Add(1) % uint32(len(s.clients))
	return s.clients[i], s.conns[i]
}
