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
