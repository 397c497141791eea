package raftstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

func snapDirFiles(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(s.snaps.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func snapMsg(snap *eraftpb.Snapshot) *rspb.RaftMessage {
	r := testRegion("", "")
	return &rspb.RaftMessage{RegionId: testRegionID, FromPeer: r.Peers[0], ToPeer: r.Peers[1],
		Message: &eraftpb.Message{MsgType: eraftpb.MessageType_MsgSnapshot, Snapshot: snap}}
}

// TestSnapshotBuildReceiveApply builds a snapshot of region [b, y) from one
// store's kv DB, receives it on another (a corrupt or short stream is
// refused and leaves no file), applies it, and cleans up the files.
func TestSnapshotBuildReceiveApply(t *testing.T) {
	region := testRegion("b", "y")
	src := testStore(t, testEngines(t, region))
	var wb engine.WriteBatch
	data := map[string]string{"b": "1", "c": "2", "x": "3"}
	for k, v := range data {
		for _, cf := range engine.CFs {
			if err := wb.PutCF(cf, []byte(k), []byte(cf+v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range []string{"a", "y", "z"} { // outside the region
		if err := wb.PutCF("", []byte(k), []byte("out")); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.engines.WriteKV(&wb, true); err != nil {
		t.Fatal(err)
	}

	snap, genPath, err := src.snaps.build(testRegionID)
	if err != nil {
		t.Fatal(err)
	}
	if md := snap.Metadata; md.Index != 5 || md.Term != 5 || len(md.ConfState.Voters) != 3 {
		t.Fatalf("snapshot metadata %v, want index and term 5, 3 voters", md)
	}
	if filepath.Base(genPath) != "gen_2_5_5.snap" {
		t.Fatalf("generated %s", genPath)
	}
	file, err := os.ReadFile(genPath)
	if err != nil {
		t.Fatal(err)
	}

	dst := testStore(t, testEngines(t, nil))
	msg := snapMsg(snap)
	// Corrupt: one byte flipped; short: the last byte missing.
	bad := bytes.Clone(file)
	bad[len(bad)/2] ^= 0xff
	for name, body := range map[string][]byte{"corrupt": bad, "short": file[:len(file)-1]} {
		if err := dst.snaps.receive(msg, bytes.NewReader(body)); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("%s stream: %v, want ErrSnapshot", name, err)
		}
		if files := snapDirFiles(t, dst); len(files) != 0 {
			t.Fatalf("%s stream left %v", name, files)
		}
	}
	if err := dst.snaps.receive(msg, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	rcvPath := dst.snaps.receivedFile(testRegionID, 5, 5)
	if rcvPath != dst.snaps.receivedPath(msg) {
		t.Fatalf("received file %s, message names %s", rcvPath, dst.snaps.receivedPath(msg))
	}

	if err := applySnapshotKV(dst, &snapApply{region: region, index: 5, term: 5, path: rcvPath}); err != nil {
		t.Fatal(err)
	}
	view, err := dst.engines.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	for k, v := range data {
		for _, cf := range engine.CFs {
			if got, err := view.GetCF(cf, []byte(k)); err != nil || string(got) != cf+v {
				t.Fatalf("cf %q key %s = %q, %v", cf, k, got, err)
			}
		}
	}
	for _, k := range []string{"a", "y", "z"} {
		if got, _ := view.GetCF("", []byte(k)); got != nil {
			t.Fatalf("key %s outside the region came with the snapshot", k)
		}
	}
	var as rspb.RaftApplyState
	var rs rspb.RegionLocalState
	if _, err := view.GetMeta(engine.ApplyStateKey(testRegionID), &as); err != nil || as.AppliedIndex != 5 || as.TruncatedState.GetIndex() != 5 {
		t.Fatalf("apply state %v %v", as, err)
	}
	if _, err := view.GetMeta(engine.RegionStateKey(testRegionID), &rs); err != nil || rs.State != rspb.PeerState_Normal || string(rs.Region.EndKey) != "y" {
		t.Fatalf("region state %v %v", rs, err)
	}

	// Cleanup: the file of a snapshot being applied stays; everything
	// else (temporaries, other files, generated files) goes.
	if err := os.WriteFile(filepath.Join(dst.snaps.dir, "rcv_9_1_1.snap.tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst.snaps.dir, "rcv_9_1_1.snap"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst.snaps.cleanup(map[string]bool{rcvPath: true})
	if files := snapDirFiles(t, dst); strings.Join(files, " ") != filepath.Base(rcvPath) {
		t.Fatalf("after cleanup keeping region 2: %v", files)
	}
	dst.snaps.cleanup(nil)
	src.snaps.cleanup(nil)
	if files := append(snapDirFiles(t, dst), snapDirFiles(t, src)...); len(files) != 0 {
		t.Fatalf("after full cleanup: %v", files)
	}
}

// TestSnapshotStaleEntryRetries: a snapshot is taken at the applied index;
// if that entry's term cannot be found (compacted meanwhile), build gives
// up after its retries instead of producing a snapshot with a wrong term.
func TestSnapshotStaleEntryRetries(t *testing.T) {
	region := testRegion("", "")
	s := testStore(t, testEngines(t, region))
	var kv engine.WriteBatch
	if err := kv.SetMeta(engine.ApplyStateKey(testRegionID), &rspb.RaftApplyState{AppliedIndex: 9,
		TruncatedState: &rspb.RaftTruncatedState{Index: 5, Term: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.engines.WriteKV(&kv, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.snaps.build(testRegionID); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("build without the applied entry: %v, want ErrSnapshot", err)
	}
	if files := snapDirFiles(t, s); len(files) != 0 {
		t.Fatalf("failed build left %v", files)
	}
}
