package client

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
)

func (c *grpcClient) RegionHeartbeat(ctx context.Context, req *pdpb.RegionHeartbeatRequest) error {
	select {
	case c.hbReqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

func (c *grpcClient) RegionHeartbeatResponses() <-chan *pdpb.RegionHeartbeatResponse {
	return c.hbResps
}

// heartbeatLoop keeps one region heartbeat stream open to the leader,
// reopening it when it breaks or the leader changes.
func (c *grpcClient) heartbeatLoop() {
	defer c.wg.Done()
	b := c.opts.MinBackoff
	for c.ctx.Err() == nil {
		if err := c.runHeartbeatStream(); err != nil && c.ctx.Err() == nil {
			c.opts.Logger.Debug("region heartbeat stream ended", zap.Error(err))
			_ = c.discover(c.ctx)
			if !c.sleep(c.ctx, b) {
				return
			}
			b = min(2*b, c.opts.MaxBackoff)
			continue
		}
		b = c.opts.MinBackoff
	}
}

func (c *grpcClient) runHeartbeatStream() error {
	cli, leaderChanged, err := c.leaderClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stream, err := cli.RegionHeartbeat(ctx)
	if err != nil {
		return err
	}
	recvErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if herr := headerErr(resp.Header); herr != nil {
				c.opts.Logger.Warn("region heartbeat error", zap.Error(herr))
				if errors.Is(herr, ErrNotLeader) {
					recvErr <- herr
					return
				}
				continue
			}
			select {
			case c.hbResps <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	header := c.header()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-leaderChanged:
			return nil
		case err := <-recvErr:
			return err
		case req := <-c.hbReqs:
			req.Header = header
			if err := stream.Send(req); err != nil {
				return err
			}
		}
	}
}

// tsoRequest is one GetTS waiting for its timestamp.
type tsoRequest struct {
	done     chan struct{}
	physical int64
	logical  int64
	err      error
}

const tsoMaxBatch = 10000

func (c *grpcClient) GetTS(ctx context.Context) (int64, int64, error) {
	b := c.opts.MinBackoff
	for {
		r := &tsoRequest{done: make(chan struct{})}
		select {
		case c.tsoReqs <- r:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-c.ctx.Done():
			return 0, 0, ErrClosed
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		if r.err == nil {
			return r.physical, r.logical, nil
		}
		if !retryable(r.err) {
			return 0, 0, r.err
		}
		if !c.sleep(ctx, b) {
			return 0, 0, errors.Join(ctx.Err(), r.err)
		}
		b = min(2*b, c.opts.MaxBackoff)
	}
}

// tsoLoop batches waiting GetTS calls into one request on a TSO stream to
// the leader.
func (c *grpcClient) tsoLoop() {
	defer c.wg.Done()
	var stream pdpbgrpc.PD_TsoClient
	var cancel context.CancelFunc = func() {}
	var leaderChanged <-chan struct{}
	defer func() { cancel() }()
	for {
		var first *tsoRequest
		select {
		case <-c.ctx.Done():
			return
		case first = <-c.tsoReqs:
		}
		batch := []*tsoRequest{first}
	drain:
		for len(batch) < tsoMaxBatch {
			select {
			case r := <-c.tsoReqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		select {
		case <-leaderChanged:
			cancel()
			stream = nil
		default:
		}
		var err error
		if stream == nil {
			stream, cancel, leaderChanged, err = c.openTso()
		}
		if err == nil {
			err = c.tsoRoundTrip(stream, batch)
		}
		if err != nil {
			cancel()
			stream = nil
			for _, r := range batch {
				r.err = err
				close(r.done)
			}
			_ = c.discover(c.ctx)
		}
	}
}

func (c *grpcClient) openTso() (pdpbgrpc.PD_TsoClient, context.CancelFunc, <-chan struct{}, error) {
	cli, leaderChanged, err := c.leaderClient()
	if err != nil {
		return nil, func() {}, leaderChanged, err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	stream, err := cli.Tso(ctx)
	if err != nil {
		cancel()
		return nil, func() {}, leaderChanged, err
	}
	return stream, cancel, leaderChanged, nil
}

func (c *grpcClient) tsoRoundTrip(stream pdpbgrpc.PD_TsoClient, batch []*tsoRequest) error {
	n := uint32(len(batch))
	if err := stream.Send(&pdpb.TsoRequest{Header: c.header(), Count: n}); err != nil {
		return err
	}
	resp, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := headerErr(resp.Header); err != nil {
		return err
	}
	ts := resp.GetTimestamp()
	if resp.Count != n || ts == nil {
		return errors.New("client: bad tso response")
	}
	// The response's timestamp is the last of n consecutive logical values.
	first := ts.Logical - int64(n) + 1
	for i, r := range batch {
		r.physical, r.logical = ts.Physical, first+int64(i)
		close(r.done)
	}
	return nil
}
