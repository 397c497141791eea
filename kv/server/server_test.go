package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage/standalone"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

func TestMain(m *testing.M) {
	// IgnoreCurrent skips what package init starts (glog's flush daemon, pulled in by badger).
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// testServer is a standalone store served over gRPC on 127.0.0.1.
type testServer struct {
	cfg    config.Config
	client tikvpb.TikvClient
	conn   *grpc.ClientConn
	reg    *prometheus.Registry // the request metrics
}

func startServer(t testing.TB, tweak func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Standalone = true
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(cfg, st, nil)
	reg := prometheus.NewRegistry()
	srv.RegisterMetrics(reg)
	g, err := Listen(cfg, srv)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	conn, err := grpc.NewClient(g.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		codec.DialOption(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxGRPCMsgLen),
			grpc.MaxCallSendMsgSize(cfg.MaxGRPCMsgLen)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close storage: %v", err)
		}
	})
	return &testServer{cfg: cfg, client: tikvpb.NewTikvClient(conn), conn: conn, reg: reg}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *testServer) put(t *testing.T, cf, k, v string) {
	t.Helper()
	resp, err := s.client.RawPut(testCtx(t), &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte(v), Cf: cf})
	if err != nil || resp.Error != "" || resp.RegionError != nil {
		t.Fatalf("put %q: %v %q %v", k, err, resp.GetError(), resp.GetRegionError())
	}
}

// get returns the value and whether the key exists.
func (s *testServer) get(t *testing.T, cf, k string) (string, bool) {
	t.Helper()
	resp, err := s.client.RawGet(testCtx(t), &kvrpcpb.RawGetRequest{Key: []byte(k), Cf: cf})
	if err != nil || resp.Error != "" {
		t.Fatalf("get %q: %v %q", k, err, resp.GetError())
	}
	if resp.NotFound != (resp.Value == nil) {
		t.Fatalf("get %q: not_found=%v but value=%q", k, resp.NotFound, resp.Value)
	}
	return string(resp.Value), !resp.NotFound
}

// dump returns every pair of cf as "k=v" strings, in key order.
func (s *testServer) dump(t *testing.T, cf string) []string {
	t.Helper()
	resp, err := s.client.RawScan(testCtx(t), &kvrpcpb.RawScanRequest{Limit: uint32(s.cfg.MaxScanLimit), Cf: cf})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if kv.Error != nil {
			t.Fatalf("scan: %v", kv.Error)
		}
		out = append(out, string(kv.Key)+"="+string(kv.Value))
	}
	return out
}

func TestRawPutGetDelete(t *testing.T) {
	s := startServer(t, nil)
	if _, ok := s.get(t, "", "a"); ok {
		t.Fatal("empty store has key a")
	}
	s.put(t, "", "a", "1")
	s.put(t, "", "a", "2")
	if v, ok := s.get(t, "", "a"); !ok || v != "2" {
		t.Fatalf("get a = %q, %v; want 2", v, ok)
	}
	// Keys are arbitrary bytes, including bytes that internal keys use.
	for _, k := range []string{"\x00", "\xff\xff", "z", "\x01meta"} {
		s.put(t, "", k, "v"+k)
		if v, ok := s.get(t, "", k); !ok || v != "v"+k {
			t.Fatalf("get %q = %q, %v", k, v, ok)
		}
	}
	resp, err := s.client.RawDelete(testCtx(t), &kvrpcpb.RawDeleteRequest{Key: []byte("a")})
	if err != nil || resp.Error != "" {
		t.Fatalf("delete: %v %q", err, resp.GetError())
	}
	if _, ok := s.get(t, "", "a"); ok {
		t.Fatal("a survived delete")
	}
	// Deleting a missing key succeeds.
	resp, err = s.client.RawDelete(testCtx(t), &kvrpcpb.RawDeleteRequest{Key: []byte("never")})
	if err != nil || resp.Error != "" {
		t.Fatalf("delete missing: %v %q", err, resp.GetError())
	}
}

func TestColumnFamiliesAreIsolated(t *testing.T) {
	s := startServer(t, nil)
	s.put(t, "", "k", "default")
	s.put(t, "lock", "k", "lock")
	s.put(t, "write", "k", "write")
	for cf, want := range map[string]string{"": "default", "default": "default", "lock": "lock", "write": "write"} {
		if v, _ := s.get(t, cf, "k"); v != want {
			t.Errorf("cf %q: got %q, want %q", cf, v, want)
		}
	}
	if got := s.dump(t, "lock"); len(got) != 1 || got[0] != "k=lock" {
		t.Errorf("lock cf holds %v", got)
	}
}

func TestRawBatch(t *testing.T) {
	s := startServer(t, nil)
	ctx := testCtx(t)
	put, err := s.client.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{
		{Key: []byte("b"), Value: []byte("1")},
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("b"), Value: []byte("2")}, // duplicate: the last pair wins
		{Key: []byte("c"), Value: []byte("3")},
	}})
	if err != nil || put.Error != "" {
		t.Fatalf("batch put: %v %q", err, put.GetError())
	}
	got, err := s.client.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{
		[]byte("c"), []byte("missing"), []byte("b"), []byte("a"), []byte("c")}})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, p := range got.Pairs {
		if p.Error != nil {
			t.Fatalf("batch get: %v", p.Error)
		}
		pairs = append(pairs, string(p.Key)+"="+string(p.Value))
	}
	if want := "c=3 b=2 a=1 c=3"; strings.Join(pairs, " ") != want {
		t.Fatalf("batch get = %v, want %s", pairs, want)
	}
	del, err := s.client.RawBatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte("a"), []byte("c"), []byte("a")}})
	if err != nil || del.Error != "" {
		t.Fatalf("batch delete: %v %q", err, del.GetError())
	}
	if d := s.dump(t, ""); strings.Join(d, " ") != "b=2" {
		t.Fatalf("after batch delete: %v", d)
	}
}

func TestRawScan(t *testing.T) {
	s := startServer(t, nil)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		s.put(t, "", k, "v"+k)
	}
	s.put(t, "write", "c", "other-cf")
	scan := func(req *kvrpcpb.RawScanRequest) string {
		t.Helper()
		resp, err := s.client.RawScan(testCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kv := range resp.Kvs {
			if kv.Error != nil {
				t.Fatalf("scan %v: %v", req, kv.Error)
			}
			out = append(out, string(kv.Key)+"="+string(kv.Value))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		req  *kvrpcpb.RawScanRequest
		want string
	}{
		{"all", &kvrpcpb.RawScanRequest{Limit: 10}, "a=va b=vb c=vc d=vd e=ve"},
		{"range", &kvrpcpb.RawScanRequest{StartKey: []byte("b"), EndKey: []byte("d"), Limit: 10}, "b=vb c=vc"},
		{"limit", &kvrpcpb.RawScanRequest{StartKey: []byte("b"), Limit: 2}, "b=vb c=vc"},
		{"start between keys", &kvrpcpb.RawScanRequest{StartKey: []byte("bb"), Limit: 1}, "c=vc"},
		{"key only", &kvrpcpb.RawScanRequest{StartKey: []byte("d"), Limit: 10, KeyOnly: true}, "d= e="},
		{"reverse all", &kvrpcpb.RawScanRequest{Limit: 10, Reverse: true}, "e=ve d=vd c=vc b=vb a=va"},
		// Reverse: start_key is the exclusive upper bound, end_key the inclusive lower one.
		{"reverse range", &kvrpcpb.RawScanRequest{StartKey: []byte("d"), EndKey: []byte("b"), Limit: 10, Reverse: true}, "c=vc b=vb"},
		{"reverse limit", &kvrpcpb.RawScanRequest{StartKey: []byte("e"), Limit: 2, Reverse: true}, "d=vd c=vc"},
		{"zero limit", &kvrpcpb.RawScanRequest{Limit: 0}, ""},
		{"empty range", &kvrpcpb.RawScanRequest{StartKey: []byte("x"), Limit: 10}, ""},
		{"other cf", &kvrpcpb.RawScanRequest{Limit: 10, Cf: "write"}, "c=other-cf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scan(tc.req); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRawDeleteRange(t *testing.T) {
	s := startServer(t, nil)
	for _, k := range []string{"a", "b", "c", "d"} {
		s.put(t, "", k, "v")
		s.put(t, "lock", k, "v")
	}
	resp, err := s.client.RawDeleteRange(testCtx(t), &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("b"), EndKey: []byte("d")})
	if err != nil || resp.Error != "" {
		t.Fatalf("delete range: %v %q", err, resp.GetError())
	}
	if d := strings.Join(s.dump(t, ""), " "); d != "a=v d=v" {
		t.Fatalf("default cf after delete range: %s", d)
	}
	// Only the named CF is affected.
	if d := strings.Join(s.dump(t, "lock"), " "); d != "a=v b=v c=v d=v" {
		t.Fatalf("lock cf after delete range of default: %s", d)
	}
	// An empty end deletes to the end of the key space.
	resp, err = s.client.RawDeleteRange(testCtx(t), &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("b"), Cf: "lock"})
	if err != nil || resp.Error != "" {
		t.Fatalf("open delete range: %v %q", err, resp.GetError())
	}
	if d := strings.Join(s.dump(t, "lock"), " "); d != "a=v" {
		t.Fatalf("lock cf after open delete range: %s", d)
	}
}

func TestRawCompareAndSwap(t *testing.T) {
	s := startServer(t, nil)
	cas := func(k string, prev *string, v string) *kvrpcpb.RawCASResponse {
		t.Helper()
		req := &kvrpcpb.RawCASRequest{Key: []byte(k), Value: []byte(v), PreviousNotExist: prev == nil}
		if prev != nil {
			req.PreviousValue = []byte(*prev)
		}
		resp, err := s.client.RawCompareAndSwap(testCtx(t), req)
		if err != nil || resp.Error != "" {
			t.Fatalf("cas: %v %q", err, resp.GetError())
		}
		return resp
	}
	str := func(s string) *string { return &s }

	if r := cas("k", nil, "1"); !r.Succeed || !r.PreviousNotExist {
		t.Fatalf("cas on absent key: %+v", r)
	}
	if r := cas("k", nil, "x"); r.Succeed || r.PreviousNotExist || string(r.PreviousValue) != "1" {
		t.Fatalf("cas absent on present key: %+v", r)
	}
	if r := cas("k", str("wrong"), "x"); r.Succeed || string(r.PreviousValue) != "1" {
		t.Fatalf("cas with wrong previous: %+v", r)
	}
	if r := cas("k", str("1"), "2"); !r.Succeed || string(r.PreviousValue) != "1" {
		t.Fatalf("cas with right previous: %+v", r)
	}
	if r := cas("missing", str("1"), "2"); r.Succeed || !r.PreviousNotExist {
		t.Fatalf("cas with previous on a missing key: %+v", r)
	}
	if v, _ := s.get(t, "", "k"); v != "2" {
		t.Fatalf("k = %q after cas", v)
	}
}

// TestCompareAndSwapIsAtomic runs increments by CAS from many goroutines while
// plain puts hit other keys that share latch slots; every successful CAS must
// be counted exactly once.
func TestCompareAndSwapIsAtomic(t *testing.T) {
	s := startServer(t, nil)
	s.put(t, "", "counter", "0")
	const workers, attempts = 8, 40
	var wins sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; i < attempts; i++ {
				g, err := s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte("counter")})
				if err != nil {
					errs <- err
					return
				}
				var n int
				fmt.Sscan(string(g.Value), &n)
				r, err := s.client.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{
					Key: []byte("counter"), PreviousValue: g.Value, Value: []byte(fmt.Sprint(n + 1))})
				if err != nil || r.Error != "" {
					errs <- fmt.Errorf("cas: %v %q", err, r.GetError())
					return
				}
				if r.Succeed {
					if _, dup := wins.LoadOrStore(n+1, w); dup {
						errs <- fmt.Errorf("two CAS calls both moved the counter to %d", n+1)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	won := 0
	wins.Range(func(_, _ any) bool { won++; return true })
	v, _ := s.get(t, "", "counter")
	if v != fmt.Sprint(won) {
		t.Fatalf("counter = %s, but %d CAS calls succeeded", v, won)
	}
	if won == 0 {
		t.Fatal("no CAS succeeded")
	}
}

// TestBadInputChangesNothing sends every kind of bad request and checks that
// each gets a clear error naming the problem and that the data is untouched.
func TestBadInputChangesNothing(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.MaxKeySize = 16
		c.MaxValueSize = 64
		c.MaxScanLimit = 100
	})
	s.put(t, "", "k", "v")
	before := s.dump(t, "")
	long := bytes.Repeat([]byte("x"), 17)
	huge := bytes.Repeat([]byte("x"), 65)
	ctx := testCtx(t)
	pair := func(k, v []byte) []*kvrpcpb.KvPair {
		return []*kvrpcpb.KvPair{{Key: []byte("ok"), Value: []byte("ok")}, {Key: k, Value: v}}
	}

	type call func() (string, error)
	msg := func(resp interface{ GetError() string }, err error) (string, error) { return resp.GetError(), err }
	pairsMsg := func(pairs []*kvrpcpb.KvPair, err error) (string, error) {
		if len(pairs) != 1 || pairs[0].Error == nil {
			return "", fmt.Errorf("want one pair carrying the error, got %v", pairs)
		}
		return pairs[0].Error.Abort, err
	}
	cases := []struct {
		name string
		call call
		want error
	}{
		{"get empty key", func() (string, error) { return msg(s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{})) }, ErrEmptyKey},
		{"get unknown cf", func() (string, error) {
			return msg(s.client.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k"), Cf: "nope"}))
		}, nil},
		{"put empty key", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Value: []byte("v")}))
		}, ErrEmptyKey},
		{"put empty value", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k")}))
		}, ErrEmptyValue},
		{"put long key", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: long, Value: []byte("v")}))
		}, ErrKeyTooLarge},
		{"put huge value", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: huge}))
		}, ErrValueTooLarge},
		{"put unknown cf", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("x"), Cf: "nope"}))
		}, nil},
		{"put ttl", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("x"), Ttl: 5}))
		}, ErrTTLNotSupported},
		{"put api v2", func() (string, error) {
			return msg(s.client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("x"),
				Context: &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V2}}))
		}, ErrAPIVersion},
		{"batch put one bad value", func() (string, error) {
			return msg(s.client.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: pair([]byte("k"), nil)}))
		}, ErrEmptyValue},
		{"batch put one long key", func() (string, error) {
			return msg(s.client.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: pair(long, []byte("v"))}))
		}, ErrKeyTooLarge},
		{"batch get empty key", func() (string, error) {
			r, err := s.client.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("k"), nil}})
			return pairsMsg(r.GetPairs(), err)
		}, ErrEmptyKey},
		{"batch delete empty key", func() (string, error) {
			return msg(s.client.RawBatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte("k"), nil}}))
		}, ErrEmptyKey},
		{"delete empty key", func() (string, error) { return msg(s.client.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{})) }, ErrEmptyKey},
		{"delete range start >= end", func() (string, error) {
			return msg(s.client.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("z"), EndKey: []byte("a")}))
		}, ErrInvalidRange},
		{"delete range unknown cf", func() (string, error) {
			return msg(s.client.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Cf: "nope"}))
		}, nil},
		{"scan start >= end", func() (string, error) {
			r, err := s.client.RawScan(ctx, &kvrpcpb.RawScanRequest{StartKey: []byte("k"), EndKey: []byte("k"), Limit: 1})
			return pairsMsg(r.GetKvs(), err)
		}, ErrInvalidRange},
		{"reverse scan end >= start", func() (string, error) {
			r, err := s.client.RawScan(ctx, &kvrpcpb.RawScanRequest{StartKey: []byte("a"), EndKey: []byte("b"), Limit: 1, Reverse: true})
			return pairsMsg(r.GetKvs(), err)
		}, ErrInvalidRange},
		{"scan huge limit", func() (string, error) {
			r, err := s.client.RawScan(ctx, &kvrpcpb.RawScanRequest{Limit: 1 << 31})
			return pairsMsg(r.GetKvs(), err)
		}, ErrScanLimit},
		{"scan unknown cf", func() (string, error) {
			r, err := s.client.RawScan(ctx, &kvrpcpb.RawScanRequest{Limit: 1, Cf: "nope"})
			return pairsMsg(r.GetKvs(), err)
		}, nil},
		{"cas empty value", func() (string, error) {
			return msg(s.client.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Key: []byte("k"), PreviousValue: []byte("v")}))
		}, ErrEmptyValue},
		{"cas empty key", func() (string, error) {
			return msg(s.client.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Value: []byte("v"), PreviousNotExist: true}))
		}, ErrEmptyKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, err := tc.call()
			if err != nil {
				t.Fatalf("want the error in the response, got gRPC error %v", err)
			}
			if text == "" {
				t.Fatal("bad request accepted")
			}
			want := "unknown"
			if tc.want != nil {
				want = tc.want.Error()
			}
			if !strings.Contains(text, want) {
				t.Fatalf("error %q does not say %q", text, want)
			}
		})
	}
	if after := s.dump(t, ""); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("bad requests changed data: before %v, after %v", before, after)
	}
	for _, cf := range []string{"lock", "write"} {
		if d := s.dump(t, cf); len(d) != 0 {
			t.Fatalf("bad requests wrote to cf %s: %v", cf, d)
		}
	}
}

// rawCodec sends bytes as they are, to put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*(v.(*[]byte)))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

func TestMalformedProtobufOnTheWire(t *testing.T) {
	s := startServer(t, nil)
	for _, garbage := range [][]byte{
		{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, // key: a length far past the end
		{0x0a, 0x05, 0x01},                   // context: truncated
		{0xff, 0xff, 0xff},                   // not a valid tag
	} {
		var out []byte
		err := s.conn.Invoke(testCtx(t), "/tikvpb.Tikv/RawPut", &garbage, &out, grpc.ForceCodecV2(rawCodec{}))
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "unmarshal") {
			t.Fatalf("malformed request %x: got %v, want an Internal unmarshal error", garbage, err)
		}
	}
	// The server stays up and correct.
	s.put(t, "", "after", "ok")
	if v, _ := s.get(t, "", "after"); v != "ok" {
		t.Fatalf("after malformed requests: got %q", v)
	}
}

func TestMaxSizeValueRoundTrips(t *testing.T) {
	s := startServer(t, nil)
	v := bytes.Repeat([]byte{0xab}, s.cfg.MaxValueSize)
	resp, err := s.client.RawPut(testCtx(t), &kvrpcpb.RawPutRequest{Key: []byte("big"), Value: v})
	if err != nil || resp.Error != "" {
		t.Fatalf("put of a value at the limit: %v %q", err, resp.GetError())
	}
	got, err := s.client.RawGet(testCtx(t), &kvrpcpb.RawGetRequest{Key: []byte("big")})
	if err != nil || !bytes.Equal(got.Value, v) {
		t.Fatalf("get of a value at the limit: %v, %d bytes", err, len(got.GetValue()))
	}
}

func TestHealthAndUnimplemented(t *testing.T) {
	s := startServer(t, nil)
	h, err := healthpb.NewHealthClient(s.conn).Check(testCtx(t), &healthpb.HealthCheckRequest{Service: "tikvpb.Tikv"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	if _, err := s.client.RawBatchScan(testCtx(t), &kvrpcpb.RawBatchScanRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("RawBatchScan: got %v, want Unimplemented", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tweak := range []func(*config.Config){
		func(c *config.Config) { c.Addr = "nonsense" },
		func(c *config.Config) { c.DataDir = "" },
		func(c *config.Config) { c.MaxKeySize = 0 },
		func(c *config.Config) { c.MaxScanLimit = -1 },
		func(c *config.Config) { c.MaxGRPCMsgLen = c.MaxValueSize },
	} {
		c := config.Default()
		c.DataDir = "/tmp/x"
		tweak(&c)
		if err := c.Validate(); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("config %+v: got %v, want ErrInvalid", c, err)
		}
	}
}
