package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
)

// TestLargeLogCatchUp: a follower cut off while the leader writes far more
// log than one raft-DB transaction can hold (the test engines take about
// 1.2 MB) catches up from the log once healed, without a snapshot: its
// rounds step no more messages than one write can carry, and leave the
// rest queued. It used to step the whole backlog into one Ready and crash
// the store on "write batch too large".
func TestLargeLogCatchUp(t *testing.T) {
	c := New(t, Options{Stores: 3, Seed: 5, Tweak: func(cfg *raftstore.Config) {
		cfg.RaftLogGCCountLimit = 1 << 30 // keep the log: catch up by MsgApp, not snapshot
		cfg.RaftLogGCSizeLimit = 1 << 40
	}})
	ctx := testCtx(t, 90*time.Second)
	cl := c.NewClient(1)
	mustPut(t, cl, ctx, "first", "1")
	leader, err := c.Leader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lagger := leader%3 + 1
	c.Net.Isolate(lagger, c.StoreIDs())
	value := strings.Repeat("x", 60<<10)
	for i := 0; i < 200; i++ { // ~12 MB of log
		mustPut(t, cl, ctx, fmt.Sprintf("k%03d", i), value)
	}
	before, err := c.Status(lagger)
	if err != nil {
		t.Fatal(err)
	}
	c.Net.Recover()
	waitFor(t, 60*time.Second, "the follower to catch up from the log", func() bool {
		ls, err1 := c.Status(leader)
		fs, err2 := c.Status(lagger)
		return err1 == nil && err2 == nil && c.Up(lagger) && fs.Applied >= ls.Applied && ls.Applied > before.Applied+200
	})
	if st, _ := c.Status(lagger); st.Truncated > before.Applied {
		t.Fatalf("the follower's log was truncated to %d past what it had (%d): it took a snapshot", st.Truncated, before.Applied)
	}
}
