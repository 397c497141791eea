package server

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/regionkv/regionkv/scheduler/client"
	"github.com/regionkv/regionkv/scheduler/config"
)

// testConfig is a one-member config on loopback with port 0 everywhere and
// fast scheduling.
func testConfig(t testing.TB, name string) config.Config {
	cfg := config.Default()
	cfg.Name = name
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LeaderLease = config.D(2 * time.Second)
	cfg.Schedule.PatrolInterval = config.D(5 * time.Millisecond)
	cfg.Schedule.ScheduleInterval = config.D(20 * time.Millisecond)
	cfg.Schedule.StoreDisconnectTime = config.D(time.Second)
	return cfg
}

func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

func startServer(t testing.TB, cfg config.Config) *Server {
	t.Helper()
	s, err := Start(cfg, testLogger(t), WithSeed(1))
	if err != nil {
		t.Fatalf("start scheduler %s: %v", cfg.Name, err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitLeader(t testing.TB, servers ...*Server) *Server {
	t.Helper()
	var leader *Server
	waitFor(t, 20*time.Second, "a scheduler leader", func() bool {
		for _, s := range servers {
			if s.IsLeader() {
				leader = s
				return true
			}
		}
		return false
	})
	return leader
}

func newClient(t testing.TB, addrs ...string) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New(ctx, addrs, client.Options{Logger: testLogger(t), MemberRefresh: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// freeAddrs reserves n distinct loopback ports (for etcd peer URLs, which
// must be known before start).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
