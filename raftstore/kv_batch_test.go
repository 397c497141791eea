package raftstore

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// TestLargeAppliesFitSmallMemtables applies a snapshot and a run of entries
// each several times larger than one transaction of a kv DB with 1 MiB
// memtables (about 157 KB): the apply worker and the snapshot applier
// must cut their batches to what the engine takes (they used a fixed 4 MiB
// limit and panicked with ErrBatchTooLarge).
func TestLargeAppliesFitSmallMemtables(t *testing.T) {
	region := testRegion("", "")
	src := testStore(t, testEngines(t, region))
	value := strings.Repeat("v", 1000)
	for b := 0; b < 10; b++ {
		var wb engine.WriteBatch
		for i := 0; i < 50; i++ {
			if err := wb.PutCF("", []byte(fmt.Sprintf("k%02d%02d", b, i)), []byte(value)); err != nil {
				t.Fatal(err)
			}
		}
		if err := src.engines.WriteKV(&wb, false); err != nil {
			t.Fatal(err)
		}
	}
	snap, path, err := src.snaps.build(testRegionID)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := testStore(t, testEngines(t, nil))
	msg := snapMsg(snap)
	if err := dst.snaps.receive(msg, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if err := applySnapshotKV(dst, &snapApply{region: region, index: 5, term: 5, path: dst.snaps.receivedPath(msg)}); err != nil {
		t.Fatalf("apply a %d-byte snapshot: %v", len(file), err)
	}

	// 400 entries of 1 KB each, in one apply task.
	var es []eraftpb.Entry
	for i := uint64(6); i < 406; i++ {
		es = append(es, putEntry(t, region, i, 6, fmt.Sprintf("e%03d", i), value))
	}
	w := dst.applier.workers[0]
	tasks := []*applyTask{
		{kind: taskRegister, regionID: testRegionID, region: region, term: 5,
			state: rspb.RaftApplyState{AppliedIndex: 5, TruncatedState: &rspb.RaftTruncatedState{Index: 5, Term: 5}}},
		{kind: taskEntries, regionID: testRegionID, entries: es},
	}
	if !w.applyBatch(tasks) {
		t.Fatal("apply batch failed")
	}
	var as rspb.RaftApplyState
	if _, err := engine.GetMeta(dst.engines.KV, engine.ApplyStateKey(testRegionID), &as); err != nil || as.AppliedIndex != 405 {
		t.Fatalf("apply state %v, %v; want applied 405", as, err)
	}
}
