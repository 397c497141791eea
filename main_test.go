package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/playground"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/common/cli"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		walk(s, fn)
	}
}

// TestEveryCommandHasExamples: the help of every command shows examples.
func TestEveryCommandHasExamples(t *testing.T) {
	root, _ := newRoot()
	n := 0
	walk(root, func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	})
	if n < 50 {
		t.Fatalf("walked %d commands; the tree is larger", n)
	}
}

// TestUsageMistakesExitTwo: an unknown subcommand, a bad flag value or
// the wrong arguments exit 2 with the command's usage and name; a group
// alone prints its help and exits 0.
func TestUsageMistakesExitTwo(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"kv", "gett", "a"}, []string{`regionkv kv: unknown command "gett" (did you mean get?)`, "Usage:\n  regionkv kv [flags]"}},
		{[]string{"ctl", "store", "lst"}, []string{`regionkv ctl store: unknown command "lst" (did you mean list?)`, "Usage:"}},
		{[]string{"sever"}, []string{`regionkv: unknown command "sever" (did you mean server?)`}},
		{[]string{"kv", "put", "onlykey"}, []string{"regionkv kv put: accepts 2 arg(s), received 1", "Usage:\n  regionkv kv put KEY VALUE"}},
		{[]string{"--log-level", "bogus", "server"}, []string{`invalid argument "bogus" for "--log-level"`, "debug, info, warn, error"}},
		{[]string{"--log-format", "xml", "scheduler"}, []string{`invalid argument "xml" for "--log-format"`}},
		{[]string{"ctl", "-o", "yaml", "store", "list"}, []string{`invalid argument "yaml" for "-o, --output"`, "Usage:"}},
		{[]string{"kv", "get", "0xzz"}, []string{"regionkv kv get:", "0x prefix needs hex digits", "Usage:"}},
		{[]string{"kv", "scan", "a", "--limit", "0"}, []string{"--limit must be positive"}},
		{[]string{"ctl", "store", "show", "one"}, []string{"store ID must be a number", "Usage:"}},
		{[]string{"bench", "--target", "redis"}, []string{`unknown --target "redis"`}},
		{[]string{"playground", "--host", "0.0.0.0"}, []string{"give an address of this machine", "Usage:"}},
		{[]string{"server", "--max-key-size", "big"}, []string{`invalid argument "big" for "--max-key-size"`}},
	} {
		code, out, errOut := runArgs(t, c.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\nstdout %q\nstderr %q", c.args, code, out, errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, errOut)
			}
		}
	}
	for _, args := range [][]string{{"kv"}, {"ctl", "store"}, {"ctl", "operator", "add"}} {
		code, out, errOut := runArgs(t, args...)
		if code != 0 || !strings.Contains(out, "Available Commands") || errOut != "" {
			t.Errorf("%v alone: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	_, v1, _ := runArgs(t, "version")
	_, v2, _ := runArgs(t, "--version")
	if !strings.HasPrefix(v1, "regionkv ") || !strings.Contains(v1, "go1.") || v1 != v2 {
		t.Fatalf("version %q, --version %q", v1, v2)
	}
	code, out, _ := runArgs(t, "version", "-o", "json")
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go-version"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go1.") {
		t.Fatalf("version -o json: exit %d %q", code, out)
	}
}

// TestDeprecatedFlagsAreHiddenAliases: the old names still work, set what
// the new ones set, and are hidden from the help.
func TestDeprecatedFlagsAreHiddenAliases(t *testing.T) {
	root, _ := newRoot()
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, a := range []struct {
		path     []string
		old, new string
	}{
		{[]string{"bench"}, "store", "addr"},
		{[]string{"playground"}, "scheduler-addr", "scheduler"},
	} {
		c := find(a.path...)
		fs := c.Flags()
		if c.Flags().Lookup(a.old) == nil {
			fs = c.PersistentFlags()
		}
		old := fs.Lookup(a.old)
		if old == nil || !old.Hidden || old.Deprecated == "" {
			t.Fatalf("%s --%s: %+v, want a hidden deprecated flag", c.CommandPath(), a.old, old)
		}
		if err := fs.Set(a.old, "127.0.0.1:9"); err != nil {
			t.Fatal(err)
		}
		if got := fs.Lookup(a.new).Value.String(); got != "127.0.0.1:9" {
			t.Fatalf("%s --%s set --%s to %q", c.CommandPath(), a.old, a.new, got)
		}
		if strings.Contains(c.UsageString(), "--"+a.old) {
			t.Fatalf("%s help shows --%s", c.CommandPath(), a.old)
		}
	}
	for _, d := range []struct {
		path []string
		flag string
	}{{[]string{"bench"}, "format"}, {[]string{"bench"}, "scheduler-api"}, {[]string{"scheduler"}, "status-addr"}} {
		c := find(d.path...)
		f := c.Flags().Lookup(d.flag)
		if f == nil {
			f = c.PersistentFlags().Lookup(d.flag)
		}
		if f == nil || !f.Hidden || f.Deprecated == "" {
			t.Fatalf("%s --%s: %+v, want a hidden deprecated flag", c.CommandPath(), d.flag, f)
		}
	}
}

// TestKVHexKeysJSONAndScanLimit runs `regionkv kv` against a standalone
// store: hex keys and values, -o json, the note at --limit, and
// --scheduler with --addr refused.
func TestKVHexKeysJSONAndScanLimit(t *testing.T) {
	cfg := config.Default()
	cfg.Addr, cfg.StatusAddr, cfg.DataDir, cfg.Standalone = "127.0.0.1:0", "127.0.0.1:0", t.TempDir(), true
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan server.Started, 1)
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, zap.NewNop(), func(s server.Started) { started <- s }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("store: %v", err)
		}
	}()
	var addr string
	select {
	case s := <-started:
		addr = s.Addr
	case err := <-done:
		t.Fatalf("store did not start: %v", err)
	}
	kv := func(args ...string) (int, string, string) {
		return runArgs(t, append([]string{"kv", "--addr", addr}, args...)...)
	}
	if code, _, errOut := kv("put", "0x00ff", "0xcafe"); code != 0 {
		t.Fatalf("put hex: %d %s", code, errOut)
	}
	if code, out, _ := kv("get", "0x00ff"); code != 0 || out != "\xca\xfe\n" {
		t.Fatalf("get hex: %d %q", code, out)
	}
	code, out, _ := kv("get", "0x00ff", "-o", "json")
	var p struct{ Key, Value string }
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Key != "0x00ff" || p.Value != "0xcafe" {
		t.Fatalf("get -o json: %d %q", code, out)
	}
	for _, k := range []string{"a", "b", "c"} {
		if code, _, errOut := kv("put", k, "v"+k); code != 0 {
			t.Fatalf("put %s: %s", k, errOut)
		}
	}
	code, out, errOut := kv("scan", "a", "z", "--limit", "2")
	if code != 0 || out != "a\tva\nb\tvb\n" || !strings.Contains(errOut, "stopped at --limit 2; keys after b may follow") {
		t.Fatalf("scan at the limit: %d %q %q", code, out, errOut)
	}
	code, out, errOut = kv("scan", "a", "z", "--limit", "5", "-o", "json")
	var pairs []struct{ Key, Value string }
	if code != 0 || errOut != "" || json.Unmarshal([]byte(out), &pairs) != nil || len(pairs) != 3 || pairs[2].Value != "vc" {
		t.Fatalf("scan below the limit: %d %q %q", code, out, errOut)
	}
	if code, _, _ := kv("get", "nothing"); code != 1 {
		t.Fatalf("get of a missing key: exit %d, want 1", code)
	}
	if code, _, errOut := kv("--scheduler", "127.0.0.1:2379", "get", "a"); code != 2 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--scheduler with --addr: %d %q", code, errOut)
	}
}

// TestOneAddressForEveryTool starts a scheduler and a store in-process and
// points kv, ctl and bench at the one scheduler address, given as a flag
// or through REGIONKV_SCHEDULER.
func TestOneAddressForEveryTool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan playground.Cluster, 1)
	done := make(chan error, 1)
	cfg := playground.Config{Stores: 1, Host: "127.0.0.1", SchedulerAddr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "pg")}
	go func() {
		done <- playground.Run(ctx, cfg, zap.NewNop(), &bytes.Buffer{}, func(c playground.Cluster) { ready <- c })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("playground: %v", err)
		}
	}()
	var sched string
	select {
	case c := <-ready:
		sched = c.SchedulerAddr
	case err := <-done:
		t.Fatalf("playground: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("playground did not start")
	}
	if code, _, errOut := runArgs(t, "kv", "--scheduler", sched, "put", "k", "v"); code != 0 {
		t.Fatalf("kv put via %s: %s", sched, errOut)
	}
	t.Setenv(cli.SchedulerEnv, sched)
	if code, out, errOut := runArgs(t, "kv", "get", "k"); code != 0 || out != "v\n" {
		t.Fatalf("kv get via %s: %d %q %s", cli.SchedulerEnv, code, out, errOut)
	}
	code, out, errOut := runArgs(t, "ctl", "store", "list", "-o", "json")
	var stores struct {
		Count int `json:"count"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &stores) != nil || stores.Count != 1 {
		t.Fatalf("ctl store list via %s: %d %q %s", cli.SchedulerEnv, code, out, errOut)
	}
	if code, out, errOut := runArgs(t, "ctl", "--scheduler", "http://"+sched, "health"); code != 0 || !strings.Contains(out, "true") {
		t.Fatalf("ctl health via http://%s: %d %q %s", sched, code, out, errOut)
	}
	// bench pre-splits through the HTTP API and writes through gRPC, both
	// at --scheduler.
	code, out, errOut = runArgs(t, "bench", "--scheduler", sched, "--regions", "2", "--records", "40", "--operations", "40",
		"--threads", "2", "--workload", "put", "--quiet", "-o", "json")
	var rep struct {
		Results []struct {
			Total struct{ Count, Errors int }
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Results) != 2 || rep.Results[1].Total.Count != 40 ||
		rep.Results[1].Total.Errors != 0 || !strings.Contains(errOut, "pre-split: 2 regions") {
		t.Fatalf("bench: %d %q %s", code, out, errOut)
	}
}

// TestConfigCheck: --config-check says whether a config file and the flags
// are valid, and exits without serving.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("store.toml", "data-dir = \"/tmp/x\"\n[raftstore]\nregion-max-size = \"256MiB\"\nregion-split-size = \"128MiB\"\n[log]\nlevel = \"warn\"\n")
	if code, out, errOut := runArgs(t, "server", "--config", good, "--config-check"); code != 0 || out != "config is valid\n" {
		t.Fatalf("good store config: %d %q %q", code, out, errOut)
	}
	bad := write("bad.toml", "data-dir = \"/tmp/x\"\n[raftstore]\nregion-max-size = \"1MiB\"\n")
	if code, _, errOut := runArgs(t, "server", "--config", bad, "--config-check"); code != 2 || !strings.Contains(errOut, "region-split-size") {
		t.Fatalf("split size above max size: %d %q", code, errOut)
	}
	sched := write("scheduler.toml", "data-dir = \"/tmp/y\"\n[schedule]\nmax-store-down-time = \"1d\"\n[log]\nformat = \"yaml\"\n")
	if code, _, errOut := runArgs(t, "scheduler", "--config", sched, "--config-check"); code != 2 || !strings.Contains(errOut, `log format "yaml"`) {
		t.Fatalf("bad scheduler log format: %d %q", code, errOut)
	}
	good = write("scheduler-good.toml", "data-dir = \"/tmp/y\"\n[schedule]\nmax-store-down-time = \"1d\"\n")
	if code, out, errOut := runArgs(t, "scheduler", "--config", good, "--config-check"); code != 0 || out != "config is valid\n" {
		t.Fatalf("good scheduler config: %d %q %q", code, out, errOut)
	}
}
