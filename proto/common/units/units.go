// Package units reads and writes the sizes and durations of config files
// the way people write them: "144MiB", "30m", "7d". Sizes also accept a
// plain number of bytes, so files written before keep working.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every parse failure.
var ErrInvalid = errors.New("units: invalid")

// Bytes is a size in bytes, written "144MiB" (or a plain number of bytes).
type Bytes uint64

// Size units. KB, MB, GB and TB mean the binary units too, as in TiKV's
// config files: a size is never a power of ten here.
const (
	KiB Bytes = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var byteUnits = []struct {
	names []string
	size  Bytes
}{
	{[]string{"tib", "tb", "t"}, TiB},
	{[]string{"gib", "gb", "g"}, GiB},
	{[]string{"mib", "mb", "m"}, MiB},
	{[]string{"kib", "kb", "k"}, KiB},
	{[]string{"b", ""}, 1},
}

// ParseBytes reads "144MiB", "1.5GiB", "512" (bytes) or "64 KB".
func ParseBytes(s string) (Bytes, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	if num == "" {
		return 0, fmt.Errorf("%w: size %q: no number", ErrInvalid, s)
	}
	for _, u := range byteUnits {
		for _, name := range u.names {
			if unit != name {
				continue
			}
			if n, err := strconv.ParseUint(num, 10, 64); err == nil {
				if n > math.MaxUint64/uint64(u.size) {
					return 0, fmt.Errorf("%w: size %q is too large", ErrInvalid, s)
				}
				return Bytes(n) * u.size, nil
			}
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("%w: size %q: %v", ErrInvalid, s, err)
			}
			v := f * float64(u.size)
			if v != math.Trunc(v) || v >= math.MaxUint64 {
				return 0, fmt.Errorf("%w: size %q is not a whole number of bytes", ErrInvalid, s)
			}
			return Bytes(v), nil
		}
	}
	return 0, fmt.Errorf("%w: size %q: unknown unit %q (B, KiB, MiB, GiB, TiB)", ErrInvalid, s, unit)
}

// String writes b in the largest binary unit that divides it: "144MiB",
// "1536KiB", "100B".
func (b Bytes) String() string {
	for _, u := range byteUnits[:4] {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatUint(uint64(b/u.size), 10) + strings.ToUpper(u.names[0][:1]) + "iB"
		}
	}
	return strconv.FormatUint(uint64(b), 10) + "B"
}

// Human writes b rounded for people: "1.5 GiB", "96 MiB", "512 B".
func (b Bytes) Human() string {
	for _, u := range byteUnits[:4] {
		if b >= u.size {
			v := float64(b) / float64(u.size)
			unit := strings.ToUpper(u.names[0][:1]) + "iB"
			if v >= 100 || v == math.Trunc(v) {
				return fmt.Sprintf("%.0f %s", v, unit)
			}
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return fmt.Sprintf("%d B", uint64(b))
}

// MarshalText implements encoding.TextMarshaler.
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes) UnmarshalText(t []byte) error {
	v, err := ParseBytes(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalTOML accepts a TOML integer (bytes) as well as a string.
func (b *Bytes) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%w: size %d is negative", ErrInvalid, x)
		}
		*b = Bytes(x)
		return nil
	case string:
		return b.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("%w: size must be a string like \"144MiB\" or a number of bytes, got %T", ErrInvalid, v)
}

// Duration is a time.Duration written "30m", "1h30m", "100ms" or "7d"
// (days, which Go's own syntax lacks).
type Duration struct{ time.Duration }

// D wraps d.
func D(d time.Duration) Duration { return Duration{d} }

const day = 24 * time.Hour

// ParseDuration reads Go's duration syntax, with a leading whole number of
// days allowed: "7d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseUint(t[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: duration %q: days must be a whole number", ErrInvalid, s)
		}
		days, t = time.Duration(n)*day, t[i+1:]
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q: %v", ErrInvalid, s, strings.TrimPrefix(err.Error(), "time: "))
	}
	if days > 0 && d < 0 {
		return 0, fmt.Errorf("%w: duration %q: days and a negative rest", ErrInvalid, s)
	}
	return days + d, nil
}

// FormatDuration writes d without zero components: "30m", "1h30m",
// "100ms", "7d".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if d%day == 0 {
		return b.String() + strconv.FormatInt(int64(d/day), 10) + "d"
	}
	if d < time.Second {
		// Go's own form is already short: "100ms", "1.5µs".
		return b.String() + d.String()
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}} {
		if d >= u.unit {
			b.WriteString(strconv.FormatInt(int64(d/u.unit), 10) + u.name)
			d %= u.unit
		}
	}
	switch {
	case d == 0:
	case d%time.Second == 0:
		b.WriteString(strconv.FormatInt(int64(d/time.Second), 10) + "s")
	default:
		b.WriteString(d.String()) // "30.5s", or "500ms" below a second
	}
	return b.String()
}

// String implements fmt.Stringer.
func (d Duration) String() string { return FormatDuration(d.Duration) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
