package tests

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/api"
)

// schedAPI talks to the scheduler's HTTP API.
type schedAPI struct {
	t    *testing.T
	base string
	c    *http.Client
}

// do sends a JSON request and decodes the answer into out; it returns the
// status code (0 if the request did not go through).
func (a *schedAPI) do(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+api.Prefix+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: undecodable %q: %v", method, path, b, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		a.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func (a *schedAPI) regions() []api.RegionView {
	var rs struct{ Regions []api.RegionView }
	if a.do("GET", "/regions", nil, &rs) != http.StatusOK {
		return nil
	}
	return rs.Regions
}

// regionOf returns the region holding key (keys here are printable, the
// API's bounds hex).
func (a *schedAPI) regionOf(key string) *api.RegionView {
	for _, r := range a.regions() {
		start, end := hexText(a.t, r.StartKey), hexText(a.t, r.EndKey)
		if start <= key && (end == "" || key < end) {
			return &r
		}
	}
	return nil
}

func hexText(t *testing.T, h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("bad hex %q: %v", h, err)
	}
	return string(b)
}

func storeSet(r *api.RegionView) map[uint64]bool {
	out := map[uint64]bool{}
	for _, p := range r.Peers {
		out[p.StoreID] = true
	}
	return out
}

func kvContext(r *api.RegionView) *kvrpcpb.Context {
	var leader *metapb.Peer
	for _, p := range r.Peers {
		if r.Leader != nil && p.ID == r.Leader.ID {
			leader = &metapb.Peer{Id: p.ID, StoreId: p.StoreID}
		}
	}
	return &kvrpcpb.Context{RegionId: r.ID, RegionEpoch: &metapb.RegionEpoch{ConfVer: r.ConfVer, Version: r.Version}, Peer: leader}
}

var proposalsMetric = regexp.MustCompile(`(?m)^regionkv_raftstore_proposals_total (\d+)`)

// TestStuckRegionDoesNotStallTheStore: a store leads two regions; one of
// them (A) loses the other two of its peers (their stores are paused: cut
// off). A write to A through its leader waits for a quorum that is gone.
// Meanwhile that store serves writes to its other region (B), a
// DeleteRange among them, well within their own short deadlines. Range
// deletes used to take the whole latch table and wait for every write in
// flight, and every later write waited behind them.
func TestStuckRegionDoesNotStallTheStore(t *testing.T) {
	base := t.TempDir()
	sp := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler"))
	m := sp.WaitLine(t, schedulerStarted, 60*time.Second)
	sched := m[1]
	a := &schedAPI{t: t, base: "http://" + sched, c: &http.Client{Timeout: 10 * time.Second}}
	// Placement is the test's: no balancing.
	for _, name := range []string{"balance-leader", "balance-region", "balance-hot-region"} {
		eventually(t, 30*time.Second, "the scheduler to stop "+name, func() bool {
			var sched struct{ Running []struct{ Name string } }
			if a.do("GET", "/schedulers", nil, &sched) != http.StatusOK {
				return false
			}
			for _, r := range sched.Running {
				if r.Name == name {
					a.do("DELETE", "/schedulers/"+name, nil, nil)
					return false
				}
			}
			return true
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			var ops any
			a.do("GET", "/operators", nil, &ops)
			t.Logf("regions %+v\noperators %v", a.regions(), ops)
		}
	})
	stores := map[uint64]*storeProc{}
	for i := range 4 {
		s := startStore(t, sched, filepath.Join(base, fmt.Sprintf("store-%d", i+1)), "127.0.0.1:0")
		id, _ := strconv.ParseUint(s.id, 10, 64)
		stores[id] = s
	}

	healthy := func(r *api.RegionView, peers int) bool {
		if r == nil || r.Leader == nil || len(r.Peers) != peers || len(r.PendingPeers) != 0 || len(r.DownPeers) != 0 {
			return false
		}
		for _, p := range r.Peers {
			if p.Role == metapb.PeerRole_Learner.String() {
				return false
			}
		}
		return true
	}
	eventually(t, 60*time.Second, "the first region with three healthy replicas", func() bool {
		return healthy(a.regionOf("a"), 3)
	})
	first := a.regionOf("a")
	split := api.OperatorRequest{Name: "split", RegionID: first.ID, SplitKeys: []string{"6d"}}
	if code := a.do("POST", "/operators", split, nil); code != http.StatusOK {
		t.Fatalf("split: %d", code)
	}
	asked := time.Now()
	eventually(t, 60*time.Second, "two regions split at m, each with a leader", func() bool {
		ra, rb := a.regionOf("a"), a.regionOf("z")
		if ra != nil && rb != nil && ra.ID == rb.ID && time.Since(asked) > time.Second {
			// Not split: the operator expired when a replica the checker
			// was still promoting changed the membership under it.
			a.do("POST", "/operators", split, nil)
			asked = time.Now()
		}
		return ra != nil && rb != nil && ra.ID != rb.ID && healthy(ra, 3) && healthy(rb, 3)
	})

	// P leads A = [, m); Q and R are A's other stores and W the fourth.
	// B = [m, ) is brought to {P, Q, W} (its replica on R, if any, moves
	// to W). With Q and R cut off, A has no quorum and B has one. The
	// stores are chosen again while anything else moves replicas (the
	// replica checker trimming an extra one).
	var ra, rb *api.RegionView
	var P, Q, R, W uint64
	eventually(t, 90*time.Second, "A on P, Q and R and B on P, Q and W", func() bool {
		ra, rb = a.regionOf("a"), a.regionOf("z")
		var ops []any
		if !healthy(ra, 3) || !healthy(rb, 3) || a.do("GET", "/operators", nil, &ops) != http.StatusOK || len(ops) > 0 {
			return false
		}
		P, Q, R, W = ra.Leader.StoreID, 0, 0, 0
		for _, id := range slices.Sorted(maps.Keys(stores)) {
			switch {
			case id == P:
			case !storeSet(ra)[id]:
				W = id
			case Q == 0:
				Q = id
			default:
				R = id
			}
		}
		s := storeSet(rb)
		switch {
		case s[P] && s[Q] && s[W]:
			return true
		case s[R] && !s[W]:
			a.do("POST", "/operators", api.OperatorRequest{Name: "move-peer", RegionID: rb.ID, FromStore: R, ToStore: W}, nil)
		case !s[W]:
			a.do("POST", "/operators", api.OperatorRequest{Name: "add-peer", RegionID: rb.ID, ToStore: W}, nil)
		}
		return false
	})
	t.Logf("region A %d on %v and B %d on %v: P=%d Q=%d R=%d W=%d", ra.ID, ra.Peers, rb.ID, rb.Peers, P, Q, R, W)
	t.Cleanup(func() {
		if t.Failed() {
			var op any
			a.do("GET", fmt.Sprintf("/operators/%d", rb.ID), nil, &op)
			t.Logf("B's last operator: %v", op)
		}
	})
	// P leads both, as P itself says: a read through P answers without a
	// region error (the scheduler's view may lag a leader change).
	store := dialStore(t, stores[P].addr)
	leads := func(key string) bool {
		r := a.regionOf(key)
		if r == nil || r.Leader == nil {
			return false
		}
		if r.Leader.StoreID != P {
			a.do("POST", "/operators", api.OperatorRequest{Name: "transfer-leader", RegionID: r.ID, ToStore: P}, nil)
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := store.RawGet(ctx, &kvrpcpb.RawGetRequest{Context: kvContext(r), Key: []byte(key)})
		return err == nil && resp.RegionError == nil && resp.Error == ""
	}
	eventually(t, 60*time.Second, "P to lead A and B", func() bool { return leads("a") && leads("z") })
	ra, rb = a.regionOf("a"), a.regionOf("z")

	stores[Q].p.Signal(syscall.SIGSTOP)
	stores[R].p.Signal(syscall.SIGSTOP)
	t.Cleanup(func() {
		stores[Q].p.Signal(syscall.SIGCONT)
		stores[R].p.Signal(syscall.SIGCONT)
	})

	proposals := func() int {
		v, _ := strconv.Atoi(proposalsMetric.FindStringSubmatch(httpGet(t, "http://"+stores[P].status+"/metrics") + "\nregionkv_raftstore_proposals_total 0")[1])
		return v
	}
	before := proposals()
	stuckCtx, cancelStuck := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelStuck()
	stuck := make(chan *kvrpcpb.RawPutResponse, 1)
	go func() {
		resp, err := store.RawPut(stuckCtx, &kvrpcpb.RawPutRequest{Context: kvContext(ra), Key: []byte("a1"), Value: []byte("stuck")})
		if err != nil {
			resp = &kvrpcpb.RawPutResponse{Error: err.Error()}
		}
		stuck <- resp
	}()
	eventually(t, 10*time.Second, "the write to A to be proposed on P", func() bool {
		select {
		case resp := <-stuck:
			t.Fatalf("the write to A was answered at once: %v", resp)
		default:
		}
		return proposals() > before
	})

	// B's writes go on: a DeleteRange, a put and a compare-and-swap, each
	// with a deadline far shorter than the stuck write's.
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		dr, err := store.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{Context: kvContext(rb),
			StartKey: []byte(fmt.Sprintf("m%d", i)), EndKey: []byte(fmt.Sprintf("m%d~", i))})
		if err != nil || dr.Error != "" || dr.RegionError != nil {
			t.Fatalf("DeleteRange on region B while A is stuck: %v %v", dr, err)
		}
		put, err := store.RawPut(ctx, &kvrpcpb.RawPutRequest{Context: kvContext(rb), Key: []byte(fmt.Sprintf("z%d", i)), Value: []byte("v")})
		if err != nil || put.Error != "" || put.RegionError != nil {
			t.Fatalf("put on region B while A is stuck: %v %v", put, err)
		}
		cas, err := store.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{Context: kvContext(rb), Key: []byte(fmt.Sprintf("z%d", i)),
			PreviousValue: []byte("v"), Value: []byte("w")})
		if err != nil || cas.Error != "" || cas.RegionError != nil || !cas.Succeed {
			t.Fatalf("compare-and-swap on region B while A is stuck: %v %v", cas, err)
		}
		cancel()
		t.Logf("round %d on region B took %v", i, time.Since(start).Round(time.Millisecond))
	}
	// The SDK routes there too.
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	cl, err := client.NewRawClient(cctx, []string{sched})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.DeleteRange(cctx, []byte("n"), []byte("o")); err != nil {
		t.Fatalf("SDK DeleteRange in B: %v", err)
	}
	if err := cl.Put(cctx, []byte("zz"), []byte("v")); err != nil {
		t.Fatalf("SDK put in B: %v", err)
	}
	select {
	case resp := <-stuck:
		t.Fatalf("the write to region A, which has no quorum, was answered while its peers were cut off: %v", resp)
	default:
	}

	// Healed, the stuck write's fate is decided: committed after all, or
	// dropped for a newer leader's log.
	stores[Q].p.Signal(syscall.SIGCONT)
	stores[R].p.Signal(syscall.SIGCONT)
	select {
	case resp := <-stuck:
		t.Logf("the write to A, once healed: %v", resp)
	case <-time.After(90 * time.Second):
		t.Fatal("the write to A got no answer after healing")
	}
}
