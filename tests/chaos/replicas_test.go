package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/tests/replicacheck"
)

// The end check on replicas. Once the faults have stopped and the final
// reads are done:
//
//  1. scheduling is frozen (the leader, region and replica schedule limits
//     set to 0), so that no new operator moves a peer or a leader while the
//     cluster settles and its stores stop;
//  2. the test waits until the cluster has settled, from every store's
//     GET /regions (settled): every region's members hold an initialized
//     peer with the region's newest epoch, range and membership, one of them
//     leads, and all have applied the leader's last index; no store holds a
//     range without a peer (a destroy in progress) or a peer without a
//     range; and two polls in a row saw the same indexes;
//  3. every store is stopped cleanly (SIGTERM, all at once);
//  4. every store's engines are opened offline and compared
//     (tests/replicacheck): same data at the same applied index in every
//     replica, no data outside the regions a store serves.
//
// Not settling in time is itself a failure (a region that cannot agree),
// and the offline comparison still runs, to show where the stores differ.

// settleWait bounds step 2: a removed peer may wait for its leader-missing
// check, a lagging one for a snapshot.
const settleWait = 90 * time.Second

var storeStatusAddr = regexp.MustCompile(`"store server started"\] .*\[status-addr=([^\]\s]+)\]`)

// checkReplicas runs the end check and returns how many violations it
// found (a store that did not settle or stop cleanly counts as one).
func (c *cluster) checkReplicas(seed int64) int {
	t := c.t
	bad := 0
	c.freezeScheduling()
	start := time.Now()
	if err := c.waitSettled(settleWait); err != nil {
		bad++
		t.Errorf("seed %d: replicas did not settle within %v: %v", seed, settleWait, err)
	} else {
		t.Logf("seed %d: replicas settled after %v", seed, time.Since(start).Round(100*time.Millisecond))
	}
	for i := range c.stores {
		c.store(i).Signal(syscall.SIGTERM)
	}
	var stores []*replicacheck.Store
	for i := range c.stores {
		if err := c.store(i).Wait(t, 60*time.Second); err != nil {
			bad++
			t.Errorf("seed %d: store %d did not stop cleanly: %v", seed, i+1, err)
		}
		s, err := replicacheck.LoadDir(c.storeDir(i))
		if err != nil {
			bad++
			t.Errorf("seed %d: load the engines of store %d: %v", seed, i+1, err)
			continue
		}
		stores = append(stores, s)
	}
	res := replicacheck.Check(stores)
	for _, v := range res.Violations {
		t.Errorf("seed %d: replicas: %s", seed, v)
	}
	for _, s := range res.Stale {
		t.Logf("seed %d: stale replica (not compared): %s", seed, s)
	}
	t.Logf("seed %d: replicas: %s", seed, res)
	return bad + len(res.Violations)
}

// freezeScheduling stops the scheduler from starting operators: the
// limits go to 0 through the leader's HTTP API.
func (c *cluster) freezeScheduling() {
	body := []byte(`{"leader-schedule-limit": 0, "region-schedule-limit": 0, "replica-schedule-limit": 0}`)
	hc := c.httpClient(5 * time.Second)
	deadline := time.Now().Add(schedElectionWait)
	for {
		for _, m := range c.scheds {
			if m.p.Exited() {
				continue
			}
			resp, err := hc.Post(c.sec.Scheme()+"://"+m.statusAddr+"/api/v1/config", "application/json", bytes.NewReader(body))
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no scheduler member took the frozen schedule limits within %v", schedElectionWait)
		}
		time.Sleep(200 * time.Millisecond) // polling for a scheduler leader
	}
}

// waitSettled polls every store's GET /regions until settled holds twice
// in a row with the same indexes, or within passes; it returns why not.
func (c *cluster) waitSettled(within time.Duration) error {
	hc := c.httpClient(10 * time.Second)
	deadline := time.Now().Add(within)
	last, why := "", error(nil) // last: the previous poll's print, if it settled
	for time.Now().Before(deadline) {
		views, err := c.regionViews(hc)
		print := ""
		if err == nil {
			print, err = settled(views)
		}
		if err == nil && print == last {
			return nil
		}
		if err != nil {
			print = ""
		}
		last, why = print, err
		time.Sleep(250 * time.Millisecond) // polling for the cluster to settle
	}
	if why == nil {
		why = fmt.Errorf("the indexes kept moving")
	}
	return why
}

// regionViews asks every store for its GET /regions.
func (c *cluster) regionViews(hc *http.Client) ([]raftstore.RegionsView, error) {
	var views []raftstore.RegionsView
	for i := range c.stores {
		p := c.store(i)
		m := storeStatusAddr.FindStringSubmatch(p.Output())
		if m == nil || p.Exited() {
			return nil, fmt.Errorf("store %d is not serving", i+1)
		}
		resp, err := hc.Get(c.sec.Scheme() + "://" + m[1] + "/regions")
		if err != nil {
			return nil, fmt.Errorf("store %d: %w", i+1, err)
		}
		var v raftstore.RegionsView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("store %d: GET /regions: status %d, %v", i+1, resp.StatusCode, err)
		}
		views = append(views, v)
	}
	return views, nil
}

// settled reports whether every region's members agree (see the top of
// this file), and if so returns a print of every region's epoch and
// applied index, for telling a still cluster from a moving one.
func settled(views []raftstore.RegionsView) (string, error) {
	type held struct {
		store uint64
		pv    raftstore.PeerView
	}
	byRegion := map[uint64][]held{}
	for _, v := range views {
		var inited []uint64
		for _, pv := range v.Peers {
			byRegion[pv.RegionID] = append(byRegion[pv.RegionID], held{v.StoreID, pv})
			if pv.Initialized {
				inited = append(inited, pv.RegionID)
			}
		}
		slices.Sort(inited)
		if !slices.Equal(inited, v.Ranges) {
			return "", fmt.Errorf("store %d: initialized peers %v but ranges %v (a peer being destroyed or created)",
				v.StoreID, inited, v.Ranges)
		}
	}
	if len(byRegion) == 0 {
		return "", fmt.Errorf("no store has a region peer")
	}
	ids := make([]uint64, 0, len(byRegion))
	for id := range byRegion {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var print strings.Builder
	for _, id := range ids {
		hs := byRegion[id]
		var newest *raftstore.PeerView
		for i := range hs {
			pv := &hs[i].pv
			if pv.Initialized && (newest == nil || pv.Version > newest.Version ||
				pv.Version == newest.Version && pv.ConfVer > newest.ConfVer) {
				newest = pv
			}
		}
		if newest == nil {
			return "", fmt.Errorf("region %d has only uninitialized peers", id)
		}
		var leader *raftstore.PeerView
		var members []raftstore.PeerView
		for _, m := range newest.Members {
			i := slices.IndexFunc(hs, func(h held) bool { return h.store == m.StoreID })
			if i < 0 {
				return "", fmt.Errorf("region %d: member store %d has no peer yet", id, m.StoreID)
			}
			pv := hs[i].pv
			if !pv.Initialized || !sameRegion(pv, *newest) {
				return "", fmt.Errorf("region %d: store %d has epoch v%d/cv%d (initialized %v), newest v%d/cv%d",
					id, m.StoreID, pv.Version, pv.ConfVer, pv.Initialized, newest.Version, newest.ConfVer)
			}
			if pv.Leader {
				if leader != nil {
					return "", fmt.Errorf("region %d: two leaders (peers %d and %d)", id, leader.PeerID, pv.PeerID)
				}
				leader = &hs[i].pv
			}
			members = append(members, pv)
		}
		if leader == nil {
			return "", fmt.Errorf("region %d has no leader among its members", id)
		}
		if leader.Commit != leader.LastIndex {
			return "", fmt.Errorf("region %d: leader commit %d below its last index %d", id, leader.Commit, leader.LastIndex)
		}
		for _, pv := range members {
			if pv.Applied != leader.LastIndex {
				return "", fmt.Errorf("region %d: peer %d applied %d, leader's last index %d", id, pv.PeerID, pv.Applied, leader.LastIndex)
			}
		}
		fmt.Fprintf(&print, "%d:v%d/cv%d@%d ", id, newest.Version, newest.ConfVer, leader.LastIndex)
	}
	return print.String(), nil
}

// sameRegion: same epoch, range and membership.
func sameRegion(a, b raftstore.PeerView) bool {
	key := func(pv raftstore.PeerView) string {
		ms := slices.Clone(pv.Members)
		sort.Slice(ms, func(i, j int) bool { return ms[i].PeerID < ms[j].PeerID })
		return fmt.Sprint(pv.Version, pv.ConfVer, pv.StartKey, pv.EndKey, ms)
	}
	return key(a) == key(b)
}

// TestSettled: the settle condition holds for agreeing members (a stale
// peer on a removed store aside) and fails, saying why, for a lagging
// follower, a member without a peer, a destroy in progress, an older
// epoch and a region without a leader.
func TestSettled(t *testing.T) {
	members := []raftstore.MemberView{{PeerID: 21, StoreID: 1}, {PeerID: 22, StoreID: 2}}
	peer := func(id uint64, leader bool, applied uint64) raftstore.PeerView {
		return raftstore.PeerView{RegionID: 2, PeerID: id, Initialized: true, ConfVer: 3, Version: 1,
			Members: members, Leader: leader, Commit: 40, Applied: applied, LastIndex: 40}
	}
	base := func() []raftstore.RegionsView {
		return []raftstore.RegionsView{
			{StoreID: 1, Peers: []raftstore.PeerView{peer(21, true, 40)}, Ranges: []uint64{2}},
			{StoreID: 2, Peers: []raftstore.PeerView{peer(22, false, 40)}, Ranges: []uint64{2}},
			// A removed peer, older epoch, on a store not a member any more.
			{StoreID: 3, Peers: []raftstore.PeerView{{RegionID: 2, PeerID: 23, Initialized: true, ConfVer: 2, Version: 1,
				Members: []raftstore.MemberView{{PeerID: 21, StoreID: 1}, {PeerID: 23, StoreID: 3}}, Applied: 30}}, Ranges: []uint64{2}},
		}
	}
	print, err := settled(base())
	if err != nil || print != "2:v1/cv3@40 " {
		t.Fatalf("agreeing members: %q, %v; want settled at index 40", print, err)
	}
	for _, c := range []struct {
		name string
		edit func([]raftstore.RegionsView)
		want string
	}{
		{"lagging follower", func(v []raftstore.RegionsView) { v[1].Peers[0].Applied = 39 }, "peer 22 applied 39"},
		{"member without peer", func(v []raftstore.RegionsView) { v[1].Peers, v[1].Ranges = nil, nil }, "member store 2 has no peer"},
		{"destroy in progress", func(v []raftstore.RegionsView) { v[2].Peers = nil }, "store 3: initialized peers [] but ranges [2]"},
		{"older epoch", func(v []raftstore.RegionsView) { v[1].Peers[0].ConfVer = 2 }, "store 2 has epoch v1/cv2"},
		{"no leader", func(v []raftstore.RegionsView) { v[0].Peers[0].Leader = false }, "no leader"},
		{"uncommitted entry", func(v []raftstore.RegionsView) { v[0].Peers[0].LastIndex = 41 }, "commit 40 below its last index 41"},
		{"no peers", func(v []raftstore.RegionsView) {
			for i := range v {
				v[i].Peers, v[i].Ranges = nil, nil
			}
		}, "no store has a region peer"},
	} {
		v := base()
		c.edit(v)
		if _, err := settled(v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
