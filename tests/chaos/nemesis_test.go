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

// A fault is one kind of trouble the nemesis makes.
type fault string

const (
	faultKill      fault = "kill-9-store"
	faultPause     fault = "sigstop-store"
	faultPartition fault = "partition-cut"
	faultBlackhole fault = "partition-blackhole"
	faultIsolate   fault = "isolate-store"
	faultDelay     fault = "delay-store"
	faultScheduler fault = "kill-9-scheduler"
)

var faults = []fault{faultKill, faultPause, faultPartition, faultBlackhole, faultIsolate, faultDelay, faultScheduler}

// nemesis injects one fault at a time, drawn from rng, until ctx ends:
// inject, hold it 1-6 s, heal, stay quiet 0.5-2 s. The schedule (which
// fault, on which stores, for how long) depends only on the seed; the
// timing of the clients around it does not.
type nemesis struct {
	c      *cluster
	rng    *rand.Rand
	counts map[fault]int
	log    []string
}

func newNemesis(c *cluster, seed int64) *nemesis {
	return &nemesis{c: c, rng: rand.New(rand.NewSource(seed)), counts: map[fault]int{}}
}

func (n *nemesis) run(ctx context.Context) {
	for ctx.Err() == nil {
		f := faults[n.rng.Intn(len(faults))]
		hold := time.Duration(1000+n.rng.Intn(5000)) * time.Millisecond
		quiet := time.Duration(500+n.rng.Intn(1500)) * time.Millisecond
		heal := n.inject(f)
		sleepCtx(ctx, hold)
		heal()
		sleepCtx(ctx, quiet)
	}
}

// inject starts fault f and returns the function that ends it.
func (n *nemesis) inject(f fault) (heal func()) {
	c, stores := n.c, len(n.c.stores)
	n.counts[f]++
	victim := n.rng.Intn(stores)
	n.note("%s store=%d", f, victim+1)
	switch f {
	case faultKill:
		c.store(victim).kill()
		return func() { c.startStore(victim) }
	case faultPause:
		c.store(victim).signal(syscall.SIGSTOP)
		return func() { c.store(victim).signal(syscall.SIGCONT) }
	case faultPartition, faultBlackhole:
		perm := n.rng.Perm(stores)
		k := 1 + n.rng.Intn(stores/2) // minority side of 1..2 of 5
		minority := perm[:k]
		n.note("  minority=%v", plusOne(minority))
		for _, a := range minority {
			for _, b := range perm[k:] {
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
		c.proxies[victim].setDelay(time.Duration(20+n.rng.Intn(200)) * time.Millisecond)
		return n.healNet
	case faultScheduler:
		c.sched.kill()
		return c.restartScheduler
	}
	panic("chaos: unknown fault " + string(f))
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
