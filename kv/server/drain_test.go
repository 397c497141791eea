package server

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// TestDrainFinishesInFlightAndRefusesNew: once draining, a new request is
// refused with Unavailable, and drain returns only after the request in
// flight has finished.
func TestDrainFinishesInFlightAndRefusesNew(t *testing.T) {
	var f inflight
	entered, release := make(chan struct{}), make(chan struct{})
	served := make(chan error, 1)
	go func() {
		_, err := f.unary(context.Background(), nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
			close(entered)
			<-release
			return "ok", nil
		})
		served <- err
	}()
	<-entered
	drained := make(chan bool, 1)
	go func() { drained <- f.drain(10 * time.Second) }()
	// Draining starts under the mutex; a request arriving after it is refused.
	for {
		f.mu.Lock()
		d := f.draining
		f.mu.Unlock()
		if d {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err := f.unary(context.Background(), nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
		t.Error("a request was admitted while draining")
		return nil, nil
	})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("request while draining: %v, want Unavailable", err)
	}
	select {
	case <-drained:
		t.Fatal("drain returned with a request in flight")
	default:
	}
	close(release)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if !<-drained {
		t.Fatal("drain reported a timeout")
	}
	if !f.drain(0) {
		t.Fatal("a second drain with nothing in flight must succeed at once")
	}
}

// okStorage accepts every write at once and tells wrote.
type okStorage struct {
	storage.Storage
	wrote chan struct{}
}

func (o okStorage) Write(context.Context, *kvrpcpb.Context, []storage.Modify) error {
	o.wrote <- struct{}{}
	return nil
}

// gatedStream is a BatchCommands stream whose Send waits for the test.
type gatedStream struct {
	tikvpb.Tikv_BatchCommandsServer
	ctx     context.Context
	recv    chan *tikvpb.BatchCommandsRequest
	sending chan struct{} // a Send started
	gate    chan struct{} // closed: Sends go through
	sent    chan *tikvpb.BatchCommandsResponse
}

func (g *gatedStream) Context() context.Context { return g.ctx }

func (g *gatedStream) Recv() (*tikvpb.BatchCommandsRequest, error) {
	r, ok := <-g.recv
	if !ok {
		return nil, io.EOF
	}
	return r, nil
}

func (g *gatedStream) Send(resp *tikvpb.BatchCommandsResponse) error {
	g.sending <- struct{}{}
	<-g.gate
	g.sent <- resp
	return nil
}

// TestDrainWaitsForBatchAnswersToBeSent: a BatchCommands sub-request whose
// write has applied stays in flight until its answer is sent, so a
// draining store does not close the stream (and lose the answer, which the
// client would read as an unknown outcome) in between.
func TestDrainWaitsForBatchAnswersToBeSent(t *testing.T) {
	st := okStorage{wrote: make(chan struct{}, 1)}
	s := New(config.Default(), st, nil)
	g := &gatedStream{ctx: context.Background(), recv: make(chan *tikvpb.BatchCommandsRequest, 1),
		sending: make(chan struct{}, 1), gate: make(chan struct{}), sent: make(chan *tikvpb.BatchCommandsResponse, 1)}
	done := make(chan error, 1)
	go func() { done <- s.BatchCommands(g) }()
	g.recv <- &tikvpb.BatchCommandsRequest{Requests: []*batchReq{rawPutCmd("k", "v")}, RequestIds: []uint64{7}}
	<-st.wrote  // the write applied
	<-g.sending // and its answer is on its way out
	if s.inflight.drain(100 * time.Millisecond) {
		t.Fatal("drain finished while an applied write's answer was still unsent")
	}
	close(g.gate)
	if resp := <-g.sent; len(resp.RequestIds) != 1 || resp.RequestIds[0] != 7 || resp.Responses[0].GetRawPut().GetRegionError() != nil {
		t.Fatalf("answer %v", resp)
	}
	if !s.inflight.drain(10 * time.Second) {
		t.Fatal("drain did not finish once the answer was sent")
	}
	close(g.recv)
	if err := <-done; err != nil {
		t.Fatalf("stream ended with %v", err)
	}
}
