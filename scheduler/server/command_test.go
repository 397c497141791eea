package server

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regionkv/regionkv/proto/common/logging"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuf) Sync() error { return nil }
func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCommandLogsStartedAddr runs `regionkv scheduler` with port 0 and
// finds its gRPC address in the "started" log line, as process tests do.
func TestCommandLogsStartedAddr(t *testing.T) {
	buf := &syncBuf{}
	logger, _, err := log.InitLoggerWithWriteSyncer(&log.Config{Level: "info"}, zapcore.AddSync(buf), zapcore.AddSync(buf))
	if err != nil {
		t.Fatal(err)
	}
	cmd := NewCommand(func(logging.Config) (*zap.Logger, error) { return logger, nil })
	cmd.SetArgs([]string{"--name", "p1", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	re := regexp.MustCompile(`started.*\[addr=(127\.0\.0\.1:\d+)\]`)
	var addr string
	waitFor(t, 20*time.Second, "started log line", func() bool {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	c := newClient(t, addr)
	if id := c.GetClusterID(ctxT(t)); id == 0 {
		t.Fatal("no cluster id")
	}
	c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("command did not stop")
	}
}
