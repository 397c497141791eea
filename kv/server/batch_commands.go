package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// BatchCommands multiplexes raw requests on one long-lived stream, as TiKV
// clients (client-go's batch client) use it. Each frame carries requests[i]
// under request_ids[i]; every request is answered exactly once under its id,
// in any order, by the same handler that serves its unary twin, so a request
// means the same thing on either path.
//
// Shape: this goroutine receives frames and starts one goroutine per
// sub-request, at most batchMaxInflight per stream (a full window stops the
// receive loop, which pushes back on the client through gRPC flow control).
// Finished responses go to one sender goroutine, which packs whatever is
// ready into a frame: under load, many responses share a frame; when idle,
// each goes out at once.
//
// Requests regionkv does not serve (transactional, coprocessor, ...) are
// answered under their id with an empty response, which the client reports
// as an error for that request; the stream stays up. When the store starts
// draining, the stream stops taking requests, delivers the answers of those
// already taken, and ends with Unavailable, so the client reconnects to
// another store.
func (s *Server) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	b := &batchStream{
		s:      s,
		cancel: cancel,
		out:    make(chan batchAnswer, batchMaxInflight),
		window: make(chan struct{}, batchMaxInflight),
	}
	sent := make(chan error, 1)
	go func() { sent <- b.sendLoop(ctx, stream) }()
	err := b.recvLoop(ctx, stream)
	if errors.Is(err, io.EOF) || errors.Is(err, errDraining) {
		// The client is done sending, or the store is stopping: answer what
		// was taken before ending the stream.
		b.handlers.Wait()
		close(b.out)
		if serr := <-sent; serr != nil {
			return serr
		}
		if errors.Is(err, errDraining) {
			return status.Error(codes.Unavailable, "server: store is stopping")
		}
		return nil
	}
	cancel()
	b.handlers.Wait()
	close(b.out)
	<-sent // gRPC forbids Send after the handler returns
	return err
}

const (
	// batchMaxInflight bounds the sub-requests of one stream being served at
	// once. client-go sends at most 128 per frame (max-batch-size).
	batchMaxInflight = 256
	// batchMaxResponses and batchMaxBytes bound one response frame; a single
	// response larger than batchMaxBytes still goes out, alone.
	batchMaxResponses = 128
	batchMaxBytes     = 4 << 20
	// batchMaxEmptyDelay caps an Empty request's delay_time.
	batchMaxEmptyDelay = 10 * time.Second
)

var (
	// ErrUnsupportedCommand answers a batched command that has a unary twin
	// the store does not serve.
	ErrUnsupportedCommand = errors.New("server: command not supported")

	errDraining = errors.New("server: draining")
)

// batchAnswer is one sub-request's response with the id it was sent under.
type batchAnswer struct {
	id   uint64
	resp *tikvpb.BatchCommandsResponse_Response
}

type batchStream struct {
	s        *Server
	cancel   context.CancelFunc // ends the stream's handlers
	out      chan batchAnswer   // answers for sendLoop; closed once all handlers are done
	window   chan struct{}      // a token per sub-request in flight
	handlers sync.WaitGroup     // sub-request goroutines
}

// recvLoop starts a handler per sub-request until the stream's receive side
// ends (io.EOF when the client closed it) or the store drains.
func (b *batchStream) recvLoop(ctx context.Context, stream tikvpb.Tikv_BatchCommandsServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		if len(req.RequestIds) != len(req.Requests) {
			return status.Errorf(codes.InvalidArgument,
				"server: batch commands frame has %d requests but %d request ids", len(req.Requests), len(req.RequestIds))
		}
		for i, sub := range req.Requests {
			select {
			case b.window <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			if !b.s.inflight.enter() {
				<-b.window
				return errDraining
			}
			b.handlers.Add(1)
			go b.serve(ctx, req.RequestIds[i], sub)
		}
	}
}

// serve answers one sub-request and hands the answer to the sender. The
// sub-request stays counted in flight (inflight) until the sender has sent
// its answer: a draining store must not close the stream between the two,
// or a write that was applied would reach the client as a lost answer.
func (b *batchStream) serve(ctx context.Context, id uint64, req *tikvpb.BatchCommandsRequest_Request) {
	defer b.handlers.Done()
	defer func() { <-b.window }()
	resp := b.s.serveBatchCommand(ctx, req)
	// out has room for a whole window, so this only waits if the stream died.
	select {
	case b.out <- batchAnswer{id: id, resp: resp}:
	case <-ctx.Done():
		b.s.inflight.done()
	}
}

// sendLoop packs ready answers into frames until out is closed, and ends
// the in-flight count of each answer once it is sent (or can no longer be:
// the stream failed or ended).
func (b *batchStream) sendLoop(ctx context.Context, stream tikvpb.Tikv_BatchCommandsServer) error {
	var failed error
	for {
		var first batchAnswer
		select {
		case a, ok := <-b.out:
			if !ok {
				return failed
			}
			first = a
		case <-ctx.Done():
			// Stop sending; what is still handed over is only counted out.
			for range b.out {
				b.s.inflight.done()
			}
			return failed
		}
		frame := &tikvpb.BatchCommandsResponse{}
		add := func(a batchAnswer) int {
			frame.Responses = append(frame.Responses, a.resp)
			frame.RequestIds = append(frame.RequestIds, a.id)
			return a.resp.Size()
		}
		size := add(first)
		closed := false
	fill:
		for len(frame.Responses) < batchMaxResponses && size < batchMaxBytes {
			select {
			case a, ok := <-b.out:
				if !ok {
					closed = true
					break fill
				}
				size += add(a)
			default:
				break fill
			}
		}
		if failed == nil {
			if err := stream.Send(frame); err != nil {
				failed = err
				// Unblock the handlers; keep draining out so that every
				// answer is counted out.
				b.cancel()
			}
		}
		for range frame.Responses {
			b.s.inflight.done()
		}
		if closed {
			return failed
		}
	}
}

// serveBatchCommand calls the unary handler of req's command and wraps its
// response. The unary handlers report request failures inside their
// responses and return an error only for a command the store does not serve
// (RawBatchScan); that and unknown commands get a response without a
// command, which clients treat as a failed request.
func (s *Server) serveBatchCommand(ctx context.Context, req *tikvpb.BatchCommandsRequest_Request) *tikvpb.BatchCommandsResponse_Response {
	type R = tikvpb.BatchCommandsResponse_Response
	var (
		out     *R
		err     error
		inner   any // the command's own response, for the metrics
		command string
	)
	start := time.Now()
	switch c := req.GetCmd().(type) {
	case *tikvpb.BatchCommandsRequest_Request_RawGet:
		var r *kvrpcpb.RawGetResponse
		r, err = s.RawGet(ctx, c.RawGet)
		inner, command = r, "RawGet"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawBatchGet:
		var r *kvrpcpb.RawBatchGetResponse
		r, err = s.RawBatchGet(ctx, c.RawBatchGet)
		inner, command = r, "RawBatchGet"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawPut:
		var r *kvrpcpb.RawPutResponse
		r, err = s.RawPut(ctx, c.RawPut)
		inner, command = r, "RawPut"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawBatchPut:
		var r *kvrpcpb.RawBatchPutResponse
		r, err = s.RawBatchPut(ctx, c.RawBatchPut)
		inner, command = r, "RawBatchPut"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawDelete:
		var r *kvrpcpb.RawDeleteResponse
		r, err = s.RawDelete(ctx, c.RawDelete)
		inner, command = r, "RawDelete"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawBatchDelete:
		var r *kvrpcpb.RawBatchDeleteResponse
		r, err = s.RawBatchDelete(ctx, c.RawBatchDelete)
		inner, command = r, "RawBatchDelete"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawScan:
		var r *kvrpcpb.RawScanResponse
		r, err = s.RawScan(ctx, c.RawScan)
		inner, command = r, "RawScan"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawDeleteRange:
		var r *kvrpcpb.RawDeleteRangeResponse
		r, err = s.RawDeleteRange(ctx, c.RawDeleteRange)
		inner, command = r, "RawDeleteRange"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: r}}
	case *tikvpb.BatchCommandsRequest_Request_RawBatchScan:
		var r *kvrpcpb.RawBatchScanResponse
		if r, err = s.RawBatchScan(ctx, c.RawBatchScan); err != nil {
			// Keep the command so the client sees which request failed and why.
			r, err = &kvrpcpb.RawBatchScanResponse{Kvs: keyError(fmt.Errorf("%w: RawBatchScan", ErrUnsupportedCommand))}, nil
		}
		inner, command = r, "RawBatchScan"
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchScan{RawBatchScan: r}}
	case *tikvpb.BatchCommandsRequest_Request_Empty:
		out = &R{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{Empty: emptyAnswer(ctx, c.Empty)}}
	default:
		// An unknown oneof number decodes as no command at all.
		s.logger.Warn("batch commands: unsupported command answered empty",
			zap.String("command", fmt.Sprintf("%T", req.GetCmd())))
		return &R{}
	}
	if command != "" {
		s.metrics.observe(command, "batch", inner, err, start)
	}
	if err != nil {
		s.logger.Warn("batch commands: handler failed", zap.Error(err))
		return &R{}
	}
	return out
}

// emptyAnswer echoes an Empty probe after its requested delay.
func emptyAnswer(ctx context.Context, req *tikvpb.BatchCommandsEmptyRequest) *tikvpb.BatchCommandsEmptyResponse {
	if d := time.Duration(req.GetDelayTime()) * time.Millisecond; d > 0 {
		t := time.NewTimer(min(d, batchMaxEmptyDelay))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return &tikvpb.BatchCommandsEmptyResponse{TestId: req.GetTestId()}
}

// enter admits one client request that does not pass through the unary
// interceptor (a BatchCommands sub-request); false once draining. A true
// return must be paired with done.
func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return false
	}
	f.n++
	return true
}
