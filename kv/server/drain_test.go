package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
