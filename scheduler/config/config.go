// Package config holds the scheduler's settings: where it listens, how it
// reaches etcd, and the scheduling knobs that the HTTP API can change at run
// time. The defaults work for one scheduler and a few stores on one machine.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/common/units"
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("config: invalid")

// Duration is a time.Duration written as "30m" or "7d" in TOML and JSON.
type Duration = units.Duration

// D wraps d.
func D(d time.Duration) Duration { return units.D(d) }

// Config is one scheduler member's configuration.
type Config struct {
	// Name identifies this member among the scheduler members.
	Name string `toml:"name"`
	// Addr is the gRPC listen address of the pdpb.PD service.
	Addr string `toml:"addr"`
	// AdvertiseAddr is what other components are told to dial; Addr when empty.
	AdvertiseAddr string `toml:"advertise-addr"`
	// StatusAddr, when set, serves the HTTP API on a second address too.
	// Deprecated: the HTTP API shares Addr with gRPC.
	StatusAddr string `toml:"status-addr,omitempty"`
	// DataDir holds the embedded etcd's data.
	DataDir string `toml:"data-dir"`

	// EtcdEndpoints points at an external etcd; when empty an embedded etcd
	// runs in DataDir.
	EtcdEndpoints []string `toml:"etcd-endpoints"`
	// EtcdClientAddr and PeerAddr are the embedded etcd's client and peer
	// listen addresses. When empty they are derived from Addr's port (+2 and
	// +1), or port 0 when Addr's port is 0 (single member only).
	EtcdClientAddr string `toml:"etcd-client-addr"`
	PeerAddr       string `toml:"peer-addr"`
	// InitialCluster lists every embedded etcd member as name=peerURL,...;
	// empty means this member alone.
	InitialCluster string `toml:"initial-cluster"`

	// LeaderLease is the TTL of the election session: a leader that stops
	// refreshing it loses leadership after this long.
	LeaderLease Duration `toml:"leader-lease"`
	// TSOSaveInterval is how far ahead of the clock the TSO window is saved.
	TSOSaveInterval Duration `toml:"tso-save-interval"`

	Schedule Schedule `toml:"schedule"`

	// Log is where and how the member logs; the root command's --log-*
	// flags win over it.
	Log logging.Config `toml:"log"`

	// Security turns on mutual TLS on the member's port (gRPC and the
	// HTTP API), on its embedded etcd's client and peer URLs, and towards
	// an external etcd whose endpoints are https:// URLs.
	Security security.Config `toml:"security"`
}

// Schedule holds the knobs that the scheduling loop reads; they are persisted
// in etcd and can be changed through the HTTP API.
type Schedule struct {
	// MaxReplicas is the number of replicas every region should have.
	MaxReplicas int `toml:"max-replicas" json:"max-replicas"`
	// MaxStoreDownTime: a store without heartbeats for this long is Down and
	// its replicas are rebuilt elsewhere.
	MaxStoreDownTime Duration `toml:"max-store-down-time" json:"max-store-down-time"`
	// StoreDisconnectTime: a store without heartbeats for this long is
	// Disconnected; it gets no new replicas but keeps its own.
	StoreDisconnectTime Duration `toml:"store-disconnect-time" json:"store-disconnect-time"`
	// PatrolInterval is how often the replica checker looks at the next
	// batch of regions; PatrolBatch is that batch's size.
	PatrolInterval Duration `toml:"patrol-interval" json:"patrol-interval"`
	PatrolBatch    int      `toml:"patrol-batch" json:"patrol-batch"`
	// ScheduleInterval is how often the balance schedulers run.
	ScheduleInterval Duration `toml:"schedule-interval" json:"schedule-interval"`
	// Limits on operators in flight, per kind and per store.
	LeaderScheduleLimit  int `toml:"leader-schedule-limit" json:"leader-schedule-limit"`
	RegionScheduleLimit  int `toml:"region-schedule-limit" json:"region-schedule-limit"`
	ReplicaScheduleLimit int `toml:"replica-schedule-limit" json:"replica-schedule-limit"`
	StoreLimit           int `toml:"store-limit" json:"store-limit"`
	// HotRegionScheduleLimit bounds balance-hot-region's operators in
	// flight.
	HotRegionScheduleLimit int `toml:"hot-region-schedule-limit" json:"hot-region-schedule-limit"`
	// HotRegionWindow is the time constant over which region and store
	// loads are averaged (package hot); HotRegionCacheHitsThreshold is how
	// many region heartbeats in a row must find a region's load at or above
	// the hot minimum before it counts as hot.
	HotRegionWindow             Duration `toml:"hot-region-window" json:"hot-region-window"`
	HotRegionCacheHitsThreshold int      `toml:"hot-region-cache-hits-threshold" json:"hot-region-cache-hits-threshold"`
	// OperatorTimeout bounds how long one operator may run.
	OperatorTimeout Duration `toml:"operator-timeout" json:"operator-timeout"`
	// Tolerance is the fraction of the mean score by which two stores may
	// differ before a balance scheduler moves anything.
	Tolerance float64 `toml:"tolerance" json:"tolerance"`
	// LowSpaceRatio: a store using more than this fraction of its capacity
	// receives no new replicas.
	LowSpaceRatio float64 `toml:"low-space-ratio" json:"low-space-ratio"`
	// Schedulers are the balance schedulers started with the leader.
	Schedulers []string `toml:"schedulers" json:"schedulers"`
}

// Default returns a configuration that works on one machine.
func Default() Config {
	return Config{
		Name:            "scheduler-1",
		Addr:            "127.0.0.1:2379",
		DataDir:         "",
		LeaderLease:     D(3 * time.Second),
		TSOSaveInterval: D(3 * time.Second),
		Schedule:        DefaultSchedule(),
		Log:             logging.Default(),
		// An empty list, not nil, so that the default config file shows
		// the key.
		Security: security.Config{CertAllowedCN: []string{}},
	}
}

// DefaultSchedule returns the scheduling defaults.
func DefaultSchedule() Schedule {
	return Schedule{
		MaxReplicas:                 3,
		MaxStoreDownTime:            D(30 * time.Minute),
		StoreDisconnectTime:         D(20 * time.Second),
		PatrolInterval:              D(10 * time.Millisecond),
		PatrolBatch:                 128,
		ScheduleInterval:            D(100 * time.Millisecond),
		LeaderScheduleLimit:         4,
		RegionScheduleLimit:         4,
		ReplicaScheduleLimit:        16,
		StoreLimit:                  8,
		HotRegionScheduleLimit:      4,
		HotRegionWindow:             D(2 * time.Minute),
		HotRegionCacheHitsThreshold: 3,
		OperatorTimeout:             D(10 * time.Minute),
		Tolerance:                   0.05,
		LowSpaceRatio:               0.8,
		Schedulers:                  []string{"balance-leader", "balance-region", "balance-hot-region"},
	}
}

// Load reads a TOML file over c: keys absent from the file keep c's
// values, and a key c does not know is an error that names it.
func (c *Config) Load(path string) error {
	return units.LoadFile(path, c, ErrInvalid)
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: name must be set", ErrInvalid)
	}
	for _, a := range []struct{ flag, v string }{
		{"addr", c.Addr}, {"advertise-addr", c.AdvertiseAddr}, {"status-addr", c.StatusAddr},
		{"etcd-client-addr", c.EtcdClientAddr}, {"peer-addr", c.PeerAddr},
	} {
		if a.v == "" && a.flag != "addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrInvalid, a.flag, a.v, err)
		}
	}
	if len(c.EtcdEndpoints) == 0 && c.DataDir == "" {
		return fmt.Errorf("%w: data-dir must be set for the embedded etcd", ErrInvalid)
	}
	if err := c.Security.Validate(); err != nil {
		return fmt.Errorf("%w: [security]: %v", ErrInvalid, err)
	}
	schemes := map[string]bool{}
	for _, e := range c.EtcdEndpoints {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("%w: etcd endpoint %q is not an http:// or https:// URL", ErrInvalid, e)
		}
		schemes[u.Scheme] = true
	}
	if len(schemes) > 1 {
		return fmt.Errorf("%w: etcd endpoints mix http:// and https://", ErrInvalid)
	}
	if schemes["https"] && !c.Security.Enabled() {
		return fmt.Errorf("%w: https:// etcd endpoints need [security] (--cacert, --cert, --key) for the client certificate", ErrInvalid)
	}
	if c.InitialCluster != "" {
		// The embedded etcd's peers speak TLS exactly when this member does.
		want := c.PeerScheme()
		for _, m := range strings.Split(c.InitialCluster, ",") {
			name, peer, ok := strings.Cut(m, "=")
			if !ok || name == "" {
				return fmt.Errorf("%w: initial-cluster entry %q is not name=peerURL", ErrInvalid, m)
			}
			if u, err := url.Parse(peer); err != nil || u.Scheme != want {
				return fmt.Errorf("%w: initial-cluster entry %q: the peer URL must be %s:// (TLS is %s)",
					ErrInvalid, m, want, map[bool]string{true: "on", false: "off"}[c.Security.Enabled()])
			}
		}
	}
	if l := c.LeaderLease.Duration; l < time.Second || l > time.Minute {
		return fmt.Errorf("%w: leader-lease %s is outside [1s, 1m]", ErrInvalid, l)
	}
	if d := c.TSOSaveInterval.Duration; d < 10*time.Millisecond || d > time.Minute {
		return fmt.Errorf("%w: tso-save-interval %s is outside [10ms, 1m]", ErrInvalid, d)
	}
	if err := c.Log.Validate(); err != nil {
		return fmt.Errorf("%w: [log]: %v", ErrInvalid, err)
	}
	return c.Schedule.Validate()
}

// PeerScheme is the scheme of the embedded etcd's URLs: https with TLS.
func (c *Config) PeerScheme() string {
	if c.Security.Enabled() {
		return "https"
	}
	return "http"
}

// Ranges of the schedule knobs. A value outside them is refused with an
// error naming the key and its range: none of them makes sense there, and
// some would hurt (a down time of a millisecond rebuilds every replica of
// a store that missed one heartbeat; a patrol interval of a nanosecond
// spins a core).
const (
	MinStoreDownTime       = time.Second
	MaxStoreDownTime       = 30 * 24 * time.Hour
	MinStoreDisconnectTime = 100 * time.Millisecond
	MinInterval            = time.Millisecond // patrol and schedule intervals
	MaxInterval            = time.Hour
	MinOperatorTimeout     = time.Second
	MaxOperatorTimeout     = 7 * 24 * time.Hour
	MaxMaxReplicas         = 10
	MaxPatrolBatch         = 100000
	MaxScheduleLimit       = 10000 // per kind and per store
	MinHotRegionWindow     = time.Second
	MaxHotRegionWindow     = time.Hour
	MaxHotRegionCacheHits  = 100
)

// Validate reports the first problem with s.
func (s *Schedule) Validate() error {
	durations := []struct {
		key      string
		v        time.Duration
		min, max time.Duration
	}{
		{"max-store-down-time", s.MaxStoreDownTime.Duration, MinStoreDownTime, MaxStoreDownTime},
		{"store-disconnect-time", s.StoreDisconnectTime.Duration, MinStoreDisconnectTime, MaxStoreDownTime},
		{"patrol-interval", s.PatrolInterval.Duration, MinInterval, MaxInterval},
		{"schedule-interval", s.ScheduleInterval.Duration, MinInterval, MaxInterval},
		{"operator-timeout", s.OperatorTimeout.Duration, MinOperatorTimeout, MaxOperatorTimeout},
		{"hot-region-window", s.HotRegionWindow.Duration, MinHotRegionWindow, MaxHotRegionWindow},
	}
	for _, d := range durations {
		if d.v < d.min || d.v > d.max {
			return fmt.Errorf("%w: %s %s is outside [%s, %s]", ErrInvalid, d.key, d.v, d.min, d.max)
		}
	}
	counts := []struct {
		key      string
		v        int
		min, max int
	}{
		{"max-replicas", s.MaxReplicas, 1, MaxMaxReplicas},
		{"patrol-batch", s.PatrolBatch, 1, MaxPatrolBatch},
		{"leader-schedule-limit", s.LeaderScheduleLimit, 0, MaxScheduleLimit},
		{"region-schedule-limit", s.RegionScheduleLimit, 0, MaxScheduleLimit},
		{"replica-schedule-limit", s.ReplicaScheduleLimit, 0, MaxScheduleLimit},
		{"store-limit", s.StoreLimit, 1, MaxScheduleLimit},
		{"hot-region-schedule-limit", s.HotRegionScheduleLimit, 0, MaxScheduleLimit},
		{"hot-region-cache-hits-threshold", s.HotRegionCacheHitsThreshold, 1, MaxHotRegionCacheHits},
	}
	for _, c := range counts {
		if c.v < c.min || c.v > c.max {
			return fmt.Errorf("%w: %s %d is outside [%d, %d]", ErrInvalid, c.key, c.v, c.min, c.max)
		}
	}
	switch {
	case s.StoreDisconnectTime.Duration >= s.MaxStoreDownTime.Duration:
		return fmt.Errorf("%w: store-disconnect-time %s must be shorter than max-store-down-time %s",
			ErrInvalid, s.StoreDisconnectTime, s.MaxStoreDownTime)
	case !(s.Tolerance >= 0 && s.Tolerance <= 1):
		return fmt.Errorf("%w: tolerance %v is outside [0, 1]", ErrInvalid, s.Tolerance)
	case !(s.LowSpaceRatio > 0 && s.LowSpaceRatio <= 1):
		return fmt.Errorf("%w: low-space-ratio %v is outside (0, 1]", ErrInvalid, s.LowSpaceRatio)
	}
	seen := map[string]bool{}
	for _, n := range s.Schedulers {
		if seen[n] {
			return fmt.Errorf("%w: scheduler %q is listed twice", ErrInvalid, n)
		}
		seen[n] = true
	}
	return nil
}

// CheckSchedulers reports the first name in s.Schedulers that is not in
// known (the config package does not know which schedulers exist).
func (s *Schedule) CheckSchedulers(known []string) error {
	for _, n := range s.Schedulers {
		if !slices.Contains(known, n) {
			return fmt.Errorf("%w: unknown scheduler %q (known: %s)", ErrInvalid, n, strings.Join(known, ", "))
		}
	}
	return nil
}

// Clone returns a deep copy of s.
func (s Schedule) Clone() Schedule {
	s.Schedulers = append([]string(nil), s.Schedulers...)
	return s
}

// Set changes one knob by its JSON name, with the value in JSON.
func (s *Schedule) Set(key string, value json.RawMessage) error {
	return s.SetAll(map[string]json.RawMessage{key: value})
}

// SetAll changes several knobs by their JSON names, all or none: the
// result is validated as a whole, and on any error s is left as it was.
func (s *Schedule) SetAll(changes map[string]json.RawMessage) error {
	m := map[string]json.RawMessage{}
	cur, _ := json.Marshal(s)
	if err := json.Unmarshal(cur, &m); err != nil {
		return err
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first error reported does not depend on map order
	for _, key := range keys {
		if _, ok := m[key]; !ok {
			return fmt.Errorf("%w: unknown schedule key %q", ErrInvalid, key)
		}
		one := DefaultSchedule()
		if err := json.Unmarshal([]byte(`{"`+key+`":`+string(changes[key])+`}`), &one); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
		}
		m[key] = changes[key]
	}
	b, _ := json.Marshal(m)
	next := DefaultSchedule()
	if err := json.Unmarshal(b, &next); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*s = next
	return nil
}
