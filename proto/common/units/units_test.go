package units

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Bytes
	}{
		{"144MiB", 144 << 20}, {"96MB", 96 << 20}, {"1.5GiB", 3 << 29}, {"512", 512}, {"64 KB", 64 << 10},
		{"1tib", 1 << 40}, {"7B", 7}, {"0", 0}, {"2k", 2048},
	} {
		got, err := ParseBytes(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "MiB", "12XB", "-5MiB", "1.3B", "99999999999TiB", "1.2.3MiB"} {
		if _, err := ParseBytes(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBytes(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestBytesRoundTrip(t *testing.T) {
	for _, b := range []Bytes{0, 1, 100, 1024, 1536 << 10, 144 << 20, 3 << 30, 5 << 40, 1<<20 + 1} {
		s := b.String()
		got, err := ParseBytes(s)
		if err != nil || got != b {
			t.Errorf("%d -> %q -> %d, %v", uint64(b), s, got, err)
		}
	}
	if s := Bytes(144 << 20).String(); s != "144MiB" {
		t.Errorf("String = %q, want 144MiB", s)
	}
	for b, want := range map[Bytes]string{512: "512 B", 96 << 20: "96 MiB", 3 << 29: "1.5 GiB", 150 << 30: "150 GiB"} {
		if got := b.Human(); got != want {
			t.Errorf("Human(%d) = %q, want %q", uint64(b), got, want)
		}
	}
}

// TestTOML: a size is a string with a unit or a plain integer of bytes, a
// duration a string with days allowed, and both are written back in the
// readable form.
func TestTOML(t *testing.T) {
	var c struct {
		A Bytes    `toml:"a"`
		B Bytes    `toml:"b"`
		D Duration `toml:"d"`
		E Duration `toml:"e"`
	}
	if _, err := toml.Decode("a = \"144MiB\"\nb = 150994944\nd = \"7d\"\ne = \"1h30m\"\n", &c); err != nil {
		t.Fatal(err)
	}
	if c.A != 144<<20 || c.B != 144<<20 || c.D.Duration != 7*24*time.Hour || c.E.Duration != 90*time.Minute {
		t.Fatalf("decoded %+v", c)
	}
	// The TOML decoder keeps only the message of a value's error: the
	// message must say what is wrong.
	for in, want := range map[string]string{
		"a = -1\n": "negative", "a = true\n": "number of bytes", "d = \"soon\"\n": "soon", "a = \"5XB\"\n": "unknown unit",
	} {
		if _, err := toml.Decode(in, &c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("decode %q: %v; want an error mentioning %q", in, err, want)
		}
	}
	out, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a = \"144MiB\"\nb = \"144MiB\"\nd = \"7d\"\ne = \"1h30m\"\n"; string(out) != want {
		t.Fatalf("encoded %q, want %q", out, want)
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 100 * time.Millisecond: "100ms", 10 * time.Second: "10s", 30 * time.Minute: "30m",
		90 * time.Minute: "1h30m", time.Hour + 5*time.Second: "1h5s", 48 * time.Hour: "2d",
		25 * time.Hour: "25h", time.Minute + 500*time.Millisecond: "1m500ms", 30*time.Second + 500*time.Millisecond: "30.5s",
		-time.Minute: "-1m",
	} {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		back, err := ParseDuration(got)
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
	for _, bad := range []string{"", "d", "1.5d", "3x", "2d-1h"} {
		if _, err := ParseDuration(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDuration(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
