package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var clusterIDField = regexp.MustCompile(`"scheduler started"\] .*\[cluster-id=(\d+)\]`)

// exitsWithin waits for p to exit, failing unless it does so within d with
// a non-zero status, and returns its log.
func exitsWithin(t *testing.T, p *proc, d time.Duration, what string) string {
	t.Helper()
	start := time.Now()
	if err := p.Wait(t, d); err == nil {
		t.Fatalf("%s exited 0", what)
	}
	t.Logf("%s exited non-zero after %v", what, time.Since(start).Round(time.Millisecond))
	return p.Output()
}

// TestSecondSchedulerOnHeldDataDir: a second scheduler, and a second
// playground, on a data dir another process holds exit non-zero within 2 s
// with the holder's PID (they used to hang in etcd's database open), and
// the first one's data is intact.
func TestSecondSchedulerOnHeldDataDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "scheduler")
	a := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", dir)
	sched := a.Addr(t)
	startStore(t, sched, filepath.Join(base, "store"), "127.0.0.1:0")
	kv := func(args ...string) (string, string, int) {
		return runCLI(t, append([]string{"kv", "--scheduler", sched, "--timeout", "20s"}, args...)...)
	}
	if _, errOut, code := kv("put", "k", "v"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}

	b := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", dir)
	out := exitsWithin(t, b, 2*time.Second, "a second scheduler on the data dir")
	if want := fmt.Sprintf("data dir %s is in use by another process (pid %d)", dir, a.Pid()); !strings.Contains(out, want) {
		t.Errorf("the second scheduler does not say %q:\n%s", want, out)
	}
	if out, errOut, code := kv("get", "k"); code != 0 || out != "v\n" {
		t.Fatalf("read back after the second scheduler: %q exit %d: %s", out, code, errOut)
	}

	// The same for a playground: its scheduler's dir is locked first.
	pg, psched, pdir := startPlayground(t, "--data-dir", filepath.Join(base, "pg"))
	if _, errOut, code := runCLI(t, "kv", "--scheduler", psched, "--timeout", "20s", "put", "pk", "pv"); code != 0 {
		t.Fatalf("put into the playground: %s", errOut)
	}
	second := startProc(t, "playground", "--data-dir", pdir, "--scheduler", "127.0.0.1:0", "--store-port", "0")
	out = exitsWithin(t, second, 2*time.Second, "a second playground on the data dir")
	if want := fmt.Sprintf("is in use by another process (pid %d)", pg.Pid()); !strings.Contains(out, want) {
		t.Errorf("the second playground does not say %q:\n%s", want, out)
	}
	if out, errOut, code := runCLI(t, "kv", "--scheduler", psched, "get", "pk"); code != 0 || out != "pv\n" {
		t.Fatalf("read back after the second playground: %q exit %d: %s", out, code, errOut)
	}
}

// TestStoreRefusesForeignDataDir: a store whose data dir was bootstrapped
// in one cluster refuses to start against another cluster's scheduler,
// naming both cluster IDs, and its data is intact: back with its own
// scheduler, it serves what it held.
func TestStoreRefusesForeignDataDir(t *testing.T) {
	base := t.TempDir()
	schedA := []string{"scheduler", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler-a")}
	storeDir := filepath.Join(base, "store")
	a := startProc(t, schedA...)
	sched := a.Addr(t)
	idA := a.WaitLine(t, clusterIDField, 30*time.Second)[1]
	s := startStore(t, sched, storeDir, "127.0.0.1:0")
	if _, errOut, code := runCLI(t, "kv", "--scheduler", sched, "--timeout", "20s", "put", "k", "v"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	for _, p := range []*proc{s.p, a} {
		p.Terminate(t)
		if err := p.Wait(t, 30*time.Second); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}

	b := startProc(t, "scheduler", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(base, "scheduler-b"))
	schedB := b.Addr(t)
	idB := b.WaitLine(t, clusterIDField, 30*time.Second)[1]
	if idA == idB {
		t.Fatalf("two schedulers on fresh dirs made the same cluster ID %s", idA)
	}
	foreign := startProc(t, "server", "--scheduler", schedB, "--addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0",
		"--data-dir", storeDir)
	out := exitsWithin(t, foreign, 30*time.Second, "a store on another cluster's data dir")
	want := fmt.Sprintf("belongs to cluster %s (store 1); the scheduler at %s serves cluster %s", idA, schedB, idB)
	if !strings.Contains(out, want) {
		t.Errorf("the store does not say %q:\n%s", want, out)
	}
	var stores ctlStores
	if !ctlJSON(t, schedB, &stores, "store", "list") || stores.Count != 0 {
		t.Errorf("the refused store registered with the other cluster: %+v", stores)
	}
	b.Terminate(t)
	if err := b.Wait(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	a = startProc(t, schedA...)
	sched = a.Addr(t)
	startStore(t, sched, storeDir, "127.0.0.1:0")
	if out, errOut, code := runCLI(t, "kv", "--scheduler", sched, "--timeout", "20s", "get", "k"); code != 0 || out != "v\n" {
		t.Fatalf("read back with its own cluster: %q exit %d: %s", out, code, errOut)
	}
}

// TestNewerDataDirFormatRefused: a scheduler's and a store's data dir
// written in a newer format than this build's are refused at start with a
// message that says so, and left as they were.
func TestNewerDataDirFormatRefused(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"scheduler", []string{"scheduler", "--addr", "127.0.0.1:0"}},
		{"store", []string{"server", "--standalone", "--addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"}},
	} {
		dir := filepath.Join(base, tc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "format-version"), []byte("99\n"))
		_, errOut, code := runCLI(t, append(tc.args, "--data-dir", dir)...)
		want := fmt.Sprintf("data dir %s has format version 99, but this regionkv reads versions up to 1", dir)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 saying %q", tc.name, code, errOut, want)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		// Only the lock file may have been added.
		if b, _ := os.ReadFile(filepath.Join(dir, "format-version")); string(b) != "99\n" || len(names) > 2 {
			t.Errorf("%s: the refused dir changed: format-version %q, entries %v", tc.name, b, names)
		}
	}
}
