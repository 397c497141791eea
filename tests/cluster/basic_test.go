package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, cl *Client, ctx context.Context, k, v string) {
	t.Helper()
	if out := cl.Put(ctx, k, v); out != OK {
		t.Fatalf("put %s: outcome %d", k, out)
	}
}

func mustGet(t *testing.T, cl *Client, ctx context.Context, k string) (string, bool) {
	t.Helper()
	v, ok, err := cl.Get(ctx, k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	return v, ok
}

func TestBasicOperations(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("stores=%d", n), func(t *testing.T) {
			c := New(t, Options{Stores: n, Seed: 1})
			ctx := testCtx(t, 30*time.Second)
			cl := c.NewClient(1)
			for i := 0; i < 20; i++ {
				mustPut(t, cl, ctx, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
			}
			if v, ok := mustGet(t, cl, ctx, "k07"); !ok || v != "v7" {
				t.Fatalf("get k07 = %q %v", v, ok)
			}
			if out := cl.Delete(ctx, "k07"); out != OK {
				t.Fatalf("delete: %d", out)
			}
			if _, ok := mustGet(t, cl, ctx, "k07"); ok {
				t.Fatal("k07 survived delete")
			}
			kvs, err := cl.Scan(ctx, "k05", "k10", 100)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"k05", "k06", "k08", "k09"}
			if len(kvs) != len(want) {
				t.Fatalf("scan = %v, want keys %v", kvs, want)
			}
			for i, kv := range kvs {
				if kv[0] != want[i] {
					t.Fatalf("scan = %v, want keys %v", kvs, want)
				}
			}
			if ok, out := cl.CAS(ctx, "k01", "v1", false, "new"); !ok || out != OK {
				t.Fatalf("cas: %v %d", ok, out)
			}
			if ok, out := cl.CAS(ctx, "k01", "v1", false, "newer"); ok || out != OK {
				t.Fatalf("second cas succeeded: %v %d", ok, out)
			}
		})
	}
}
