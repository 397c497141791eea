package logging

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regionkv/regionkv/proto/common/units"
)

func TestValidate(t *testing.T) {
	ok := Default()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"level":       {Level: "bogus", Format: "text", MaxSize: units.MiB},
		"format":      {Level: "info", Format: "xml", MaxSize: units.MiB},
		"max-size":    {Level: "info", Format: "text", File: "x.log", MaxSize: 1000},
		"max-days":    {Level: "info", Format: "text", MaxDays: -1},
		"max-backups": {Level: "info", Format: "text", MaxBackups: -2},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad %s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestBuildToFile: a file logger writes at the configured level and
// format: json lines at warn, nothing below.
func TestBuildToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.log")
	c := Config{Level: "warn", Format: "json", File: path, MaxSize: 10 * units.MiB, MaxBackups: 2}
	lg, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	lg.Info("hidden")
	lg.Warn("shown")
	_ = lg.Sync()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want 1:\n%s", len(lines), b)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil || entry["message"] != "shown" {
		t.Fatalf("line %q: %v %v", lines[0], entry, err)
	}
}

func TestBuildRefusesBadConfig(t *testing.T) {
	if _, err := (Config{Level: "loud", Format: "text"}).Build(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Build = %v, want ErrInvalid", err)
	}
}
