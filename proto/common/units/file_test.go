package units

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFile(t *testing.T) {
	errBad := errors.New("bad config")
	type conf struct {
		Size Bytes    `toml:"size"`
		Wait Duration `toml:"wait"`
		Name string   `toml:"name"`
	}
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := conf{Name: "kept"}
	if err := LoadFile(write("size = \"2MiB\"\nwait = \"3s\"\n"), &c, errBad); err != nil {
		t.Fatal(err)
	}
	if c.Size != 2<<20 || c.Wait.Seconds() != 3 || c.Name != "kept" {
		t.Fatalf("loaded %+v; want size 2MiB, wait 3s, name kept from before", c)
	}
	err := LoadFile(write("size = 1\nsiez = 2\n"), &c, errBad)
	if !errors.Is(err, errBad) || !strings.Contains(err.Error(), "siez") {
		t.Fatalf("unknown key: %v; want the caller's sentinel and the key's name", err)
	}
	if err := LoadFile(write("size = ["), &c, errBad); !errors.Is(err, errBad) {
		t.Fatalf("undecodable file: %v; want the caller's sentinel", err)
	}
	if err := LoadFile(filepath.Join(dir, "missing.toml"), &c, errBad); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, errBad) {
		t.Fatalf("missing file: %v; want fs.ErrNotExist, not a bad config", err)
	}
}
