package server

import (
	"fmt"
	"io"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

type batchReq = tikvpb.BatchCommandsRequest_Request

func rawPutCmd(k, v string) *batchReq {
	return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{
		RawPut: &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte(v)}}}
}

func rawGetCmd(k string) *batchReq {
	return &batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Key: []byte(k)}}}
}

// collect receives until every id in want has been answered exactly once.
func collect(t *testing.T, stream tikvpb.Tikv_BatchCommandsClient, want int) map[uint64]*tikvpb.BatchCommandsResponse_Response {
	t.Helper()
	got := map[uint64]*tikvpb.BatchCommandsResponse_Response{}
	for len(got) < want {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv after %d of %d answers: %v", len(got), want, err)
		}
		if len(resp.RequestIds) != len(resp.Responses) {
			t.Fatalf("frame has %d ids for %d responses", len(resp.RequestIds), len(resp.Responses))
		}
		for i, id := range resp.RequestIds {
			if _, dup := got[id]; dup {
				t.Fatalf("request %d answered twice", id)
			}
			got[id] = resp.Responses[i]
		}
	}
	return got
}

func TestBatchCommandsMatchesIDsAndBehavesLikeUnary(t *testing.T) {
	s := startServer(t, nil)
	stream, err := s.client.BatchCommands(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// 600 puts in frames of 100 from two senders: more than one stream's
	// window, so the receive loop has to wait for answers.
	const n, frame = 600, 100
	var mu sync.Mutex
	var wg sync.WaitGroup
	for sender := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := sender * n / 2; lo < (sender+1)*n/2; lo += frame {
				req := &tikvpb.BatchCommandsRequest{}
				for i := lo; i < lo+frame; i++ {
					req.Requests = append(req.Requests, rawPutCmd(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)))
					req.RequestIds = append(req.RequestIds, uint64(1000+i))
				}
				mu.Lock()
				err := stream.Send(req)
				mu.Unlock()
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	got := collect(t, stream, n)
	wg.Wait()
	for i := range n {
		r := got[uint64(1000+i)].GetRawPut()
		if r == nil || r.Error != "" || r.RegionError != nil {
			t.Fatalf("put %d: %v", i, got[uint64(1000+i)])
		}
	}

	// Gets, a bad request (empty key, refused like its unary twin) and an
	// Empty probe in one frame.
	req := &tikvpb.BatchCommandsRequest{}
	for i := range n {
		req.Requests = append(req.Requests, rawGetCmd(fmt.Sprintf("k%03d", i)))
		req.RequestIds = append(req.RequestIds, uint64(i))
	}
	req.Requests = append(req.Requests, rawGetCmd(""),
		&batchReq{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{TestId: 42, DelayTime: 5}}})
	req.RequestIds = append(req.RequestIds, 9000, 9001)
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	got = collect(t, stream, n+2)
	for i := range n {
		if v := string(got[uint64(i)].GetRawGet().GetValue()); v != fmt.Sprintf("v%d", i) {
			t.Fatalf("get %d: %q", i, v)
		}
	}
	unary, _ := s.client.RawGet(testCtx(t), &kvrpcpb.RawGetRequest{})
	if e := got[9000].GetRawGet().GetError(); e == "" || e != unary.Error {
		t.Fatalf("empty key: batched error %q, unary error %q", e, unary.Error)
	}
	if id := got[9001].GetEmpty().GetTestId(); id != 42 {
		t.Fatalf("empty probe: test_id %d", id)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after close send: %v, want EOF", err)
	}
}

// TestBatchCommandsAnswersUnknownCommands: a transactional command (kvproto's
// Get, field 1, which regionkv does not define) is answered under its id
// without a command, and the stream keeps serving.
func TestBatchCommandsAnswersUnknownCommands(t *testing.T) {
	s := startServer(t, nil)
	stream, err := s.conn.NewStream(testCtx(t), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		"/tikvpb.Tikv/BatchCommands", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	// requests: [Request{get: {}}], request_ids: [7]
	frame := []byte{0x0a, 0x02, 0x0a, 0x00, 0x12, 0x01, 0x07}
	if err := stream.SendMsg(&frame); err != nil {
		t.Fatal(err)
	}
	ok, err := (&tikvpb.BatchCommandsRequest{Requests: []*batchReq{rawPutCmd("a", "b")}, RequestIds: []uint64{8}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&ok); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*tikvpb.BatchCommandsResponse_Response{}
	for len(got) < 2 {
		var raw []byte
		if err := stream.RecvMsg(&raw); err != nil {
			t.Fatal(err)
		}
		var resp tikvpb.BatchCommandsResponse
		if err := resp.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		for i, id := range resp.RequestIds {
			got[id] = resp.Responses[i]
		}
	}
	if got[7] == nil || got[7].Cmd != nil {
		t.Fatalf("unknown command: got %v, want an answer without a command", got[7])
	}
	if r := got[8].GetRawPut(); r == nil || r.Error != "" {
		t.Fatalf("put after an unknown command: %v", got[8])
	}
}

func TestBatchCommandsRefusesMismatchedIDs(t *testing.T) {
	s := startServer(t, nil)
	stream, err := s.client.BatchCommands(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&tikvpb.BatchCommandsRequest{Requests: []*batchReq{rawGetCmd("a")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("frame without ids: got %v, want InvalidArgument", err)
	}
}
