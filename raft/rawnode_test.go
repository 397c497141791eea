package raft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
)

// rawCluster drives RawNodes exactly as doc.go tells an application to.
type rawCluster struct {
	tb      testing.TB
	nodes   map[uint64]*RawNode
	storage map[uint64]*MemoryStorage
	ids     []uint64
	// applied records every applied normal entry's data per node.
	applied map[uint64][]string
	// inbox holds messages in flight.
	inbox []eraftpb.Message
	// isolated nodes neither send nor receive.
	isolated map[uint64]bool
	// watch, if set, sees every message delivered.
	watch func(eraftpb.Message)
}

func newRawCluster(tb testing.TB, n int, opts ...func(*Config)) *rawCluster {
	c := &rawCluster{tb: tb, nodes: map[uint64]*RawNode{}, storage: map[uint64]*MemoryStorage{}, applied: map[uint64][]string{}, isolated: map[uint64]bool{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		s := newTestStorage(c.ids...)
		cfg := newTestConfig(id, 10, 1, s)
		for _, o := range opts {
			o(cfg)
		}
		rn, err := NewRawNode(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes[id] = rn
		c.storage[id] = s
	}
	return c
}

// handleReady processes one Ready of id, following the caller's contract.
func (c *rawCluster) handleReady(id uint64) {
	rn, s := c.nodes[id], c.storage[id]
	rd := rn.Ready()
	if !IsEmptyHardState(rd.HardState) {
		_ = s.SetHardState(rd.HardState)
	}
	if !IsEmptySnap(rd.Snapshot) {
		if err := s.ApplySnapshot(rd.Snapshot); err != nil {
			c.tb.Fatal(err)
		}
	}
	if err := s.Append(rd.Entries); err != nil {
		c.tb.Fatal(err)
	}
	c.inbox = append(c.inbox, rd.Messages...)
	for _, e := range rd.CommittedEntries {
		switch e.EntryType {
		case eraftpb.EntryType_EntryNormal:
			if len(e.Data) > 0 {
				c.applied[id] = append(c.applied[id], string(e.Data))
			}
		case eraftpb.EntryType_EntryConfChange:
			var cc eraftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				c.tb.Fatal(err)
			}
			rn.ApplyConfChange(cc)
		}
	}
	rn.Advance(rd)
}

// stabilize handles Readys and delivers messages until nothing happens.
func (c *rawCluster) stabilize() {
	for {
		progress := false
		for _, id := range c.ids {
			if c.nodes[id].HasReady() {
				c.handleReady(id)
				progress = true
			}
		}
		msgs := c.inbox
		c.inbox = nil
		for _, m := range msgs {
			progress = true
			c.deliver(m)
		}
		if !progress {
			return
		}
	}
}

func (c *rawCluster) deliver(m eraftpb.Message) {
	if c.isolated[m.From] || c.isolated[m.To] {
		return
	}
	if c.watch != nil {
		c.watch(m)
	}
	if rn, ok := c.nodes[m.To]; ok {
		_ = rn.Step(m)
	}
}

func (c *rawCluster) leader() uint64 {
	for _, id := range c.ids {
		if c.nodes[id].raft.state == StateLeader {
			return id
		}
	}
	return None
}

func TestRawNodeProposeAndCommit(t *testing.T) {
	c := newRawCluster(t, 3)
	if err := c.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	if c.leader() != 1 {
		t.Fatalf("leader = %d, want 1", c.leader())
	}
	for i := 0; i < 10; i++ {
		if err := c.nodes[uint64(i%3+1)].Propose([]byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
		c.stabilize()
	}
	for _, id := range c.ids {
		if got := c.applied[id]; len(got) != 10 {
			t.Fatalf("node %d applied %v", id, got)
		}
		st := c.nodes[id].Status()
		if st.Applied != 11 || st.HardState.Commit != 11 {
			t.Fatalf("node %d status %s", id, st)
		}
		if (st.Progress != nil) != (id == 1) {
			t.Fatalf("node %d: progress should be set on the leader only", id)
		}
		if bs := c.nodes[id].BasicStatus(); bs != st.BasicStatus || bs.LastIndex != 11 {
			t.Fatalf("node %d: BasicStatus %+v, want %+v with last index 11", id, bs, st.BasicStatus)
		}
	}
	// A leader's accepted proposal lands right after BasicStatus's LastIndex.
	if err := c.nodes[1].Propose([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if got := c.nodes[1].BasicStatus().LastIndex; got != 12 {
		t.Fatalf("leader's last index after a proposal = %d, want 12", got)
	}
	c.stabilize()
	if pr := c.nodes[1].Status().Progress[2]; pr.Match != 12 {
		t.Fatalf("leader's progress of 2: %s", pr)
	}
}

func TestRawNodeReadyMustSync(t *testing.T) {
	c := newRawCluster(t, 3)
	rn := c.nodes[1]
	_ = rn.Campaign()
	rd := rn.Ready()
	// Term and vote changed: must fsync before sending the votes.
	if !rd.MustSync || rd.SoftState == nil || rd.SoftState.RaftState != StateCandidate || len(rd.Messages) != 2 {
		t.Fatalf("first Ready: %s", DescribeReady(rd, nil))
	}
	_ = c.storage[1].SetHardState(rd.HardState)
	c.inbox = rd.Messages
	rn.Advance(rd)
	c.stabilize()
	_ = rn.Campaign() // no-op on a leader
	if err := rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd = rn.Ready()
	if !rd.MustSync || len(rd.Entries) != 1 || len(rd.Messages) != 2 {
		t.Fatalf("proposal Ready: %s", DescribeReady(rd, nil))
	}
	_ = c.storage[1].Append(rd.Entries)
	rn.Advance(rd)
	// Deliver the MsgApps, let the followers answer, and feed the acks.
	c.inbox = rd.Messages
	msgs := c.inbox
	c.inbox = nil
	for _, m := range msgs {
		_ = c.nodes[m.To].Step(m)
		c.handleReady(m.To)
	}
	for _, m := range c.inbox {
		_ = rn.Step(m)
	}
	c.inbox = nil
	// Only the commit index changed: no fsync required.
	rd = rn.Ready()
	if rd.MustSync || len(rd.Entries) != 0 || len(rd.CommittedEntries) != 1 || rd.HardState.Commit != 2 {
		t.Fatalf("commit Ready: %s", DescribeReady(rd, nil))
	}
	rn.Advance(rd)
}

func TestRawNodeStepRejectsLocalAndUnknown(t *testing.T) {
	c := newRawCluster(t, 3)
	rn := c.nodes[1]
	for _, typ := range []eraftpb.MessageType{msgHup, msgBeat, msgUnreachable, msgSnapStatus, msgCheckQuorum} {
		if err := rn.Step(eraftpb.Message{MsgType: typ}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("%s: err = %v, want ErrStepLocalMsg", MessageTypeName(typ), err)
		}
	}
	if err := rn.Step(eraftpb.Message{MsgType: msgAppResp, From: 9, Term: 1}); !errors.Is(err, ErrStepPeerNotFound) {
		t.Errorf("err = %v, want ErrStepPeerNotFound", err)
	}
}

// Restart from persisted state: the node comes back with its log, term and
// commit, and applies nothing twice.
func TestRawNodeRestart(t *testing.T) {
	c := newRawCluster(t, 1)
	_ = c.nodes[1].Campaign()
	c.stabilize()
	_ = c.nodes[1].Propose([]byte("a"))
	c.stabilize()
	applied := c.nodes[1].Status().Applied
	cfg := newTestConfig(1, 10, 1, c.storage[1])
	cfg.Applied = applied
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rn.Status()
	if st.HardState.Commit != 2 || st.HardState.Term != 1 || st.Applied != 2 {
		t.Fatalf("restarted status %s", st)
	}
	if rn.HasReady() {
		t.Fatalf("unexpected Ready after restart: %s", DescribeReady(rn.Ready(), nil))
	}
	// Applied beyond commit is a config error.
	cfg = newTestConfig(1, 10, 1, c.storage[1])
	cfg.Applied = 5
	if _, err := NewRawNode(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestConfigValidate(t *testing.T) {
	s := NewMemoryStorage()
	valid := func() *Config { return newTestConfig(1, 10, 1, s) }
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"id 0", func(c *Config) { c.ID = 0 }, "ID must not be 0"},
		{"heartbeat 0", func(c *Config) { c.HeartbeatTick = 0 }, "HeartbeatTick must be > 0"},
		{"election <= heartbeat", func(c *Config) { c.ElectionTick = 1 }, "ElectionTick (1) must be greater than HeartbeatTick (1)"},
		{"nil storage", func(c *Config) { c.Storage = nil }, "Storage must not be nil"},
		{"inflight 0", func(c *Config) { c.MaxInflightMsgs = 0 }, "MaxInflightMsgs must be > 0"},
		{"lease without check quorum", func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased }, "ReadOnlyLeaseBased requires CheckQuorum"},
		{"bad read-only option", func(c *Config) { c.ReadOnlyOption = 7 }, "unknown ReadOnlyOption"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, err := NewRawNode(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewRawNode err = %v", err)
			}
		})
	}
	c := valid()
	c.Logger, c.Rand = nil, nil
	if err := c.Validate(); err != nil || c.Logger == nil || c.Rand == nil {
		t.Fatalf("valid config: err=%v logger=%v rand=%v", err, c.Logger, c.Rand)
	}
	c = valid()
	c.CheckQuorum, c.ReadOnlyOption = true, ReadOnlyLeaseBased
	if err := c.Validate(); err != nil {
		t.Fatalf("lease with check quorum: %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestLazyCommit: with LazyCommit the leader commits and applies a lone
// proposal without announcing the new commit index in extra MsgApps;
// followers learn it from the next heartbeat (or MsgApp) and apply then.
func TestLazyCommit(t *testing.T) {
	for _, tc := range []struct{ lazy, announce bool }{{false, false}, {true, false}, {true, true}} {
		lazy := tc.lazy && !tc.announce // behaves lazily
		c := newRawCluster(t, 3, func(cfg *Config) { cfg.LazyCommit = tc.lazy })
		if err := c.nodes[1].Campaign(); err != nil {
			t.Fatal(err)
		}
		c.stabilize()
		if err := c.nodes[1].Propose([]byte("v")); err != nil {
			t.Fatal(err)
		}
		if tc.announce {
			c.nodes[1].AnnounceCommit(c.nodes[1].BasicStatus().LastIndex)
		}
		apps := 0
		c.watch = func(m eraftpb.Message) {
			if m.MsgType == eraftpb.MessageType_MsgAppend {
				apps++
			}
		}
		c.stabilize()
		want := map[bool]int{false: 4, true: 2}[lazy] // entries to 2 followers, then (eager) commit to 2
		if apps != want {
			t.Errorf("lazy=%t: %d MsgApps for one proposal, want %d", lazy, apps, want)
		}
		if got := c.applied[1]; len(got) != 1 {
			t.Fatalf("lazy=%t: leader applied %v, want the proposal", lazy, got)
		}
		followersApplied := len(c.applied[2]) == 1 && len(c.applied[3]) == 1
		if followersApplied == lazy {
			t.Fatalf("lazy=%t: followers applied %v and %v before a heartbeat", lazy, c.applied[2], c.applied[3])
		}
		// A heartbeat (HeartbeatTick is 1 in newTestConfig) carries the
		// commit index.
		c.nodes[1].Tick()
		c.stabilize()
		if len(c.applied[2]) != 1 || len(c.applied[3]) != 1 {
			t.Fatalf("lazy=%t: after a heartbeat followers applied %v and %v", lazy, c.applied[2], c.applied[3])
		}
	}
}
