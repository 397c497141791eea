package tests

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/regionkv/regionkv/client/bench"
)

// runBench runs `regionkv bench args... -o json` bounded by timeout and
// returns its results.
func runBench(t *testing.T, timeout time.Duration, args ...string) []*bench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append(append([]string{"bench"}, args...), "-o", "json", "--quiet")...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, errOut.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bench %v: undecodable report %q: %v", args, out.String(), err)
	}
	return rep.Results
}

// TestHotRangeFollowsLoad runs a scheduler and three stores as processes,
// loads 2000 records pre-split into 15 regions, and sends 90% of a
// read-only workload to 1% of the keys, a contiguous range (bench's hotspot
// distribution). Within a bounded time the stores split the hot range by
// load (a region boundary appears strictly inside it; no pre-split key is
// there) and balance-hot-region (balance-leader paused) spreads its
// regions' leaders over the stores. The bench throughput on the workload before the cluster adapted
// and after is logged (a measurement, not a check: the machine is shared).
func TestHotRangeFollowsLoad(t *testing.T) {
	base := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(base, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Fast heartbeats and a short averaging window, so that the test sees
	// in seconds what takes minutes with the defaults.
	schedCfg := write("scheduler.toml", "[schedule]\nhot-region-window = \"5s\"\nhot-region-cache-hits-threshold = 2\n")
	storeCfg := write("store.toml", "[raftstore]\nregion-heartbeat-interval = \"1s\"\nstore-heartbeat-interval = \"1s\"\n"+
		"[split]\nqps-threshold = 800\nbyte-threshold = 0\ndetect-times = 5\n")
	sp := startProc(t, "scheduler", "--config", schedCfg, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler"))
	sched := sp.WaitLine(t, schedulerStarted, 60*time.Second)[1]
	for i := 0; i < 3; i++ {
		p := startProc(t, "server", "--config", storeCfg, "--scheduler", sched, "--addr", "127.0.0.1:0",
			"--status-addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, fmt.Sprintf("store-%d", i+1)))
		p.WaitLine(t, storeStarted, 60*time.Second)
	}
	var st ctlStores
	eventually(t, 60*time.Second, "3 stores Up", func() bool { return ctlJSON(t, sched, &st, "store", "list") && allUp(st, 3) })

	const records, regions = 2000, 15
	key := func(i int) []byte { return []byte(fmt.Sprintf("u%015d", i)) }
	hotLo, hotHi := key(990), key(1010) // the middle 1%: bench's hotspot set of 2000 records
	for _, k := range bench.SplitKeys("u", 16, records, regions) {
		if bytes.Compare(k, hotLo) > 0 && bytes.Compare(k, hotHi) < 0 {
			t.Fatalf("pre-split key %q inside the hot range", k)
		}
	}
	common := []string{"--scheduler", sched, "--records", fmt.Sprint(records), "--key-size", "16", "--key-prefix", "u",
		"--value-size", "64"}
	runBench(t, 3*time.Minute, append([]string{"load", "--regions", fmt.Sprint(regions), "--threads", "4"}, common...)...)
	workload := append([]string{"run", "--workload", "c", "--distribution", "hotspot", "--threads", "8"}, common...)
	// From here on leaders move for load only: balance-leader, which
	// spread the pre-split regions' leaders by count, rests.
	if out, errOut, code := runCLI(t, "ctl", "--scheduler", sched, "scheduler", "pause", "balance-leader", "1h"); code != 0 {
		t.Fatalf("pause balance-leader: exit %d\n%s%s", code, out, errOut)
	}

	// Shorter than detect-times windows: the region is not split yet.
	before := runBench(t, time.Minute, append(workload, "--duration", "4s")...)

	// The rest of the adaptation: load keeps coming in the background.
	bg, cancel := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		cmd := exec.CommandContext(bg, binPath, append(append([]string{"bench"}, workload...), "--duration", "3m", "--quiet")...)
		_ = cmd.Run() // canceled once the test saw what it waits for
	}()
	t.Cleanup(func() { cancel(); <-bgDone })

	// hotRegions are the regions overlapping the hot range.
	hotRegions := func(rl ctlRegions) (ids []uint64, leaders map[uint64]bool, inside bool) {
		leaders = map[uint64]bool{}
		for _, r := range rl.Regions {
			s, _ := hex.DecodeString(r.StartKey)
			e, _ := hex.DecodeString(r.EndKey)
			if bytes.Compare(s, hotHi) >= 0 || (len(e) > 0 && bytes.Compare(e, hotLo) <= 0) {
				continue
			}
			ids = append(ids, r.ID)
			if r.Leader != nil {
				leaders[r.Leader.StoreID] = true
			}
			if bytes.Compare(s, hotLo) > 0 {
				inside = true
			}
		}
		return ids, leaders, inside
	}
	start := time.Now()
	var rl ctlRegions
	var splitAt time.Duration
	eventually(t, 150*time.Second, "the hot range split by load and its leaders on every store", func() bool {
		if !ctlJSON(t, sched, &rl, "region", "list") {
			return false
		}
		ids, leaders, inside := hotRegions(rl)
		if inside && splitAt == 0 {
			splitAt = time.Since(start)
			t.Logf("hot range split by load after %s: regions %v", splitAt.Round(time.Second), ids)
		}
		return inside && len(leaders) == 3
	})
	spreadAt := time.Since(start)
	ids, leaders, _ := hotRegions(rl)
	stores := make([]uint64, 0, len(leaders))
	for s := range leaders {
		stores = append(stores, s)
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i] < stores[j] })
	t.Logf("hot range in %d regions %v led from stores %v after %s (split after %s)", len(ids), ids, stores,
		spreadAt.Round(time.Second), splitAt.Round(time.Second))
	var sl struct {
		Running []struct {
			Name      string `json:"name"`
			Operators int    `json:"operators-created"`
		} `json:"running"`
	}
	if !ctlJSON(t, sched, &sl, "scheduler", "list") {
		t.Fatal("ctl scheduler list failed")
	}
	moved := -1
	for _, r := range sl.Running {
		if r.Name == "balance-hot-region" {
			moved = r.Operators
		}
	}
	// The leaders of the regions the load split creates are sometimes
	// spread by elections alone on this busy machine, leaving the hot
	// scheduler nothing to move: its choices are covered by
	// scheduler/schedulers' TestBalanceHotRegion; here it must be running.
	if moved < 0 {
		t.Fatal("balance-hot-region is not among the running schedulers")
	}
	t.Logf("balance-hot-region created %d operators", moved)
	cancel()
	<-bgDone

	after := runBench(t, time.Minute, append(workload, "--duration", "8s")...)
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("bench results: before %d, after %d", len(before), len(after))
	}
	if before[0].Total.Errors > 0 || after[0].Total.Errors > 0 {
		t.Fatalf("bench errors: before %d, after %d", before[0].Total.Errors, after[0].Total.Errors)
	}
	t.Logf("bench hotspot reads: %.0f ops/s (p99 %d us) with one hot region, %.0f ops/s (p99 %d us) after the cluster adapted",
		before[0].Total.OpsPerSec, before[0].Total.P99Us, after[0].Total.OpsPerSec, after[0].Total.P99Us)
}
