package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"syscall"
	"time"
)

// schedElectionWait bounds the waits for a scheduler leader, before
// killing it and for its successor: the members elect one within the
// leader lease (3 s) of losing the last, give or take etcd's own election.
const schedElectionWait = 15 * time.Second

// A fault is one kind of trouble the nemesis makes.
type fault string

const (
	faultKill      fault = "kill-9-store"
	faultPause     fault = "sigstop-store"
	faultPartition fault = "partition-cut"
	faultBlackhole fault = "partition-blackhole"
	faultIsolate   fault = "isolate-store"
	faultDelay     fault = "delay-store"
	// faultSchedLeader kills -9 whichever scheduler member leads at the
	// time (the schedule cannot name it: elections decide), waits until
	// another member leads, and restarts the killed one after the hold.
	faultSchedLeader fault = "kill-9-scheduler-leader"
	// faultShrink kills -9 a store and, once the scheduler sees it gone,
	// lowers max-replicas (3 -> 2) or takes another store offline (ctl
	// store delete): the scheduler removes replicas while one is already
	// down. Before healing, no region may be left with fewer than a quorum
	// of its peers on live stores. Healing restarts the store and undoes
	// the change (an offline store that got drained completely became a
	// Tombstone: a fresh store takes its place).
	faultShrink fault = "shrink-while-store-down"
)

// faults are every kind; classicFaults the kinds the first two schedules of
// the default tier were drawn from (drawing from more kinds changes every
// draw of a seed).
var (
	faults        = []fault{faultKill, faultPause, faultPartition, faultBlackhole, faultIsolate, faultDelay, faultSchedLeader, faultShrink}
	classicFaults = faults[:7]
)

// A step is one fault of a schedule: which, where, for how long. Steps
// come from the seed alone (plan), never from what the cluster does; only
// the scheduler leader that faultSchedLeader kills is found at run time.
type step struct {
	f           fault
	hold, quiet time.Duration
	victim      int   // the store of kill, pause, isolate, delay and shrink
	minority    []int // partitions: the stores of the small side
	majority    []int // and of the other
	delay       time.Duration
	// shrink: take store other offline (else lower max-replicas).
	offline bool
	other   int
}

// planner draws the steps of one seed's schedule.
type planner struct {
	rng    *rand.Rand
	stores int
	kinds  []fault
}

func newPlanner(seed int64, stores int, kinds []fault) *planner {
	return &planner{rng: rand.New(rand.NewSource(seed)), stores: stores, kinds: kinds}
}

// next draws a step: the fault, a hold of 1-6 s, a quiet time of 0.5-2 s,
// then the fault's own choices. Every kind draws a victim, so that the
// draws after it do not depend on which kinds came before.
func (p *planner) next() step {
	s := step{f: p.kinds[p.rng.Intn(len(p.kinds))]}
	s.hold = time.Duration(1000+p.rng.Intn(5000)) * time.Millisecond
	s.quiet = time.Duration(500+p.rng.Intn(1500)) * time.Millisecond
	s.victim = p.rng.Intn(p.stores)
	switch s.f {
	case faultPartition, faultBlackhole:
		perm := p.rng.Perm(p.stores)
		k := 1 + p.rng.Intn(p.stores/2) // minority side of 1..2 of 5
		s.minority, s.majority = perm[:k], perm[k:]
	case faultDelay:
		s.delay = time.Duration(20+p.rng.Intn(200)) * time.Millisecond
	case faultShrink:
		s.offline = p.rng.Intn(2) == 0
		s.other = (s.victim + 1 + p.rng.Intn(p.stores-1)) % p.stores
	}
	return s
}

// plan is the schedule of seed for a fault phase of dur: the steps that
// start within dur, counting planned holds and quiet times (the time
// spent killing and restarting processes is not counted, so the set of
// faults depends on the seed and dur only).
func plan(seed int64, stores int, dur time.Duration, kinds []fault) []step {
	p := newPlanner(seed, stores, kinds)
	var steps []step
	for at := time.Duration(0); at < dur; {
		s := p.next()
		steps = append(steps, s)
		at += s.hold + s.quiet
	}
	return steps
}

// nemesis runs a schedule against a cluster, one fault at a time: inject,
// hold, heal, stay quiet.
type nemesis struct {
	c      *cluster
	steps  []step
	counts map[fault]int
	log    []string
	// belowQuorum lists the regions found with fewer than a quorum of
	// peers on live stores, when a shrink fault ended.
	belowQuorum []string
}

func newNemesis(c *cluster, seed int64, dur time.Duration, kinds []fault) *nemesis {
	return &nemesis{c: c, steps: plan(seed, len(c.stores), dur, kinds), counts: map[fault]int{}}
}

// run injects every step of the schedule, or stops early when ctx ends.
func (n *nemesis) run(ctx context.Context) {
	for _, s := range n.steps {
		if ctx.Err() != nil {
			return
		}
		heal := n.inject(s)
		sleepCtx(ctx, s.hold)
		heal()
		sleepCtx(ctx, s.quiet)
	}
}

// inject starts step s and returns the function that ends it.
func (n *nemesis) inject(s step) (heal func()) {
	c, stores, f, victim := n.c, len(n.c.stores), s.f, s.victim
	n.counts[f]++
	if f != faultSchedLeader {
		n.note("%s store=%d", f, victim+1)
	}
	switch f {
	case faultKill:
		c.store(victim).Kill()
		return func() { c.startStore(victim) }
	case faultPause:
		c.store(victim).Signal(syscall.SIGSTOP)
		return func() { c.store(victim).Signal(syscall.SIGCONT) }
	case faultPartition, faultBlackhole:
		n.note("  minority=%v", plusOne(s.minority))
		for _, a := range s.minority {
			for _, b := range s.majority {
				c.proxies[a].block(source(b), f == faultBlackhole)
				c.proxies[b].block(source(a), f == faultBlackhole)
			}
		}
		return n.healNet
	case faultIsolate:
		for b := 0; b < stores; b++ {
			if b != victim {
				c.proxies[victim].block(source(b), false)
				c.proxies[b].block(source(victim), false)
			}
		}
		return n.healNet
	case faultDelay:
		c.proxies[victim].setDelay(s.delay)
		return n.healNet
	case faultSchedLeader:
		l := c.schedLeader(schedElectionWait)
		if l < 0 {
			c.t.Errorf("nemesis: no scheduler leader within %v", schedElectionWait)
			n.note("%s: no leader to kill", f)
			return func() {}
		}
		n.note("%s member=%s", f, c.scheds[l].name)
		c.scheds[l].p.Kill()
		// The hold starts once the others have elected a leader, so that
		// every such fault is a failover and not only an outage shorter
		// than the leader lease (3 s).
		killed := time.Now()
		if nl := c.schedLeader(schedElectionWait); nl >= 0 {
			n.note("  %s leads after %v", c.scheds[nl].name, time.Since(killed).Round(100*time.Millisecond))
		} else {
			c.t.Errorf("nemesis: no scheduler leader within %v of killing %s", schedElectionWait, c.scheds[l].name)
			n.note("  no new leader within %v", schedElectionWait)
		}
		return func() { c.restartScheduler(l) }
	case faultShrink:
		return n.shrink(s)
	}
	panic("chaos: unknown fault " + string(f))
}

// shrink injects faultShrink (see there).
func (n *nemesis) shrink(s step) (heal func()) {
	c := n.c
	c.store(s.victim).Kill()
	if !c.waitStoreState(s.victim, 15*time.Second, func(st string) bool { return st != "Up" }) {
		n.note("  the scheduler still sees store %d Up", s.victim+1)
	}
	undo := func() {}
	if s.offline {
		n.note("  store %d offline", s.other+1)
		if code := c.api("POST", fmt.Sprintf("/stores/%d/state", c.storeID(s.other)), map[string]string{"state": "Offline"}, nil); code != 200 {
			n.note("  offline refused: %d", code)
		}
		undo = func() { c.restoreStore(s.other, n) }
	} else {
		n.note("  max-replicas 2")
		if code := c.api("POST", "/config", map[string]any{"max-replicas": 2}, nil); code != 200 {
			n.note("  max-replicas refused: %d", code)
		}
		undo = func() {
			if code := c.api("POST", "/config", map[string]any{"max-replicas": 3}, nil); code != 200 {
				c.t.Errorf("nemesis: max-replicas back to 3: %d", code)
			}
		}
	}
	return func() {
		for _, p := range c.belowQuorum() {
			n.belowQuorum = append(n.belowQuorum, p)
			c.t.Errorf("nemesis: %s while store %d was down: %s", describeShrink(s), s.victim+1, p)
		}
		undo()
		c.startStore(s.victim)
	}
}

// describeShrink says what a shrink step changed.
func describeShrink(s step) string {
	if s.offline {
		return fmt.Sprintf("store %d offline", s.other+1)
	}
	return "max-replicas 2"
}

func (n *nemesis) healNet() {
	for _, p := range n.c.proxies {
		p.heal()
	}
}

func (n *nemesis) note(format string, args ...any) {
	n.log = append(n.log, fmt.Sprintf(format, args...))
}

func (n *nemesis) summary() string {
	var parts []string
	for _, f := range faults {
		parts = append(parts, fmt.Sprintf("%s=%d", f, n.counts[f]))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func plusOne(xs []int) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = x + 1
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
