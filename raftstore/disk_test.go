package raftstore

import (
	"strings"
	"sync"
	"testing"

	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
)

// diskTune gives every harness store a reserve and a free-space count the
// test sets per store (by data dir).
type diskTune struct {
	mu  sync.Mutex
	low map[string]bool
}

func (d *diskTune) tune(c *Config) {
	c.ReserveSpace = 64 << 20
	c.DiskAvailable = func(dir string) (uint64, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.low[dir] {
			return 1 << 20, nil
		}
		return 1 << 30, nil
	}
}

func (d *diskTune) set(h *harness, storeID uint64, low bool) {
	d.mu.Lock()
	d.low[h.store(storeID).engines.Dir()] = low
	d.mu.Unlock()
}

func getCmd(regionID uint64, key string) *raft_cmdpb.RaftCmdRequest {
	return &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{RegionId: regionID},
		Requests: []*raft_cmdpb.Request{{CmdType: raft_cmdpb.CmdType_Get, Get: &raft_cmdpb.GetRequest{Key: []byte(key)}}}}
}

// A leader whose store runs low on disk refuses writes with DiskFull
// (naming its store) and keeps serving reads; once space is freed it
// accepts writes again. A leader whose followers' stores are low refuses
// writes as soon as the roomy voters are no quorum: it learns their state
// from their messages. One low follower of three does not stop writes.
func TestDiskFullRefusesWrites(t *testing.T) {
	d := &diskTune{low: map[string]bool{}}
	h := newHarness(t, 3, 3, d.tune)
	h.elect(1, 1)
	write := func(key string) *string {
		o := h.propose(1, putCmd(1, key, "v"))
		h.settle()
		return o.err()
	}
	// advance lets every store look at its disk again and the followers'
	// heartbeat answers carry the news.
	advance := func() {
		h.ticks(int(diskCheckInterval/harnessTick) + 2)
		h.settle()
	}
	if e := write("a"); e != nil {
		h.fatalf("put with room: %s", *e)
	}

	d.set(h, 1, true)
	advance()
	e := write("b")
	if e == nil || !strings.Contains(*e, "disk_full") || !strings.Contains(*e, "store 1 has less than reserve-space") {
		h.fatalf("put on a leader low on disk: %v, want DiskFull naming store 1", e)
	}
	g := h.propose(1, getCmd(1, "a"))
	h.settle()
	if e := g.err(); e != nil {
		h.fatalf("read on a leader low on disk: %s", *e)
	}
	d.set(h, 1, false)
	advance()
	if e := write("c"); e != nil {
		h.fatalf("put after space was freed: %s", *e)
	}

	d.set(h, 2, true)
	advance()
	if e := write("d"); e != nil {
		h.fatalf("put with one of three voters low on disk: %s", *e)
	}
	d.set(h, 3, true)
	advance()
	e = write("e")
	if e == nil || !strings.Contains(*e, "disk_full") || !strings.Contains(*e, "2 of 3 voters") {
		h.fatalf("put with two of three voters low on disk: %v, want DiskFull", e)
	}
	d.set(h, 2, false)
	d.set(h, 3, false)
	advance()
	if e := write("f"); e != nil {
		h.fatalf("put after the followers freed space: %s", *e)
	}
	advance() // the followers learn the last commit
	for _, id := range h.ids {
		for _, k := range []string{"a", "c", "d", "f"} {
			if _, ok := h.store(id).get(k); !ok {
				h.fatalf("acknowledged %q missing on store %d", k, id)
			}
		}
	}
	for _, k := range []string{"b", "e"} {
		if _, ok := h.store(1).get(k); ok {
			h.fatalf("refused %q was written", k)
		}
	}
	h.checkAll()
}
