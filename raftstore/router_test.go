package raftstore

import (
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// TestTakeUpTo: a round takes a region's messages in order while their log
// bytes fit its budget (always at least one), leaves the rest queued in
// order, and keeps the mailbox's count of external messages right.
func TestTakeUpTo(t *testing.T) {
	r := newRouter(newWorkScheduler(), 100)
	f := &regionEntry{regionID: 7}
	if !r.register(f) {
		t.Fatal("register failed")
	}
	app := func(kb int) peerMsg {
		return peerMsg{kind: msgRaft, raft: &rspb.RaftMessage{Message: &eraftpb.Message{
			MsgType: eraftpb.MessageType_MsgAppend, Entries: []*eraftpb.Entry{{Data: make([]byte, kb<<10)}}}}}
	}
	for _, m := range []peerMsg{app(600), app(300), app(300), {kind: msgWake}, app(2000)} {
		if r.send(7, m) != sent {
			t.Fatal("send refused")
		}
	}
	got, used, more := f.takeUpTo(nil, 1<<20) // 600 + 300 fit, the next 300 does not
	if len(got) != 2 || !more || used < 900<<10 || used > 1<<20 {
		t.Fatalf("first take: %d messages, %d bytes, more=%t; want 2, ~900 KiB, more", len(got), used, more)
	}
	got, _, more = f.takeUpTo(nil, 0) // an empty budget still takes one
	if len(got) != 1 || !more || len(got[0].raft.Message.Entries[0].Data) != 300<<10 {
		t.Fatalf("second take: %d messages, more=%t", len(got), more)
	}
	got, used, more = f.takeUpTo(nil, 1<<20) // the wake costs nothing; 2000 KiB is over
	if len(got) != 1 || got[0].kind != msgWake || used != 0 || !more {
		t.Fatalf("third take: %+v, %d bytes, more=%t", got, used, more)
	}
	got, _, more = f.takeUpTo(nil, 1<<20) // alone, an oversized message is taken
	if len(got) != 1 || more {
		t.Fatalf("last take: %d messages, more=%t", len(got), more)
	}
	if f.mb.external != 0 {
		t.Fatalf("external count %d after the mailbox emptied, want 0", f.mb.external)
	}
}
