package ctl

import (
	"fmt"
	"time"

	"github.com/regionkv/regionkv/proto/common/units"
)

// age shows how long ago an API timestamp (RFC 3339) was, rounded for
// people: "4s ago", "3m ago", "2h5m ago", "3d ago"; "never" for none.
func age(ts string, now time.Time) string {
	if ts == "" {
		return "never"
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	if t.IsZero() || t.Unix() <= 0 {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughDuration(-d)
	}
	return roughDuration(d) + " ago"
}

// roughDuration keeps the two largest units: "45s", "3m20s", "2h5m",
// "3d4h".
func roughDuration(d time.Duration) string {
	parts := []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, p := range parts {
		if d < p.unit && i < len(parts)-1 {
			continue
		}
		s := fmt.Sprintf("%d%s", d/p.unit, p.name)
		if i+1 < len(parts) {
			if rest := (d % p.unit) / parts[i+1].unit; rest > 0 {
				s += fmt.Sprintf("%d%s", rest, parts[i+1].name)
			}
		}
		return s
	}
	return "0s"
}

// size shows bytes with a unit: "96 MiB".
func size(b uint64) string { return units.Bytes(b).Human() }
