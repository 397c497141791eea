package server

import (
	"context"
	"testing"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage/standalone"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// wireMessage is what every request and response type implements.
type wireMessage interface {
	Unmarshal([]byte) error
	Marshal() ([]byte, error)
}

// rawCall decodes one raw request type from wire bytes and runs its
// handler; ok is false when the bytes do not decode as that type.
type rawCall func(s *Server, b []byte) (resp wireMessage, err error, ok bool)

func call[Req wireMessage, Resp wireMessage](req Req, h func(context.Context, Req) (Resp, error)) rawCall {
	return func(s *Server, b []byte) (wireMessage, error, bool) {
		if req.Unmarshal(b) != nil {
			return nil, nil, false
		}
		resp, err := h(context.Background(), req)
		return resp, err, true
	}
}

// rawCalls are built per input: a request decoded twice would merge.
func rawCalls(s *Server) []rawCall {
	return []rawCall{
		call(&kvrpcpb.RawGetRequest{}, s.RawGet),
		call(&kvrpcpb.RawBatchGetRequest{}, s.RawBatchGet),
		call(&kvrpcpb.RawPutRequest{}, s.RawPut),
		call(&kvrpcpb.RawBatchPutRequest{}, s.RawBatchPut),
		call(&kvrpcpb.RawDeleteRequest{}, s.RawDelete),
		call(&kvrpcpb.RawBatchDeleteRequest{}, s.RawBatchDelete),
		call(&kvrpcpb.RawDeleteRangeRequest{}, s.RawDeleteRange),
		call(&kvrpcpb.RawScanRequest{}, s.RawScan),
		call(&kvrpcpb.RawCASRequest{}, s.RawCompareAndSwap),
	}
}

// FuzzRawRequest decodes arbitrary bytes as one of the raw request types
// (the first byte picks which) and runs its handler on a standalone store
// with small limits. No input may panic the store, and every answer is
// either a gRPC error or a response that encodes; the store must still
// serve a read afterwards.
func FuzzRawRequest(f *testing.F) {
	seed := func(kind byte, m wireMessage) {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{kind}, b...))
	}
	seed(0, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	seed(1, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a"), nil}})
	seed(2, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v"), Cf: "lock"})
	seed(3, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("1")}, {}}})
	seed(4, &kvrpcpb.RawDeleteRequest{Key: nil})
	seed(5, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte("a")}})
	seed(6, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("z"), EndKey: []byte("a")})
	seed(7, &kvrpcpb.RawScanRequest{StartKey: []byte("a"), Limit: 1 << 30, Reverse: true})
	seed(8, &kvrpcpb.RawCASRequest{Key: []byte("k"), Value: []byte("v"), PreviousNotExist: true})
	f.Add([]byte{2, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // length beyond the buffer
	f.Add([]byte{7, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})

	cfg := config.Default()
	cfg.Standalone = true
	cfg.MaxKeySize, cfg.MaxValueSize, cfg.MaxScanLimit = 64, 256, 16
	cfg.DataDir = f.TempDir()
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	s := New(cfg, st, nil)
	if _, err := s.RawPut(context.Background(), &kvrpcpb.RawPutRequest{Key: []byte("canary"), Value: []byte("alive")}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		calls := rawCalls(s)
		resp, err, ok := calls[int(data[0])%len(calls)](s, data[1:])
		if !ok || err != nil {
			return
		}
		if resp == nil {
			t.Fatal("nil response without an error")
		}
		if _, err := resp.Marshal(); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		if g, ok := resp.(*kvrpcpb.RawScanResponse); ok && len(g.Kvs) > cfg.MaxScanLimit {
			t.Fatalf("scan returned %d rows, above the limit %d", len(g.Kvs), cfg.MaxScanLimit)
		}
		got, err := s.RawGet(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte("canary")})
		if err != nil || got.Error != "" || (!got.NotFound && string(got.Value) != "alive") {
			t.Fatalf("store broken after the input: %v %+v", err, got)
		}
	})
}
