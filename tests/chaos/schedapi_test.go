package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/regionkv/regionkv/scheduler/api"
)

// api sends a JSON request to the scheduler leader's HTTP API and decodes
// a 200 answer into out. It returns the status code, 0 when no leader
// answered.
func (c *cluster) api(method, path string, body, out any) int {
	l := c.schedLeader(schedElectionWait)
	if l < 0 {
		return 0
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.sec.Scheme()+"://"+c.scheds[l].statusAddr+api.Prefix+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.httpClient(10 * time.Second).Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: undecodable %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// httpClient speaks to the cluster's HTTP endpoints, with the test's
// certificate when TLS is on.
func (c *cluster) httpClient(timeout time.Duration) *http.Client { return c.sec.HTTPClient(timeout) }

func (c *cluster) storeViews() ([]api.StoreView, bool) {
	var st struct{ Stores []api.StoreView }
	return st.Stores, c.api("GET", "/stores", nil, &st) == http.StatusOK
}

// storeID is the scheduler's ID of store i (found by its advertised
// address, the proxy's), or 0.
func (c *cluster) storeID(i int) uint64 {
	if v := c.storeView(i); v != nil {
		return v.ID
	}
	return 0
}

// storeView is the scheduler's view of store i (the one not a Tombstone,
// when a fresh store replaced a drained one), or nil.
func (c *cluster) storeView(i int) *api.StoreView {
	stores, _ := c.storeViews()
	var found *api.StoreView
	for _, s := range stores {
		if s.Address == c.proxies[i].addr() && (found == nil || found.State == "Tombstone") {
			found = &s
		}
	}
	return found
}

// waitStoreState waits until the scheduler's state of store i satisfies
// ok; false if that takes longer than within.
func (c *cluster) waitStoreState(i int, within time.Duration, ok func(state string) bool) bool {
	deadline := time.Now().Add(within)
	for {
		if v := c.storeView(i); v != nil && ok(v.State) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond) // polling the scheduler's view
	}
}

// restoreStore brings store i back Up after it was taken offline. If it
// was drained completely meanwhile it is a Tombstone for good: a fresh
// store (new data directory, new ID) takes its place.
func (c *cluster) restoreStore(i int, n *nemesis) {
	v := c.storeView(i)
	switch {
	case v == nil:
		c.t.Errorf("nemesis: store %d unknown to the scheduler", i+1)
	case v.State == "Tombstone":
		n.note("  store %d was drained to a Tombstone: a fresh store replaces it", i+1)
		c.store(i).Kill()
		old := c.storeDir(i)
		if err := os.Rename(old, fmt.Sprintf("%s.tombstone-%d", old, time.Now().UnixNano())); err != nil {
			c.t.Fatal(err)
		}
		c.startStore(i)
	default:
		if code := c.api("POST", fmt.Sprintf("/stores/%d/state", v.ID), map[string]string{"state": "Up"}, nil); code != http.StatusOK {
			c.t.Errorf("nemesis: store %d back Up: %d", i+1, code)
		}
	}
}

// belowQuorum lists the regions, as the scheduler knows them, with fewer
// than a quorum of their peers on live stores (Up, or Offline: draining
// but running).
func (c *cluster) belowQuorum() []string {
	stores, ok := c.storeViews()
	var rs struct{ Regions []api.RegionView }
	if !ok || c.api("GET", "/regions", nil, &rs) != http.StatusOK {
		c.t.Errorf("the scheduler's regions and stores could not be read")
		return nil
	}
	live := map[uint64]bool{}
	for _, s := range stores {
		live[s.ID] = s.State == "Up" || s.State == "Offline"
	}
	var out []string
	for _, r := range rs.Regions {
		n := 0
		for _, p := range r.Peers {
			if live[p.StoreID] {
				n++
			}
		}
		if n < len(r.Peers)/2+1 {
			out = append(out, fmt.Sprintf("region %d has %d of %d peers on live stores (%+v)", r.ID, n, len(r.Peers), r.Peers))
		}
	}
	return out
}

// waitAllUp waits until the scheduler sees every store Up; false after
// within.
func (c *cluster) waitAllUp(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		up := 0
		for i := range c.stores {
			if v := c.storeView(i); v != nil && v.State == "Up" {
				up++
			}
		}
		if up == len(c.stores) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond) // polling the scheduler's view
	}
}
