package tests

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTiKVClientsCompat runs TiKV's own clients, unmodified, against a
// regionkv cluster (a 3-store playground): tikv/client-go v2.0.4's rawkv
// client through the conformance program of tests/tikvcompat/rawconform,
// with batching on and off, across 70+ regions while a region splits and a
// leader moves; the same client with its security config (mutual TLS)
// against a `playground --tls`; then go-ycsb's tikv driver in raw mode,
// load and run of workloads a, c and e, which must report no errors.
//
// Both are built from tests/tikvcompat, a module of its own: client-go's
// kvproto registers the same proto names as ours, so it must never be
// linked into our binaries. Building it needs its modules (about 150, from
// the module proxy) and about two minutes of compiling on 2 cores when the
// build cache is cold. So the test runs when REGIONKV_TIKV_COMPAT=1 (CI sets
// it; downloads allowed), or when the modules are already in the local
// module cache; otherwise it skips.
func TestTiKVClientsCompat(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the TiKV client conformance run")
	}
	bins := buildTiKVCompat(t)

	_, sched, _ := startPlayground(t, "--data-dir", t.TempDir())
	status := sched
	var stores ctlStores
	eventually(t, 60*time.Second, "3 stores Up", func() bool {
		return ctlJSON(t, status, &stores, "store", "list") && allUp(stores, 3)
	})
	eventually(t, 60*time.Second, "the first region replicated on 3 stores with a leader", func() bool {
		var rs ctlRegions
		return ctlJSON(t, status, &rs, "region", "list") && rs.Count == 1 && rs.replicated(0, 3)
	})

	// Pre-split: the conformance keys are k00000..k01999; ycsb's are
	// usertable:user<digits>.
	var splits []string
	for i := 30; i < 2000; i += 30 {
		splits = append(splits, fmt.Sprintf("k%05d", i))
	}
	for d := 1; d <= 9; d++ {
		splits = append(splits, fmt.Sprintf("usertable:user%d", d))
	}
	ctl(t, status, "region", "split", strconv.FormatUint(regionOf(t, status, "").ID, 10), "--keys", strings.Join(splits, ","))
	want := len(splits) + 1
	eventually(t, 60*time.Second, fmt.Sprintf("%d regions, each with a leader", want), func() bool {
		var rs ctlRegions
		if !ctlJSON(t, status, &rs, "region", "list") || rs.Count < want {
			return false
		}
		for _, r := range rs.Regions {
			if r.Leader == nil {
				return false
			}
		}
		return true
	})

	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprintf("rawkv/batch=%v", batch), func(t *testing.T) {
			start := time.Now()
			run := startTool(t, bins.rawconform, "-pd", sched, "-batch="+strconv.FormatBool(batch),
				"-min-regions", "64", "-duration", "12s")
			// While it runs: split the region of k01000 at k01010, and move
			// the leader of k00500's region to another store.
			time.Sleep(2 * time.Second)
			r := regionOf(t, status, "k01000")
			ctl(t, status, "region", "split", strconv.FormatUint(r.ID, 10), "--keys", "k01010")
			eventually(t, 30*time.Second, "the split at k01010", func() bool {
				return regionOf(t, status, "k01010").StartKey == hex.EncodeToString([]byte("k01010"))
			})
			l := regionOf(t, status, "k00500")
			to := otherStore(t, l)
			ctl(t, status, "operator", "add", "transfer-leader", strconv.FormatUint(l.ID, 10), strconv.FormatUint(to, 10))
			eventually(t, 30*time.Second, "the leader transfer", func() bool {
				r := regionOf(t, status, "k00500")
				return r.Leader != nil && r.Leader.StoreID == to
			})
			out := run.wait(t, 4*time.Minute)
			if !strings.Contains(out, "PASS") {
				t.Fatalf("rawconform did not pass:\n%s", out)
			}
			t.Logf("rawconform batch=%v: %s in %v", batch,
				strings.Join(regexp.MustCompile(`(PD API|round \d+|BatchCommands)[^\n]*`).FindAllString(out, -1), "; "), time.Since(start).Round(time.Second))
		})
	}

	// client-go with its security config against a cluster on mutual TLS:
	// refused without it, every conformance step with it.
	t.Run("rawkv/tls", func(t *testing.T) {
		p, tsched, _ := startPlayground(t, "--tls", "--data-dir", t.TempDir())
		flags := strings.Fields(p.WaitLine(t, playgroundTLSFlags, 10*time.Second)[1]) // --cacert A --cert B --key C
		eventually(t, 60*time.Second, "the first region replicated on 3 stores with a leader", func() bool {
			var rs ctlRegions
			return ctlJSON(t, tsched, &rs, append([]string{"region", "list"}, flags...)...) && rs.Count == 1 &&
				len(rs.Regions[0].Peers) == 3 && rs.Regions[0].Leader != nil
		})
		// Without it, client-go's PD client retries for minutes: wait until
		// the scheduler logs the refusal, then stop it.
		plain := startTool(t, bins.rawconform, "-pd", tsched, "-timeout", "30s")
		eventually(t, 30*time.Second, "the scheduler refuses client-go in plaintext", func() bool {
			return strings.Contains(p.Output(), "refused a plaintext connection")
		})
		if out := plain.stop(); strings.Contains(out, "PD API ok") || strings.Contains(out, "PASS") {
			t.Fatalf("client-go without a security config got through a TLS cluster:\n%s", tail(out, 4000))
		}
		start := time.Now()
		out := startTool(t, bins.rawconform, "-pd", tsched, "-cacert", flags[1], "-cert", flags[3], "-key", flags[5],
			"-keys", "500").wait(t, 4*time.Minute)
		if !strings.Contains(out, "PASS") {
			t.Fatalf("rawconform over TLS did not pass:\n%s", out)
		}
		t.Logf("rawconform over TLS: %s in %v",
			strings.Join(regexp.MustCompile(`(PD API|round \d+)[^\n]*`).FindAllString(out, -1), "; "), time.Since(start).Round(time.Second))
	})

	for _, w := range []string{"workloada", "workloadc", "workloade"} {
		t.Run("ycsb/"+w, func(t *testing.T) {
			for _, phase := range []string{"load", "run"} {
				out := startTool(t, bins.goYCSB, phase, "tikv", "-P", filepath.Join(bins.workloads, w),
					"-p", "tikv.pd="+sched, "-p", "tikv.type=raw", "-p", "tikv.conncount=4",
					"-p", "recordcount=10000", "-p", "operationcount=10000", "-p", "threadcount=16").wait(t, 4*time.Minute)
				summary := ycsbSummary(out)
				if strings.Contains(out, "_ERROR") || len(summary) == 0 {
					t.Fatalf("go-ycsb %s %s reported errors or no results:\n%s", phase, w, tail(out, 4000))
				}
				for _, line := range summary {
					t.Logf("go-ycsb %s %s: %s", phase, w, line)
				}
			}
		})
	}
}

type tikvCompatBins struct{ rawconform, goYCSB, workloads string }

// buildTiKVCompat builds the nested module's programs, or skips the test
// when that would need the network and REGIONKV_TIKV_COMPAT is not set.
func buildTiKVCompat(t *testing.T) tikvCompatBins {
	t.Helper()
	dir := t.TempDir()
	env := os.Environ()
	if os.Getenv("REGIONKV_TIKV_COMPAT") != "1" {
		// Only what the local module cache holds; a miss skips.
		env = append(env, "GOPROXY=off")
	}
	goCmd := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = "tikvcompat"
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	start := time.Now()
	b := tikvCompatBins{rawconform: filepath.Join(dir, "rawconform"), goYCSB: filepath.Join(dir, "go-ycsb")}
	for _, args := range [][]string{
		{"build", "-o", b.rawconform, "./rawconform"},
		{"build", "-o", b.goYCSB, "github.com/pingcap/go-ycsb/cmd/go-ycsb"},
	} {
		if out, err := goCmd(args...); err != nil {
			if os.Getenv("REGIONKV_TIKV_COMPAT") != "1" {
				t.Skipf("the TiKV client modules are not in the local module cache (go %s: %v); "+
					"set REGIONKV_TIKV_COMPAT=1 to download them and run", strings.Join(args, " "), err)
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := goCmd("list", "-m", "-f", "{{.Dir}}", "github.com/pingcap/go-ycsb")
	if err != nil {
		t.Fatalf("locate go-ycsb's workloads: %v\n%s", err, out)
	}
	b.workloads = filepath.Join(strings.TrimSpace(out), "workloads")
	t.Logf("built rawconform and go-ycsb in %v", time.Since(start).Round(time.Second))
	return b
}

// tool is a non-regionkv program run by a test, with its combined output.
type tool struct {
	cmd  *exec.Cmd
	out  bytes.Buffer  // written by cmd until done is closed
	done chan struct{} // closed once cmd has exited
	err  error         // cmd's exit error, once done
}

func startTool(t *testing.T, bin string, args ...string) *tool {
	t.Helper()
	tl := &tool{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	tl.cmd.Stdout, tl.cmd.Stderr = &tl.out, &tl.out
	if err := tl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		tl.err = tl.cmd.Wait()
		close(tl.done)
	}()
	t.Cleanup(func() {
		select {
		case <-tl.done:
		default:
			_ = tl.cmd.Process.Kill()
			<-tl.done
		}
	})
	return tl
}

// wait waits for the program to exit 0 and returns its output.
func (tl *tool) wait(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case <-tl.done:
		if tl.err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(tl.cmd.Path), tl.err, tail(tl.out.String(), 8000))
		}
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v\n%s", filepath.Base(tl.cmd.Path), timeout, tail(tl.stop(), 8000))
	}
	return tl.out.String()
}

// stop kills the program if it still runs and returns its output.
func (tl *tool) stop() string {
	_ = tl.cmd.Process.Kill()
	<-tl.done
	return tl.out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var ycsbResult = regexp.MustCompile(`(?m)^([A-Z_]+)\s+- Takes\(s\): [\d.]+, Count: (\d+), OPS: ([\d.]+), .*99th\(us\): (\d+),`)

// ycsbSummary returns "OP: count, ops/s, p99" for each operation of go-ycsb's
// final report.
func ycsbSummary(out string) []string {
	i := strings.LastIndex(out, "Run finished")
	if i < 0 {
		return nil
	}
	var lines []string
	for _, m := range ycsbResult.FindAllStringSubmatch(out[i:], -1) {
		lines = append(lines, fmt.Sprintf("%s count=%s ops/s=%s p99=%sus", m[1], m[2], m[3], m[4]))
	}
	return lines
}

type ctlRegion struct {
	ID       uint64 `json:"id"`
	StartKey string `json:"start-key"`
	EndKey   string `json:"end-key"`
	Peers    []struct {
		StoreID uint64 `json:"store-id"`
	} `json:"peers"`
	Leader *struct {
		StoreID uint64 `json:"store-id"`
	} `json:"leader"`
}

// regionOf returns the region holding key, as the scheduler sees it.
func regionOf(t *testing.T, status, key string) ctlRegion {
	t.Helper()
	var r ctlRegion
	k := key
	if k == "" {
		k = "0x00"
	}
	if !ctlJSON(t, status, &r, "region", "key", k) {
		t.Fatalf("ctl region key %q failed", key)
	}
	return r
}

// otherStore returns a store of r's peers other than its leader's.
func otherStore(t *testing.T, r ctlRegion) uint64 {
	t.Helper()
	for _, p := range r.Peers {
		if r.Leader == nil || p.StoreID != r.Leader.StoreID {
			return p.StoreID
		}
	}
	t.Fatalf("region %d has no follower", r.ID)
	return 0
}

func ctl(t *testing.T, status string, args ...string) {
	t.Helper()
	if out, errOut, code := runCLI(t, append([]string{"ctl", "--scheduler", "http://" + status}, args...)...); code != 0 {
		t.Fatalf("ctl %v: exit %d: %s%s", args, code, out, errOut)
	}
}
