package tests

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// raftCluster is a scheduler process and store processes started from the
// built binary, on loopback ports the processes pick.
type raftCluster struct {
	sched  string
	dirs   []string
	addrs  []string
	stores []*proc
}

func (c *raftCluster) startStore(t *testing.T, i int) {
	t.Helper()
	c.stores[i] = startProc(t, "server", "--scheduler", c.sched, "--addr", c.addrs[i], "--data-dir", c.dirs[i])
	c.addrs[i] = c.stores[i].Addr(t) // the bound port; a restart reuses it
}

// kv runs `regionkv kv --scheduler ADDR args...`.
func (c *raftCluster) kv(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, append([]string{"kv", "--scheduler", c.sched, "--timeout", "20s"}, args...)...)
}

// checkAll scans the acknowledged keys back through the SDK in the CLI.
func (c *raftCluster) checkAll(t *testing.T, acked map[string]string, when string) {
	t.Helper()
	out, errOut, code := c.kv(t, "scan", "pk-", "pk.", "--limit", "10000")
	if code != 0 {
		t.Fatalf("%s: scan exit %d: %s", when, code, errOut)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			got[k] = v
		}
	}
	for k, v := range acked {
		if got[k] != v {
			t.Fatalf("%s: acknowledged %s=%s reads back as %q", when, k, v, got[k])
		}
	}
	t.Logf("%s: all %d acknowledged writes read back", when, len(acked))
}

// TestProcessClusterKill9 runs `regionkv scheduler` (embedded etcd) and
// three `regionkv server --scheduler` processes, writes through
// `regionkv kv --scheduler`, kills one store with SIGKILL, checks every
// acknowledged write reads back through the other two and that writes go
// on, restarts it on its data dir and address, then kills another store so
// that the restarted one is needed for a quorum, and reads everything back
// again.
func TestProcessClusterKill9(t *testing.T) {
	base := t.TempDir()
	sp := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler"))
	c := &raftCluster{sched: sp.Addr(t), stores: make([]*proc, 3)}
	for i := 0; i < 3; i++ {
		c.dirs = append(c.dirs, filepath.Join(base, fmt.Sprintf("store-%d", i+1)))
		c.addrs = append(c.addrs, "127.0.0.1:0")
		c.startStore(t, i)
	}
	acked := map[string]string{}
	seq := 0
	put := func(when string, n int) {
		t.Helper()
		args := []string{"batch-put"}
		batch := map[string]string{}
		for j := 0; j < n; j++ {
			k, v := fmt.Sprintf("pk-%04d", seq), fmt.Sprintf("v%d", seq)
			seq++
			args = append(args, k, v)
			batch[k] = v
		}
		if _, errOut, code := c.kv(t, args...); code != 0 {
			t.Fatalf("%s: batch-put exit %d: %s", when, code, errOut)
		}
		for k, v := range batch {
			acked[k] = v
		}
	}
	// The first region is bootstrapped and elects a leader after the
	// stores come up; the CLI's own retries cover that (20 s deadline).
	if _, errOut, code := c.kv(t, "put", "pk-first", "1"); code != 0 {
		t.Fatalf("first put: exit %d: %s", code, errOut)
	}
	acked["pk-first"] = "1"
	for i := 0; i < 3; i++ {
		put("healthy", 10)
	}

	// Stores 2 and 3 get their replicas from the scheduler's replica
	// checker (each joins as a learner, catches up by snapshot, and is
	// promoted): wait until the scheduler shows three voters, none behind,
	// before killing anything, or one store would be the only voter.
	a := &schedAPI{t: t, base: "http://" + c.sched, c: &http.Client{Timeout: 10 * time.Second}}
	eventually(t, 90*time.Second, "the first region with three caught-up voters", func() bool {
		r := a.regionOf("pk-first")
		if r == nil || r.Leader == nil || len(r.Peers) != 3 || len(r.PendingPeers) != 0 || len(r.DownPeers) != 0 {
			return false
		}
		for _, p := range r.Peers {
			if p.Role != metapb.PeerRole_Voter.String() {
				return false
			}
		}
		return true
	})

	c.stores[0].Kill() // the bootstrap store, most likely the leader
	put("store 1 killed", 10)
	c.checkAll(t, acked, "store 1 killed")

	c.startStore(t, 0)
	put("store 1 restarted", 5)
	c.stores[1].Kill() // stores 1 and 3 must now form the quorum
	put("store 2 killed", 5)
	c.checkAll(t, acked, "store 1 restarted, store 2 killed")

	c.startStore(t, 1)
	c.checkAll(t, acked, "all restarted")
	if out, _, code := c.kv(t, "get", "pk-0000"); code != 0 || out != "v0\n" {
		t.Fatalf("get after restarts: %q exit %d", out, code)
	}
	for _, p := range append(c.stores, sp) {
		p.Terminate(t)
	}
	for i, p := range c.stores {
		if err := p.Wait(t, 30*time.Second); err != nil {
			t.Errorf("store %d exited with %v after SIGTERM", i+1, err)
		}
	}
	if err := sp.Wait(t, 30*time.Second); err != nil {
		t.Errorf("scheduler exited with %v after SIGTERM", err)
	}
}
