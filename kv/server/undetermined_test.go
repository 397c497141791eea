package server

import (
	"context"
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// stuckStorage accepts writes and never finishes them, as a Raft-backed
// storage whose proposal waits for a quorum that is gone.
type stuckStorage struct{ storage.Storage }

func (stuckStorage) Write(ctx context.Context, _ *kvrpcpb.Context, _ []storage.Modify) error {
	<-ctx.Done()
	return ctx.Err()
}

// A write still waiting when the request's deadline passes may apply later:
// the answer must say the outcome is unknown, never a plain error that a
// client would read as a rejection.
func TestWriteCutShortByDeadlineIsUndetermined(t *testing.T) {
	cfg := config.Default()
	s := New(cfg, stuckStorage{}, nil)
	for name, call := range map[string]func(context.Context) (*kvrpcpb.RawPutResponse, error){
		"put": func(ctx context.Context) (*kvrpcpb.RawPutResponse, error) {
			return s.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
		},
		"batch put": func(ctx context.Context) (*kvrpcpb.RawPutResponse, error) {
			r, err := s.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("k"), Value: []byte("v")}}})
			return &kvrpcpb.RawPutResponse{RegionError: r.GetRegionError(), Error: r.GetError()}, err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		resp, err := call(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: gRPC error %v", name, err)
		}
		if resp.Error != "" || resp.RegionError.GetUndeterminedResult() == nil {
			t.Fatalf("%s: got error %q, region error %v; want UndeterminedResult", name, resp.Error, resp.RegionError)
		}
	}
}
