package cluster

import (
	"fmt"
	"testing"
	"time"
)

// TestHeartbeatsReportReadTraffic reads known keys and scans a known range,
// and checks that the region heartbeats report at least those keys and
// bytes read (and the writes), and at least those requests (gets, scans,
// puts, deletes), which the scheduler uses to find hot regions.
func TestHeartbeatsReportReadTraffic(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 31})
	ctx := testCtx(t, 60*time.Second)
	cl := c.NewClient(1)
	const keys = 20
	value := "0123456789" // 10 bytes
	for i := 0; i < keys; i++ {
		mustPut(t, cl, ctx, fmt.Sprintf("k%02d", i), value)
	}
	for i := 0; i < keys; i++ {
		if v, ok := mustGet(t, cl, ctx, fmt.Sprintf("k%02d", i)); !ok || v != value {
			t.Fatalf("get k%02d = %q %v", i, v, ok)
		}
	}
	kvs, err := cl.Scan(ctx, "k00", "k10", 100)
	if err != nil || len(kvs) != 10 {
		t.Fatalf("scan: %v, %d pairs", err, len(kvs))
	}
	if out := cl.Delete(ctx, "k00"); out != OK {
		t.Fatalf("delete: outcome %d", out)
	}
	// Each get reads a 3-byte key and a 10-byte value; the scan, 10 of each.
	const wantKeys, wantBytes = keys + 10, (keys + 10) * (3 + 10)
	waitFor(t, 30*time.Second, "heartbeats reporting the reads", func() bool {
		tr := c.Sched.TotalTraffic()
		return tr.KeysRead >= wantKeys && tr.BytesRead >= wantBytes && tr.KeysWritten >= keys &&
			tr.Gets >= keys && tr.Scans >= 1 && tr.Puts >= keys && tr.Deletes >= 1
	})
}
