package tests

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// TestStandaloneKill9LosesNoAcknowledgedWrite writes from several clients,
// kills the server with SIGKILL in the middle of the load, restarts it on the
// same data dir and reads back every write that was acknowledged.
func TestStandaloneKill9LosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	srv := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	client := dialStore(t, srv.Addr(t))

	const writers = 4
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		count atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 100000; i++ {
				k, v := fmt.Sprintf("w%d-%06d", w, i), fmt.Sprintf("value-%d-%d", w, i)
				resp, err := client.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte(v)})
				if err != nil || resp.Error != "" {
					return // the server is gone
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
				count.Add(1)
			}
		}(w)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a counter, not synchronizing
	}
	srv.Kill()
	wg.Wait()
	if len(acked) < 500 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	srv2 := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	client2 := dialStore(t, srv2.Addr(t))
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	lost := 0
	for k, v := range acked {
		resp, err := client2.RawGet(rctx, &kvrpcpb.RawGetRequest{Key: []byte(k)})
		if err != nil || resp.Error != "" {
			t.Fatalf("get %s after restart: %v %q", k, err, resp.GetError())
		}
		if string(resp.Value) != v {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged %s=%s, after restart got %q (found=%v)", k, v, resp.Value, !resp.NotFound)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after kill -9", lost, len(acked))
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
}

func TestSecondServerOnSameDataDirFails(t *testing.T) {
	dir := t.TempDir()
	first := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	first.Addr(t)
	second := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err := second.Wait(t, 60*time.Second); err == nil {
		t.Fatal("second server on the same data dir exited with status 0")
	}
	if out := second.Output(); !strings.Contains(out, "in use by another process") {
		t.Fatalf("second server did not say the data dir is in use:\n%s", out)
	}
	// The first one is unharmed.
	client := dialStore(t, first.Addr(t))
	resp, err := client.RawPut(context.Background(), &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
	if err != nil || resp.Error != "" {
		t.Fatalf("first server after the second failed: %v %q", err, resp.GetError())
	}
}

func TestServerStopsCleanlyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	srv := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	addr := srv.Addr(t)
	if out, errOut, code := runCLI(t, "kv", "--addr", addr, "put", "k", "v"); code != 0 {
		t.Fatalf("put: %d %s %s", code, out, errOut)
	}
	srv.Terminate(t)
	if err := srv.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("server exited with %v after SIGTERM", err)
	}
	// The engines were closed, so a new server opens the same dir at once.
	srv2 := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if out, _, code := runCLI(t, "kv", "--addr", srv2.Addr(t), "get", "k"); code != 0 || out != "v\n" {
		t.Fatalf("get after restart: %d %q", code, out)
	}
}

func TestKVCommand(t *testing.T) {
	srv := startProc(t, "server", "--standalone", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	addr := srv.Addr(t)
	kv := func(args ...string) (string, string, int) {
		return runCLI(t, append([]string{"kv", "--addr", addr}, args...)...)
	}
	expect := func(gotOut string, gotCode int, wantOut string, wantCode int, what string) {
		t.Helper()
		if gotOut != wantOut || gotCode != wantCode {
			t.Fatalf("%s: got (%q, exit %d), want (%q, exit %d)", what, gotOut, gotCode, wantOut, wantCode)
		}
	}
	out, _, code := kv("get", "missing")
	expect(out, code, "", 1, "get of a missing key")
	out, _, code = kv("put", "a", "1")
	expect(out, code, "", 0, "put")
	kv("put", "b", "2")
	kv("put", "c", "3")
	out, _, code = kv("get", "a")
	expect(out, code, "1\n", 0, "get")
	out, _, code = kv("scan", "a")
	expect(out, code, "a\t1\nb\t2\nc\t3\n", 0, "scan")
	out, _, code = kv("scan", "a", "c", "--reverse")
	expect(out, code, "b\t2\na\t1\n", 0, "reverse scan")
	out, _, code = kv("scan", "a", "--limit", "1", "--key-only")
	expect(out, code, "a\n", 0, "scan with limit")
	out, errOut, code := kv("cas", "a", "wrong", "x")
	expect(out, code, "", 1, "cas with the wrong old value")
	if !strings.Contains(errOut, "current value is 1\n") {
		t.Fatalf("cas mismatch does not show the current value: %q", errOut)
	}
	out, _, code = kv("cas", "a", "1", "x")
	expect(out, code, "", 0, "cas")
	out, _, code = kv("cas", "--absent", "a", "y")
	expect(out, code, "", 1, "cas --absent on a present key")
	out, _, code = kv("cas", "--absent", "d", "4")
	expect(out, code, "", 0, "cas --absent")
	out, _, code = kv("delete", "a")
	expect(out, code, "", 0, "delete")
	out, _, code = kv("get", "a")
	expect(out, code, "", 1, "get after delete")
	// Batch forms.
	out, _, code = kv("batch-put", "x1", "a", "x2", "b", "x3", "c")
	expect(out, code, "", 0, "batch-put")
	out, _, code = kv("batch-get", "x3", "x1")
	expect(out, code, "x3\tc\nx1\ta\n", 0, "batch-get")
	out, _, code = kv("batch-get", "x1", "nope")
	expect(out, code, "x1\ta\n", 1, "batch-get with a missing key")
	out, _, code = kv("batch-delete", "x1", "x2", "nope")
	expect(out, code, "", 0, "batch-delete")
	out, _, code = kv("delete-range", "b", "d")
	expect(out, code, "", 0, "delete-range")
	out, _, code = kv("scan", "a")
	expect(out, code, "d\t4\nx3\tc\n", 0, "scan after batch-delete and delete-range")
	out, _, code = kv("batch-put", "k1", "v1", "k2")
	expect(out, code, "", 2, "batch-put with an odd number of arguments")
	// Errors: status 2 and a message on stderr.
	out, errOut, code = kv("put", "k", "v", "--cf", "nope")
	expect(out, code, "", 2, "put to an unknown cf")
	if !strings.Contains(errOut, "nope") {
		t.Fatalf("unknown cf error does not name the cf: %q", errOut)
	}
	_, errOut, code = runCLI(t, "kv", "--addr", "127.0.0.1:1", "--timeout", "2s", "get", "k")
	if code != 2 || errOut == "" {
		t.Fatalf("get from an unreachable store: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "kv", "--scheduler", "127.0.0.1:1", "--timeout", "2s", "get", "k")
	if code != 2 || errOut == "" {
		t.Fatalf("get through an unreachable scheduler: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "kv", "--addr", addr, "--scheduler", "127.0.0.1:1", "get", "k")
	if code != 2 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--addr with --scheduler: exit %d, stderr %q", code, errOut)
	}
}
