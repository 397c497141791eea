package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/pderr"
)

// startMembers starts n members of one embedded etcd cluster, with sec's
// TLS (zero: plaintext), and waits until each has registered; they must
// start together because each waits for a quorum.
func startMembers(t *testing.T, n int, sec security.Config) ([]*Server, []config.Config) {
	t.Helper()
	addrs := freeAddrs(t, 2*n)
	var initial []string
	cfgs := make([]config.Config, n)
	for i := range n {
		cfgs[i] = testConfig(t, fmt.Sprintf("s%d", i+1))
		cfgs[i].PeerAddr, cfgs[i].EtcdClientAddr = addrs[2*i], addrs[2*i+1]
		cfgs[i].Security = sec
		initial = append(initial, fmt.Sprintf("%s=%s://%s", cfgs[i].Name, cfgs[i].PeerScheme(), addrs[2*i]))
	}
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		cfgs[i].InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(cfgs[i], testLogger(t), WithSeed(1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start member %d: %v", i, err)
		}
		t.Cleanup(servers[i].Close)
	}
	// Each member registers itself when it first campaigns, after Start
	// returns: wait until all have, so that member lists are whole.
	ctx := ctxT(t)
	waitFor(t, 20*time.Second, fmt.Sprintf("%d members registered", n), func() bool {
		ms, err := servers[0].members(ctx)
		return err == nil && len(ms) == n
	})
	return servers, cfgs
}

// TestThreeMembersLeaderFailover: one leader among three; followers name
// it; after the leader closes, another member leads, and a client keeps
// working with timestamps that keep increasing.
func TestThreeMembersLeaderFailover(t *testing.T) {
	servers, _ := startMembers(t, 3, security.Config{})
	leader := waitLeader(t, servers...)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	// Exactly one leader, and every member reports it.
	for _, s := range servers {
		if s != leader && s.IsLeader() {
			t.Fatalf("two leaders: %s and %s", leader.Name(), s.Name())
		}
		m, err := rawPD(t, s.Addr()).GetMembers(ctxT(t), &pdpb.GetMembersRequest{})
		if err != nil || m.Leader.GetName() != leader.Name() || len(m.Members) != 3 {
			t.Fatalf("member %s: GetMembers = %v, %v", s.Name(), m, err)
		}
	}
	// A follower answers with a not-leader error naming the leader.
	for _, s := range servers {
		if s == leader {
			continue
		}
		resp, err := rawPD(t, s.Addr()).AllocID(ctxT(t), &pdpb.AllocIDRequest{
			Header: &pdpb.RequestHeader{ClusterId: s.ClusterID()}})
		if err != nil || !pderr.IsNotLeader(resp.Header.GetError()) ||
			!strings.Contains(resp.Header.Error.Message, leader.Addr()) {
			t.Fatalf("follower %s AllocID = %v, %v; want not leader naming %s", s.Name(), resp, err, leader.Addr())
		}
	}
	// The HTTP API of a follower answers 503 naming the leader.
	for _, s := range servers {
		if s == leader {
			continue
		}
		var body struct {
			Error  string
			Leader *api.MemberView
		}
		if code := newHTTP(t, s).do("GET", "/stores", nil, &body); code != 503 || body.Leader.Name != leader.Name() {
			t.Fatalf("follower HTTP: %d %+v", code, body)
		}
	}
	c := newClient(t, addrs...)
	ctx := ctxT(t)
	if err := c.Bootstrap(ctx, &metapb.Store{Id: 1, Address: "127.0.0.1:30001"},
		region(2, "", "", 1, 1, peer(3, 1))); err != nil {
		t.Fatal(err)
	}
	p, l, err := c.GetTS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := p<<18 | l
	idBefore, err := c.AllocID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	leader.Close()
	var rest []*Server
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	next := waitLeader(t, rest...)
	t.Logf("leadership moved from %s to %s", leader.Name(), next.Name())
	p, l, err = c.GetTS(ctx)
	if err != nil {
		t.Fatalf("GetTS after failover: %v", err)
	}
	if after := p<<18 | l; after <= before {
		t.Fatalf("tso went backwards across leader change: %d <= %d", after, before)
	}
	id, err := c.AllocID(ctx)
	if err != nil || id <= idBefore {
		t.Fatalf("AllocID after failover = %d, %v (before %d)", id, err, idBefore)
	}
	st, err := c.GetStore(ctx, 1)
	if err != nil || st.Address != "127.0.0.1:30001" {
		t.Fatalf("GetStore after failover = %v, %v", st, err)
	}
	waitFor(t, 10*time.Second, "client follows the new leader", func() bool {
		return c.GetLeaderURL() == "http://"+next.Addr()
	})
}
