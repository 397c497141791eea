package client_test

import (
	"context"
	"fmt"
	"os"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/kv/storage/standalone"
)

// startStore runs a standalone store on 127.0.0.1 for the example and
// returns its address and a function that stops it.
func startStore() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "regionkv-example-")
	if err != nil {
		panic(err)
	}
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.Standalone = "127.0.0.1:0", dir, true
	st, err := standalone.NewStandaloneStorage(dir)
	if err != nil {
		panic(err)
	}
	g, err := server.Listen(cfg, server.New(cfg, st, nil))
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	return g.Addr(), func() {
		g.Stop()
		<-served
		_ = st.Close()
		_ = os.RemoveAll(dir)
	}
}

func Example() {
	addr, stop := startStore()
	defer stop()
	ctx := context.Background()

	// Against a cluster: client.NewRawClient(ctx, []string{"127.0.0.1:2379"}).
	c, err := client.NewRawClientForStore(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	if err := c.BatchPut(ctx,
		[][]byte{[]byte("a"), []byte("b"), []byte("c")},
		[][]byte{[]byte("1"), []byte("2"), []byte("3")}); err != nil {
		panic(err)
	}
	v, _ := c.Get(ctx, []byte("b"))
	fmt.Printf("b = %s\n", v)
	missing, err := c.Get(ctx, []byte("nope"))
	fmt.Println("nope:", missing == nil, err)

	keys, _, _ := c.Scan(ctx, []byte("a"), []byte("c"), 10)
	fmt.Printf("scan [a, c): %s\n", keys)
	// Reverse: from "c" (exclusive) down to "a" (inclusive).
	keys, _, _ = c.ReverseScan(ctx, []byte("c"), []byte("a"), 10)
	fmt.Printf("reverse scan: %s\n", keys)

	prev, swapped, _ := c.CompareAndSwap(ctx, []byte("a"), []byte("1"), []byte("one"))
	fmt.Printf("cas a: was %s, swapped %v\n", prev, swapped)
	_, swapped, _ = c.CompareAndSwap(ctx, []byte("a"), nil, []byte("x"))
	fmt.Println("cas a if absent: swapped", swapped)
	// Output:
	// b = 2
	// nope: true <nil>
	// scan [a, c): [a b]
	// reverse scan: [b a]
	// cas a: was 1, swapped true
	// cas a if absent: swapped false
}
