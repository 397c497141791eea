package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadValidateSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.toml")
	err := os.WriteFile(path, []byte(`
name = "a"
addr = "127.0.0.1:2379"
data-dir = "/tmp/x"
[schedule]
max-store-down-time = "5m"
schedulers = ["balance-leader"]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Schedule.MaxStoreDownTime.Duration != 5*time.Minute || c.Schedule.MaxReplicas != 3 ||
		len(c.Schedule.Schedulers) != 1 {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("bogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(path); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown key: %v", err)
	}
	bad := Default()
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no data dir: %v", err)
	}
	s := DefaultSchedule()
	if err := s.Set("max-replicas", json.RawMessage("5")); err != nil || s.MaxReplicas != 5 {
		t.Fatalf("set: %v %d", err, s.MaxReplicas)
	}
	if err := s.Set("max-replicas", json.RawMessage("0")); !errors.Is(err, ErrInvalid) || s.MaxReplicas != 5 {
		t.Fatalf("invalid set: %v %d", err, s.MaxReplicas)
	}
	if err := s.Set("patrol-interval", json.RawMessage(`"1s"`)); err != nil || s.PatrolInterval.Duration != time.Second {
		t.Fatalf("duration set: %v", err)
	}
}

// TestReadableDurationsAndLog: durations take days, the [log] table loads
// and is validated, and the defaults print in the readable form.
func TestReadableDurationsAndLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.toml")
	if err := os.WriteFile(path, []byte("data-dir = \"/d\"\n[schedule]\nmax-store-down-time = \"2d\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if c.Schedule.MaxStoreDownTime.Duration != 48*time.Hour || c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Log.Level = "chatty"
	if err := c.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad log level: %v, want ErrInvalid", err)
	}
	b, err := json.Marshal(DefaultSchedule())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["max-store-down-time"] != "30m" || m["patrol-interval"] != "10ms" {
		t.Fatalf("defaults as JSON: %s", b)
	}
}

// TestScheduleRanges: every knob has a range, and a change of several
// knobs is applied whole or not at all.
func TestScheduleRanges(t *testing.T) {
	for _, tc := range []struct {
		key, value string
	}{
		{"max-store-down-time", `"1ms"`},
		{"store-disconnect-time", `"1h"`}, // above max-store-down-time (30m)
		{"store-disconnect-time", `"1ns"`},
		{"patrol-interval", `"1ns"`},
		{"schedule-interval", `"2h"`},
		{"operator-timeout", `"0s"`},
		{"max-replicas", `0`},
		{"max-replicas", `11`},
		{"patrol-batch", `0`},
		{"store-limit", `0`},
		{"leader-schedule-limit", `-1`},
		{"region-schedule-limit", `100000`},
		{"tolerance", `1.5`},
		{"low-space-ratio", `0`},
		{"schedulers", `["balance-leader", "balance-leader"]`},
		{"max-replicas", `"3"`},
		{"max-replicas", `3.5`},
	} {
		s := DefaultSchedule()
		if err := s.Set(tc.key, json.RawMessage(tc.value)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s = %s: %v, want refused", tc.key, tc.value, err)
		}
	}
	s := DefaultSchedule()
	err := s.SetAll(map[string]json.RawMessage{
		"max-replicas": json.RawMessage(`5`), "tolerance": json.RawMessage(`0.2`), "patrol-interval": json.RawMessage(`"1ns"`),
	})
	if !errors.Is(err, ErrInvalid) || s.MaxReplicas != 3 || s.Tolerance != 0.05 {
		t.Fatalf("half-bad change: %v, max-replicas %d tolerance %v (want nothing applied)", err, s.MaxReplicas, s.Tolerance)
	}
	if err := s.SetAll(map[string]json.RawMessage{"max-replicas": json.RawMessage(`5`), "tolerance": json.RawMessage(`0.2`)}); err != nil ||
		s.MaxReplicas != 5 || s.Tolerance != 0.2 {
		t.Fatalf("good change: %v, %+v", err, s)
	}
	if err := s.CheckSchedulers([]string{"balance-region"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown scheduler balance-leader: %v", err)
	}
	c := Default()
	c.DataDir = "/tmp/x"
	c.LeaderLease = D(time.Hour)
	if err := c.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("leader-lease 1h: %v", err)
	}
}

// TestSecurityTableAndSchemes: with [security], the embedded etcd's peers
// must be https:// and an external etcd may be https://; without it,
// https:// endpoints are refused (no client certificate to give), and
// http:// and https:// endpoints do not mix.
func TestSecurityTableAndSchemes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.toml")
	if err := os.WriteFile(path, []byte(`
data-dir = "/tmp/x"
[security]
ca-path = "/ca.pem"
cert-path = "/s.pem"
key-path = "/s-key.pem"
cert-allowed-cn = ["regionkv-server"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if !c.Security.Enabled() || c.PeerScheme() != "https" {
		t.Fatalf("loaded [security] %+v, peer scheme %s", c.Security, c.PeerScheme())
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" for valid
	}{
		{"https peers", func(c *Config) { c.InitialCluster = "a=https://127.0.0.1:2380" }, ""},
		{"http peers", func(c *Config) { c.InitialCluster = "a=http://127.0.0.1:2380" }, "must be https://"},
		{"https etcd", func(c *Config) { c.EtcdEndpoints = []string{"https://127.0.0.1:2379"} }, ""},
		{"mixed etcd", func(c *Config) { c.EtcdEndpoints = []string{"https://127.0.0.1:2379", "http://127.0.0.1:2479"} }, "mix"},
		{"https etcd, no TLS", func(c *Config) {
			c.Security = Default().Security
			c.EtcdEndpoints = []string{"https://127.0.0.1:2379"}
		}, "need [security]"},
		{"http peers, no TLS", func(c *Config) {
			c.Security = Default().Security
			c.InitialCluster = "a=http://127.0.0.1:2380"
		}, ""},
	} {
		cc := c
		tc.edit(&cc)
		err := cc.Validate()
		if tc.wantErr == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.wantErr != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.wantErr)
		}
	}
}
