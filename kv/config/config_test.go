package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "store.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadKeepsDefaultsAndReadsKeys(t *testing.T) {
	c := Default()
	if err := c.Load(writeFile(t, "addr = \"127.0.0.1:3000\"\ndata-dir = \"/d\"\nmax-scan-limit = 7\n")); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Addr, want.DataDir, want.MaxScanLimit = "127.0.0.1:3000", "/d", 7
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("loaded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsUnknownKeysByName(t *testing.T) {
	c := Default()
	err := c.Load(writeFile(t, "addr = \"127.0.0.1:3000\"\nmax-key-sise = 5\n"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "max-key-sise") {
		t.Fatalf("Load = %v, want ErrInvalid naming max-key-sise", err)
	}
}

func TestLoadRejectsBadTypes(t *testing.T) {
	c := Default()
	if err := c.Load(writeFile(t, "max-key-size = \"big\"\n")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load = %v, want ErrInvalid", err)
	}
}

// TestDefaultTOMLRoundTrips: what --print-default-config prints loads back
// to the defaults.
func TestDefaultTOMLRoundTrips(t *testing.T) {
	b, err := Default().TOML()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{}
	if err := c.Load(writeFile(t, string(b))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("round trip gave %+v, want %+v", c, Default())
	}
}

func TestResolvedStatusAddr(t *testing.T) {
	for _, tc := range []struct{ addr, status, want string }{
		{"127.0.0.1:20160", "", "127.0.0.1:20180"},
		{"127.0.0.1:0", "", "127.0.0.1:0"},
		{"127.0.0.1:20160", "0.0.0.0:9000", "0.0.0.0:9000"},
	} {
		c := Config{Addr: tc.addr, StatusAddr: tc.status}
		if got := c.ResolvedStatusAddr(); got != tc.want {
			t.Errorf("ResolvedStatusAddr(%q, %q) = %q, want %q", tc.addr, tc.status, got, tc.want)
		}
	}
}

// TestLoadRaftstoreTable: the [raftstore] table reads durations as strings
// and sizes as integers; keys it does not set keep their defaults.
func TestLoadRaftstoreTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.toml")
	body := "data-dir = \"/d\"\n[raftstore]\nregion-split-size = 4096\nregion-max-size = 8192\nregion-heartbeat-interval = \"500ms\"\nhibernate-regions = false\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	r := c.Raftstore
	if r.RegionSplitSize != 4096 || r.RegionMaxSize != 8192 || r.RegionHeartbeatInterval.Duration != 500*time.Millisecond ||
		r.HibernateRegions || r.StoreHeartbeatInterval != DefaultRaftstore().StoreHeartbeatInterval {
		t.Fatalf("raftstore = %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Raftstore.RegionMaxSize = 1
	if err := c.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("max < split: %v, want ErrInvalid", err)
	}
}

// TestRaftstoreTicksAndPools: Raft's timing and the worker pools are read
// from the [raftstore] table, and settings that cannot work are refused by
// name before a store starts.
func TestRaftstoreTicksAndPools(t *testing.T) {
	path := writeFile(t, "data-dir = \"/d\"\n[raftstore]\nraft-election-timeout-ticks = 20\nraft-heartbeat-ticks = 4\nstore-pool-size = 3\napply-pool-size = 2\n")
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if r := c.Raftstore; r.RaftElectionTimeoutTicks != 20 || r.RaftHeartbeatTicks != 4 || r.StorePoolSize != 3 || r.ApplyPoolSize != 2 {
		t.Fatalf("raftstore = %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		tweak func(*Raftstore)
		want  string
	}{
		{"heartbeat not below election", func(r *Raftstore) { r.RaftHeartbeatTicks = 20 }, "raft-heartbeat-ticks"},
		{"no heartbeat", func(r *Raftstore) { r.RaftHeartbeatTicks = 0 }, "raft-heartbeat-ticks"},
		{"election too short for a lease", func(r *Raftstore) { r.RaftElectionTimeoutTicks, r.RaftHeartbeatTicks = 3, 1 }, "raft-election-timeout-ticks"},
		{"no raft workers", func(r *Raftstore) { r.StorePoolSize = 0 }, "store-pool-size"},
		{"no apply workers", func(r *Raftstore) { r.ApplyPoolSize = -1 }, "apply-pool-size"},
	} {
		bad := c
		tc.tweak(&bad.Raftstore)
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want ErrInvalid naming %s", tc.name, err, tc.want)
		}
	}
}

// TestSchedulerAddrs: a store may name every member of a scheduler cluster;
// a malformed address is refused by name.
func TestSchedulerAddrs(t *testing.T) {
	c := Default()
	c.DataDir = t.TempDir()
	c.Scheduler = " 127.0.0.1:2379, 127.0.0.1:3379 ,,127.0.0.1:4379"
	if got, want := c.SchedulerAddrs(), []string{"127.0.0.1:2379", "127.0.0.1:3379", "127.0.0.1:4379"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("SchedulerAddrs = %q, want %q", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("three scheduler addresses refused: %v", err)
	}
	c.Scheduler = "127.0.0.1:2379,nonsense"
	if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Fatalf("Validate with a bad scheduler address = %v, want ErrInvalid naming it", err)
	}
}

// TestReadableSizesLogAndRaftLogGC: sizes take units (and plain bytes
// still), the [log] table and the raft log GC keys load, and bad values
// are refused with the key's name.
func TestReadableSizesLogAndRaftLogGC(t *testing.T) {
	c := Default()
	err := c.Load(writeFile(t, `data-dir = "/d"
[raftstore]
region-max-size = "144MiB"
region-split-size = 100663296
raft-log-gc-tick-interval = "3s"
raft-log-gc-count-limit = 500
raft-log-gc-size-limit = "8MiB"
[log]
level = "warn"
format = "json"
file = "/var/log/regionkv/store.log"
max-size = "64MiB"
max-days = 7
max-backups = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Raftstore
	if r.RegionMaxSize != 144<<20 || r.RegionSplitSize != 96<<20 || r.RaftLogGCTickInterval.Duration != 3*time.Second ||
		r.RaftLogGCCountLimit != 500 || r.RaftLogGCSizeLimit != 8<<20 {
		t.Fatalf("raftstore %+v", r)
	}
	if l := c.Log; l.Level != "warn" || l.Format != "json" || l.File != "/var/log/regionkv/store.log" || l.MaxSize != 64<<20 ||
		l.MaxDays != 7 || l.MaxBackups != 3 {
		t.Fatalf("log %+v", l)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for body, key := range map[string]string{
		"[raftstore]\nregion-max-size = \"144XB\"\n":          "region-max-size",
		"[raftstore]\nraft-log-gc-tick-interval = \"soon\"\n": "raft-log-gc-tick-interval",
	} {
		c := Default()
		if err := c.Load(writeFile(t, body)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Errorf("Load(%q) = %v, want ErrInvalid naming %s", body, err, key)
		}
	}
	for name, bad := range map[string]func(*Config){
		"log level":         func(c *Config) { c.Log.Level = "loud" },
		"raft log gc count": func(c *Config) { c.Raftstore.RaftLogGCCountLimit = 0 },
		"raft log gc tick":  func(c *Config) { c.Raftstore.RaftLogGCTickInterval = D(time.Millisecond) },
	} {
		c := Default()
		c.DataDir = "/d"
		bad(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

// TestLoadSecurityTable: the [security] table turns TLS on; a partial one
// is refused naming what is missing.
func TestLoadSecurityTable(t *testing.T) {
	c := Default()
	if err := c.Load(writeFile(t, `data-dir = "/d"
[security]
ca-path = "/etc/regionkv/ca.pem"
cert-path = "/etc/regionkv/store.pem"
key-path = "/etc/regionkv/store-key.pem"
cert-allowed-cn = ["regionkv-server", "regionkv-client"]
`)); err != nil {
		t.Fatal(err)
	}
	if s := c.Security; !s.Enabled() || s.KeyPath != "/etc/regionkv/store-key.pem" || len(s.CertAllowedCN) != 2 {
		t.Fatalf("loaded [security] %+v", s)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Default()
	if err := c.Load(writeFile(t, "data-dir = \"/d\"\n[security]\nca-path = \"/ca.pem\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cert-path and key-path not set") {
		t.Fatalf("a [security] table with only ca-path: %v", err)
	}
}

// TestSplitTable: the [split] table sets load-based split; keys it does not
// set keep their defaults, and values that cannot work are refused by name.
func TestSplitTable(t *testing.T) {
	path := writeFile(t, "data-dir = \"/d\"\n[split]\nqps-threshold = 500\nbyte-threshold = \"8MiB\"\ndetect-times = 5\n")
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if s := c.Split; s.QPSThreshold != 500 || s.ByteThreshold != 8<<20 || s.DetectTimes != 5 || s.SampleNum != DefaultSplit().SampleNum {
		t.Fatalf("split = %+v", s)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tweak func(*Split)
		want  string
	}{
		{func(s *Split) { s.DetectTimes = 1 }, "detect-times"},
		{func(s *Split) { s.SampleNum = 8 }, "sample-num"},
		{func(s *Split) { s.SplitBalanceScore = 0 }, "split-balance-score"},
		{func(s *Split) { s.SplitContainedScore = 1.5 }, "split-contained-score"},
	} {
		bad := c
		tc.tweak(&bad.Split)
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want ErrInvalid naming %s", err, tc.want)
		}
	}
}
