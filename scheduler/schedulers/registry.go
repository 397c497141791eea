package schedulers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Registry errors.
var (
	ErrUnknown  = errors.New("schedulers: unknown scheduler")
	ErrExists   = errors.New("schedulers: scheduler already running")
	ErrAbsent   = errors.New("schedulers: scheduler not running")
	ErrBadPause = errors.New("schedulers: pause duration out of range")
)

// MaxPause is the longest pause; longer ones are refused rather than
// overflowing into the past (which would resume the scheduler).
const MaxPause = 30 * 24 * time.Hour

// Factory builds a scheduler drawing randomness from rng.
type Factory func(rng *rand.Rand) Scheduler

// Builtin returns the factories of the schedulers this package provides.
func Builtin() map[string]Factory {
	return map[string]Factory{
		BalanceLeaderName:    NewBalanceLeader,
		BalanceRegionName:    NewBalanceRegion,
		BalanceHotRegionName: NewBalanceHotRegion,
	}
}

// Status describes one running scheduler.
type Status struct {
	Name        string    `json:"name"`
	Paused      bool      `json:"paused"`
	PausedUntil time.Time `json:"paused-until,omitzero"`
	LastReason  string    `json:"last-reason,omitempty"`
	LastRun     time.Time `json:"last-run,omitzero"`
	Operators   int       `json:"operators-created"`
}

type running struct {
	s      Scheduler
	status Status
}

// Registry holds the running schedulers; safe for concurrent use.
type Registry struct {
	factories map[string]Factory
	seed      uint64

	mu      sync.Mutex
	running map[string]*running
}

// NewRegistry returns an empty registry building from factories; each
// scheduler's randomness is seeded from seed and its name.
func NewRegistry(factories map[string]Factory, seed uint64) *Registry {
	return &Registry{factories: factories, seed: seed, running: map[string]*running{}}
}

// Available lists the names that can be added.
func (r *Registry) Available() []string {
	out := make([]string, 0, len(r.factories))
	for n := range r.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Add starts the named scheduler.
func (r *Registry) Add(name string) error {
	f, ok := r.factories[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.running[name]; ok {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	var h uint64
	for _, c := range name {
		h = h*31 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(r.seed, h))
	r.running[name] = &running{s: f(rng), status: Status{Name: name}}
	return nil
}

// Remove stops the named scheduler.
func (r *Registry) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.running[name]; !ok {
		return fmt.Errorf("%w: %q", ErrAbsent, name)
	}
	delete(r.running, name)
	return nil
}

// Pause stops the named scheduler from running until now+d; d == 0
// resumes. d must be in [0, MaxPause].
func (r *Registry) Pause(name string, now time.Time, d time.Duration) error {
	if d < 0 || d > MaxPause {
		return fmt.Errorf("%w: %s is outside [0, %s]", ErrBadPause, d, MaxPause)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.running[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrAbsent, name)
	}
	if d == 0 {
		e.status.PausedUntil = time.Time{}
	} else {
		e.status.PausedUntil = now.Add(d)
	}
	return nil
}

// List describes the running schedulers, by name.
func (r *Registry) List(now time.Time) []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.running))
	for _, e := range r.running {
		st := e.status
		st.Paused = now.Before(st.PausedUntil)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the running schedulers' names.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.running))
	for n := range r.running {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Runnable returns the schedulers not paused at now, by name.
func (r *Registry) Runnable(now time.Time) []Scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Scheduler
	for _, e := range r.running {
		if !now.Before(e.status.PausedUntil) {
			out = append(out, e.s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Record notes the outcome of one run of the named scheduler.
func (r *Registry) Record(name string, now time.Time, ops int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.running[name]; ok {
		e.status.LastRun, e.status.LastReason = now, reason
		e.status.Operators += ops
	}
}
