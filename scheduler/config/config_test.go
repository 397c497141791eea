package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
