package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client/bench"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/tests/testproc"
)

// proc is one regionkv process.
type proc = testproc.Proc

func startProc(t *testing.T, args ...string) *proc { return testproc.Start(t, binPath, args...) }

// schedMember is one scheduler member. Its ports are fixed, so that a
// restart is the same etcd member with the same data.
type schedMember struct {
	name string
	addr string // gRPC address, also what clients and stores dial
	// statusAddr serves the HTTP API: the gRPC address, which it shares.
	statusAddr string
	args       []string
	p          *proc
	pd         pdpbgrpc.PDClient // on a connection that redials across restarts
}

// cluster is a scheduler of one or more members and n stores, each store
// behind its own proxy. The scheduler members and the nemesis are driven
// from the test goroutine only.
type cluster struct {
	t      *testing.T
	base   string
	scheds []*schedMember
	// schedAddrs are every member's gRPC address, for clients.
	schedAddrs []string
	mu         sync.Mutex // guards stores and bound
	stores     []*proc
	bound      []string // each store's listen address, kept across restarts
	proxies    []*proxy
	// storeConfig is the stores' --config file, or "".
	storeConfig string
	// tlsArgs are the servers' TLS flags, and sec the test's own client
	// certificate; both empty (nil) in plaintext.
	tlsArgs []string
	sec     *security.TLS
}

// startCluster starts a scheduler of members members (one embedded etcd
// cluster; they start together, as each waits for a quorum) and n stores.
// With tls, every connection is mutual TLS with a CA made for the run:
// the servers', the test's clients' and the tools' (the proxies pass the
// bytes through, and the certificates name 127.0.0.1, which the proxies'
// addresses share).
func startCluster(t *testing.T, n, members int, tls bool) *cluster {
	t.Helper()
	c := &cluster{t: t, base: t.TempDir(), stores: make([]*proc, n), bound: make([]string, n)}
	scheme := "http"
	if tls {
		g, err := security.GenerateDir(filepath.Join(c.base, "tls"), []string{"127.0.0.1", "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		if c.sec, err = security.Load(g.Client, nil); err != nil {
			t.Fatal(err)
		}
		s := g.Server
		c.tlsArgs = []string{"--cacert", s.CAPath, "--cert", s.CertPath, "--key", s.KeyPath,
			"--cert-allowed-cn", strings.Join(s.CertAllowedCN, ",")}
		scheme = "https"
	}
	var initial []string
	ports := testproc.FreeAddrs(t, 3*members)
	for i := 0; i < members; i++ {
		a := ports[3*i : 3*i+3]
		m := &schedMember{name: fmt.Sprintf("scheduler-%d", i+1), addr: a[0], statusAddr: a[0]}
		peer := a[1]
		m.args = []string{"scheduler", "--name", m.name, "--addr", m.addr, "--peer-addr", peer,
			"--etcd-client-addr", a[2],
			"--data-dir", filepath.Join(c.base, m.name)}
		m.args = append(m.args, c.tlsArgs...)
		initial = append(initial, m.name+"="+scheme+"://"+peer)
		c.scheds = append(c.scheds, m)
		c.schedAddrs = append(c.schedAddrs, m.addr)
	}
	for _, m := range c.scheds {
		if members > 1 {
			m.args = append(m.args, "--initial-cluster", strings.Join(initial, ","))
		}
		m.p = startProc(t, m.args...)
	}
	for _, m := range c.scheds {
		if got := m.p.Addr(t); got != m.addr {
			t.Fatalf("scheduler %s serves on %s, not %s", m.name, got, m.addr)
		}
		m.pd = pdpbgrpc.NewPDClient(dial(t, m.addr, c.sec))
	}
	for i := 0; i < n; i++ {
		i := i
		p, err := newProxy(func() string {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.bound[i]
		}, c.whoIs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
		c.proxies = append(c.proxies, p)
		c.bound[i] = "127.0.0.1:0"
	}
	// Stores heartbeat every second and the scheduler calls a store
	// Disconnected after three silent ones, so that it knows within a
	// fault's hold which stores are gone (the shrink fault depends on it).
	conf := "[raftstore]\nstore-heartbeat-interval = \"1s\"\n"
	if *flagMaxKeys > 0 {
		conf += fmt.Sprintf("region-max-keys = %d\nregion-split-keys = %d\n", *flagMaxKeys, max(1, *flagMaxKeys*2/3))
	}
	c.storeConfig = filepath.Join(c.base, "store.toml")
	if err := os.WriteFile(c.storeConfig, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for c.api("POST", "/config", map[string]any{"store-disconnect-time": "3s"}, nil) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not take store-disconnect-time 3s within 60s")
		}
		time.Sleep(200 * time.Millisecond) // waiting for a scheduler leader
	}
	for i := 0; i < n; i++ {
		c.startStore(i)
	}
	return c
}

// whoIs maps a proxied connection's remote address to the store process
// that opened it.
func (c *cluster) whoIs(remote net.Addr) source {
	c.mu.Lock()
	pids := make([]int, len(c.stores))
	for i, s := range c.stores {
		if s != nil && !s.Exited() {
			pids[i] = s.Pid()
		}
	}
	c.mu.Unlock()
	// The dialer's local port is the proxied connection's remote port; its
	// remote port is one of the proxies'.
	rport := portOf(remote)
	for _, p := range c.proxies {
		if pid := socketOwner(rport, portOf(p.lis.Addr()), pids); pid != 0 {
			for i, q := range pids {
				if q == pid {
					return source(i)
				}
			}
		}
	}
	return anyClient
}

func (c *cluster) startStore(i int) {
	c.t.Helper()
	c.mu.Lock()
	addr := c.bound[i]
	c.mu.Unlock()
	// The status address is picked afresh at every start (the default,
	// the gRPC port + 20, could be taken by then).
	args := []string{"server", "--scheduler", c.storeSchedAddrs(i), "--addr", addr, "--status-addr", "127.0.0.1:0",
		"--advertise-addr", c.proxies[i].addr(), "--data-dir", c.storeDir(i)}
	args = append(args, c.tlsArgs...)
	if c.storeConfig != "" {
		args = append(args, "--config", c.storeConfig)
	}
	p := startProc(c.t, args...)
	c.mu.Lock()
	c.stores[i] = p
	c.mu.Unlock()
	b := p.Addr(c.t)
	c.mu.Lock()
	c.bound[i] = b
	c.mu.Unlock()
}

// storeDir is store i's data dir.
func (c *cluster) storeDir(i int) string { return filepath.Join(c.base, fmt.Sprintf("store-%d", i+1)) }

func (c *cluster) store(i int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[i]
}

// storeSchedAddrs is the --scheduler list of store i: every member,
// starting with member i mod the member count, so that the stores spread
// over the members; a store starts while any member is up.
func (c *cluster) storeSchedAddrs(i int) string {
	n := len(c.schedAddrs)
	addrs := make([]string, 0, n)
	for k := range n {
		addrs = append(addrs, c.schedAddrs[(i+k)%n])
	}
	return strings.Join(addrs, ",")
}

// restartScheduler starts member i again on its ports and data and waits
// until it serves (its embedded etcd rejoined the quorum).
func (c *cluster) restartScheduler(i int) {
	c.t.Helper()
	m := c.scheds[i]
	m.p = startProc(c.t, m.args...)
	m.p.Addr(c.t)
}

// schedLeader returns the index of the scheduler leader: the running
// member that names itself leader in GetMembers, when exactly one does.
// It waits for one up to within; -1 if there was none.
func (c *cluster) schedLeader(within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		leader := -1
		claims := 0
		for i, m := range c.scheds {
			if m.p.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := m.pd.GetMembers(ctx, &pdpb.GetMembersRequest{})
			cancel()
			if err == nil && resp.GetLeader().GetName() == m.name {
				leader = i
				claims++
			}
		}
		if claims == 1 {
			return leader
		}
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(100 * time.Millisecond) // polling for an election to end
	}
}

// waitReplicated waits until want stores besides the bootstrap one have
// applied a snapshot of the first region, that is, it has its replicas.
func (c *cluster) waitReplicated(want int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		got := 0
		for i := 1; i < len(c.stores); i++ {
			if strings.Contains(c.store(i).Output(), `"applied snapshot"`) {
				got++
			}
		}
		if got >= want {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling process logs
	}
	c.t.Fatalf("the first region did not get %d more replicas within %v", want, within)
}

// splitKeys cut the workloads' keys into six regions (the append keys in
// two, the registers in two, the set's two clients in one each), so that
// the balancer moves replicas around the five stores (snapshots, destroys)
// and the end check compares several regions.
var splitKeys = []string{"app-1", "reg-", "reg-3", "set-", "set-1-"}

// preSplit splits the first region at splitKeys through the scheduler
// leader and waits until the regions have leaders spread over the stores.
func (c *cluster) preSplit(ctx context.Context) {
	c.t.Helper()
	l := c.schedLeader(schedElectionWait)
	if l < 0 {
		c.t.Fatalf("no scheduler leader to split through within %v", schedElectionWait)
	}
	var keys [][]byte
	for _, k := range splitKeys {
		keys = append(keys, []byte(k))
	}
	if err := bench.PreSplit(ctx, c.scheds[l].statusAddr, c.sec, keys, 90*time.Second, nil); err != nil {
		c.t.Fatal(err)
	}
}

// healAll lifts network faults, resumes paused stores, restarts dead ones
// and any dead scheduler member.
func (c *cluster) healAll() {
	for _, p := range c.proxies {
		p.heal()
	}
	for i, m := range c.scheds {
		if m.p.Exited() {
			c.restartScheduler(i)
		}
	}
	for i := range c.stores {
		s := c.store(i)
		s.Signal(syscall.SIGCONT)
		if s.Exited() {
			c.startStore(i)
		}
	}
}

// checkPlaintextRefused fails the test unless a plaintext client is
// refused by a scheduler member, so that a TLS schedule is known to run
// on TLS.
func (c *cluster) checkPlaintextRefused() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pdpbgrpc.NewPDClient(dial(c.t, c.schedAddrs[0], nil)).GetMembers(ctx, &pdpb.GetMembersRequest{})
	if err == nil || !strings.Contains(err.Error(), security.PlaintextRefusal) {
		c.t.Fatalf("a plaintext client of a TLS cluster: %v, want the plaintext refusal", err)
	}
}
