package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
)

// Options tune a client.
type Options struct {
	Logger *zap.Logger
	// MaxBackoff caps the wait between retries; MinBackoff starts it.
	MinBackoff, MaxBackoff time.Duration
	// MemberRefresh is how often members are re-read without an error.
	MemberRefresh time.Duration
	// HeartbeatQueue bounds queued region heartbeats and responses.
	HeartbeatQueue int
	// CallerID names the caller in request headers.
	CallerID string
	// Credentials secure the connections to the scheduler members (TLS);
	// nil means plaintext.
	Credentials credentials.TransportCredentials
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 20 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Second
	}
	if o.MemberRefresh <= 0 {
		o.MemberRefresh = 10 * time.Second
	}
	if o.HeartbeatQueue <= 0 {
		o.HeartbeatQueue = 4096
	}
	if o.CallerID == "" {
		o.CallerID = "regionkv"
	}
	if o.Credentials == nil {
		o.Credentials = insecure.NewCredentials()
	}
}

// grpcClient implements Client over gRPC.
type grpcClient struct {
	opts    Options
	initial []string // addresses given at creation

	mu        sync.RWMutex
	clusterID uint64
	leader    string   // leader address (host:port)
	members   []string // member addresses from the last GetMembers
	conns     map[string]*grpc.ClientConn
	leaderCh  chan struct{} // closed and replaced when the leader changes

	discoverMu sync.Mutex

	hbReqs  chan *pdpb.RegionHeartbeatRequest
	hbResps chan *pdpb.RegionHeartbeatResponse
	tsoReqs chan *tsoRequest

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New connects to the scheduler cluster through any of addrs (host:port or
// http://host:port), learns the cluster ID and the leader, and starts the
// region heartbeat and TSO streams. It fails if no member answers before
// ctx is done.
func New(ctx context.Context, addrs []string, opts Options) (Client, error) {
	opts.fill()
	c := &grpcClient{
		opts:     opts,
		conns:    map[string]*grpc.ClientConn{},
		leaderCh: make(chan struct{}),
		hbReqs:   make(chan *pdpb.RegionHeartbeatRequest, opts.HeartbeatQueue),
		hbResps:  make(chan *pdpb.RegionHeartbeatResponse, opts.HeartbeatQueue),
		tsoReqs:  make(chan *tsoRequest, 1024),
	}
	for _, a := range addrs {
		c.initial = append(c.initial, hostPort(a))
	}
	if len(c.initial) == 0 {
		return nil, fmt.Errorf("client: no scheduler address given")
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.discoverRetry(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.wg.Add(3)
	go c.heartbeatLoop()
	go c.tsoLoop()
	go c.refreshLoop()
	return c, nil
}

// hostPort strips a scheme from a URL.
func hostPort(a string) string {
	if u, err := url.Parse(a); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimPrefix(a, "//")
}

func (c *grpcClient) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc := c.conns[addr]; cc != nil {
		return cc, nil
	}
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(c.opts.Credentials),
		codec.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
		// The scheduler enforces MinTime 5s; ping every 10 s like TiKV.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *grpcClient) header() *pdpb.RequestHeader {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return &pdpb.RequestHeader{ClusterId: c.clusterID, CallerId: c.opts.CallerID}
}

// leaderClient returns a PD client on the leader's connection and the
// channel that is closed when the leader changes.
func (c *grpcClient) leaderClient() (pdpbgrpc.PDClient, <-chan struct{}, error) {
	c.mu.RLock()
	addr, ch := c.leader, c.leaderCh
	c.mu.RUnlock()
	if addr == "" {
		return nil, ch, ErrNoLeader
	}
	cc, err := c.conn(addr)
	if err != nil {
		return nil, ch, err
	}
	return pdpbgrpc.NewPDClient(cc), ch, nil
}

// discover asks the members (last known, then initial) for the leader.
func (c *grpcClient) discover(ctx context.Context) error {
	c.discoverMu.Lock()
	defer c.discoverMu.Unlock()
	c.mu.RLock()
	cands := append(append([]string{}, c.members...), c.initial...)
	c.mu.RUnlock()
	lastErr := ErrNoLeader
	seen := map[string]bool{}
	for _, addr := range cands {
		if seen[addr] {
			continue
		}
		seen[addr] = true
		resp, err := c.getMembersFrom(ctx, addr)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.Leader == nil || len(resp.Leader.ClientUrls) == 0 {
			lastErr = ErrNoLeader
			continue
		}
		c.install(resp)
		return nil
	}
	return lastErr
}

func (c *grpcClient) getMembersFrom(ctx context.Context, addr string) (*pdpb.GetMembersResponse, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := pdpbgrpc.NewPDClient(cc).GetMembers(cctx, &pdpb.GetMembersRequest{Header: c.header()})
	if err != nil {
		return nil, err
	}
	if err := headerErr(resp.Header); err != nil {
		return nil, err
	}
	c.mu.RLock()
	id := c.clusterID
	c.mu.RUnlock()
	if id != 0 && resp.Header.GetClusterId() != id {
		return nil, fmt.Errorf("%w: member %s is in cluster %d, not %d", ErrClusterIDMismatch, addr, resp.Header.GetClusterId(), id)
	}
	return resp, nil
}

func (c *grpcClient) install(resp *pdpb.GetMembersResponse) {
	leader := hostPort(resp.Leader.ClientUrls[0])
	var members []string
	for _, m := range resp.Members {
		for _, u := range m.ClientUrls {
			members = append(members, hostPort(u))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clusterID == 0 {
		c.clusterID = resp.Header.GetClusterId()
	}
	c.members = members
	if leader != c.leader {
		c.opts.Logger.Info("scheduler leader changed", zap.String("old", c.leader), zap.String("new", leader))
		c.leader = leader
		close(c.leaderCh)
		c.leaderCh = make(chan struct{})
	}
}

// discoverRetry retries discover with backoff until it succeeds or ctx
// ends, or a member refuses this client's credentials (plaintext to a TLS
// port, a certificate CN it does not admit): retrying does not change
// them.
func (c *grpcClient) discoverRetry(ctx context.Context) error {
	b := c.opts.MinBackoff
	for {
		err := c.discover(ctx)
		if err == nil {
			return nil
		}
		if code := status.Code(err); code == codes.Unauthenticated || code == codes.PermissionDenied {
			return errors.Join(ErrNoLeader, err)
		}
		if !c.sleep(ctx, b) {
			return errors.Join(ErrNoLeader, err)
		}
		b = min(2*b, c.opts.MaxBackoff)
	}
}

// sleep waits d; false if ctx or the client ended first.
func (c *grpcClient) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.ctx.Done():
		return false
	}
}

// call runs fn against the leader, re-discovering and backing off on
// retryable errors until ctx ends.
func (c *grpcClient) call(ctx context.Context, fn func(context.Context, pdpbgrpc.PDClient, *pdpb.RequestHeader) (*pdpb.ResponseHeader, error)) error {
	b := c.opts.MinBackoff
	for {
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		cli, _, err := c.leaderClient()
		if err == nil {
			var h *pdpb.ResponseHeader
			h, err = fn(ctx, cli, c.header())
			if err == nil {
				err = headerErr(h)
			}
		}
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		c.opts.Logger.Debug("scheduler call failed; finding the leader", zap.Error(err))
		_ = c.discover(ctx)
		if !c.sleep(ctx, b) {
			return errors.Join(ctx.Err(), err)
		}
		b = min(2*b, c.opts.MaxBackoff)
	}
}

// refreshLoop re-reads the members now and then, so a leader change is
// noticed even when nothing fails.
func (c *grpcClient) refreshLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.MemberRefresh)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			_ = c.discover(c.ctx)
		}
	}
}

func (c *grpcClient) GetClusterID(context.Context) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.clusterID
}

func (c *grpcClient) GetLeaderURL() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.opts.Credentials.Info().SecurityProtocol == "tls" {
		return "https://" + c.leader
	}
	return "http://" + c.leader
}

func (c *grpcClient) Close() {
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, addr)
	}
}
