package raftstore

import (
	"testing"
	"time"

	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// TestApplyAnswersProposals applies committed entries with the proposals
// waiting on them: a proposal whose entry is in the log with its term gets
// the response; one whose index another leader's entry took gets
// StaleCommand (definite: it can never commit, so a client may retry). One
// whose entry apply did not see (skipped as already applied, or absent from
// the task) may have committed: it gets UndeterminedResult, never
// StaleCommand, or a client would re-send a write that was applied. Every
// entry applies either way.
func TestApplyAnswersProposals(t *testing.T) {
	region := testRegion("", "")
	e := testEngines(t, region)
	s := testStore(t, e)
	w := s.applier.workers[0]

	results := map[string]*raft_cmdpb.RaftCmdResponse{}
	cb := func(name string) Callback {
		return func(r *raft_cmdpb.RaftCmdResponse) { results[name] = r }
	}
	entries := []eraftpb.Entry{
		putEntry(t, region, 6, 6, "k6", "v6"),
		putEntry(t, region, 7, 6, "k7", "v7"),
		putEntry(t, region, 8, 7, "k8", "v8"),
	}
	props := []*proposal{
		{index: 6, term: 6, cb: cb("ours")},
		{index: 7, term: 5, cb: cb("overwritten")}, // proposed by us in term 5; term 6's leader wrote 7
		{index: 8, term: 7, cb: cb("ours-too")},
		{index: 9, term: 7, cb: cb("lost")}, // never committed in this batch's log
	}
	tasks := []*applyTask{
		{kind: taskRegister, regionID: testRegionID, region: region, term: 5,
			state: rspb.RaftApplyState{AppliedIndex: 5, TruncatedState: &rspb.RaftTruncatedState{Index: 5, Term: 5}}},
		{kind: taskEntries, regionID: testRegionID, entries: entries, proposals: props},
	}
	if !w.applyBatch(tasks) {
		t.Fatal("apply batch failed")
	}
	for name, stale := range map[string]bool{"ours": false, "overwritten": true, "ours-too": false} {
		r := results[name]
		if r == nil {
			t.Fatalf("proposal %s not answered", name)
		}
		if got := r.Header.GetError().GetStaleCommand() != nil; got != stale {
			t.Errorf("proposal %s: stale command %v, want %v (%v)", name, got, stale, r.Header.GetError())
		}
		if !stale && (r.Header.GetError() != nil || len(r.Responses) != 1 || r.Responses[0].CmdType != raft_cmdpb.CmdType_Put) {
			t.Errorf("proposal %s: response %v", name, r)
		}
	}
	if r := results["lost"]; r == nil || r.Header.GetError().GetUndeterminedResult() == nil {
		t.Errorf("a proposal apply never saw: %v, want UndeterminedResult", r)
	}
	if r := results["ours-too"]; r.Header.CurrentTerm != 7 {
		t.Errorf("response term %d, want the entry's 7", r.Header.CurrentTerm)
	}
	var as rspb.RaftApplyState
	if ok, err := engine.GetMeta(e.KV, engine.ApplyStateKey(testRegionID), &as); !ok || err != nil || as.AppliedIndex != 8 {
		t.Fatalf("apply state %v (%v %v), want applied 8", as, ok, err)
	}
	snap, err := e.NewSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	for _, k := range []string{"k6", "k7", "k8"} {
		if v, err := snap.GetCF("", []byte(k)); err != nil || string(v) != "v"+k[1:] {
			t.Fatalf("%s = %q, %v", k, v, err)
		}
	}

	// Entries at or below the applied index (a replay) are skipped.
	replay := &applyTask{kind: taskEntries, regionID: testRegionID, entries: entries[:1],
		proposals: []*proposal{{index: 6, term: 6, cb: cb("replayed")}}}
	if !w.applyBatch([]*applyTask{replay}) {
		t.Fatal("apply batch failed")
	}
	// Its entry was applied: StaleCommand would make a client apply it again.
	if r := results["replayed"]; r == nil || r.Header.GetError().GetUndeterminedResult() == nil {
		t.Fatalf("a proposal on a replayed entry: %v, want UndeterminedResult", r)
	}

	// A proposal numbered below an entry it never matched (its own entry
	// was skipped) is not provably stale either.
	skipped := &applyTask{kind: taskEntries, regionID: testRegionID, entries: []eraftpb.Entry{
		putEntry(t, region, 7, 6, "k7", "v7"), putEntry(t, region, 9, 7, "k9", "v9")},
		proposals: []*proposal{{index: 7, term: 6, cb: cb("skipped")}}}
	if !w.applyBatch([]*applyTask{skipped}) {
		t.Fatal("apply batch failed")
	}
	if r := results["skipped"]; r == nil || r.Header.GetError().GetUndeterminedResult() == nil {
		t.Fatalf("a proposal whose entry was skipped: %v, want UndeterminedResult", r)
	}
}

// TestTakeProposals: the proposals up to a committed index leave in order.
func TestTakeProposals(t *testing.T) {
	p := &peer{}
	for i := uint64(6); i <= 9; i++ {
		p.proposals = append(p.proposals, &proposal{index: i, term: 2, proposedAt: time.Now()})
	}
	if got := p.takeProposals(5); got != nil {
		t.Fatalf("took %d below the first proposal", len(got))
	}
	got := p.takeProposals(7)
	if len(got) != 2 || got[0].index != 6 || got[1].index != 7 {
		t.Fatalf("took %v", got)
	}
	if len(p.proposals) != 2 || p.proposals[0].index != 8 {
		t.Fatalf("left %v", p.proposals)
	}
	if got := p.takeProposals(100); len(got) != 2 || len(p.proposals) != 0 {
		t.Fatalf("took %d, left %d", len(got), len(p.proposals))
	}
}
