package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runBench runs `bench args...` through the command and decodes its JSON
// report.
func runBench(t *testing.T, args ...string) Report {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "-o", "json", "--quiet", "--records", "200", "--operations", "300",
		"--threads", "4", "--duration", "20s", "--workload", "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, errOut.String())
	}
	var rep Report
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not well-formed JSON: %v\n%s", err, out.String())
	}
	return rep
}

// checkReport: a load phase of 200 records and a run phase of 300
// operations of workload a (reads and updates), without errors.
func checkReport(t *testing.T, rep Report) {
	t.Helper()
	if len(rep.Results) != 2 || rep.Results[0].Phase != "load" || rep.Results[1].Phase != "run" {
		t.Fatalf("phases: %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Total.Errors != 0 {
			t.Errorf("%s: %d errors: %v", r.Phase, r.Total.Errors, r.Total.ErrorSample)
		}
	}
	run := rep.Results[1]
	if run.Total.Count != 300 {
		t.Errorf("run: %d operations, want 300", run.Total.Count)
	}
	kinds := map[Op]int64{}
	for _, o := range run.Ops {
		kinds[o.Op] = o.Count
		if o.Count > 0 && (o.P50Us <= 0 || o.P99Us < o.P50Us || o.MaxUs < o.P99Us || o.OpsPerSec <= 0) {
			t.Errorf("%s: inconsistent latencies %+v", o.Op, o)
		}
	}
	if kinds[OpRead] == 0 || kinds[OpUpdate] == 0 || len(kinds) != 2 {
		t.Errorf("run ops %v, want reads and updates", kinds)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEndToEndEtcd runs load and workload a against a one-member embedded
// etcd through the etcd target.
func TestEndToEndEtcd(t *testing.T) {
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	client, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	checkReport(t, runBench(t, "--target", "etcd", "--endpoints", client.Host))
}

var storeStarted = regexp.MustCompile(`"store server started"\] \[addr=([^\]]+)\]`)

// TestEndToEndStandaloneStore builds the binary, starts one standalone
// store process and runs load and workload a against it through the
// regionkv target.
func TestEndToEndStandaloneStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "regionkv")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := exec.CommandContext(ctx, bin, "server", "--standalone", "--addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "store"))
	stderr, err := p.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = p.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := storeStarted.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		checkReport(t, runBench(t, "--target", "regionkv", "--addr", a))
	case <-time.After(30 * time.Second):
		t.Fatal("store did not start")
	}
}
