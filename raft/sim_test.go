package raft_test

import (
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

// The randomized simulation drives clusters of RawNodes through the public
// API exactly as doc.go tells an application to, over a network that drops,
// delays, reorders and duplicates messages and partitions the nodes, with
// nodes that crash (losing unsynced writes) and restart from what their
// disk kept, clients that propose and read, and applications that snapshot
// and compact their logs, transfer leadership and (TestSimulationConfChange)
// change membership: adding voters, adding learners, promoting learners,
// removing either. It checks, at every step and wherever the state in
// question changes (every write, apply and role change):
//
//   - election safety: at most one leader per term, over the whole run;
//   - log matching: entries with the same index and term have identical
//     prefixes, in every log any node ever wrote (chain hashes);
//   - leader completeness: a leader holds every entry committed before its
//     term;
//   - state machine safety: no two nodes apply different entries (or
//     install different snapshots) at one index;
//   - durability: a committed entry is on the durable storage of a majority
//     (fixed membership), and no node's durable term or commit index goes
//     back, nor does it vote twice in one term;
//   - reads: a ReadIndex answer is at least the commit index known when the
//     read was issued, whether a heartbeat round (ReadOnlySafe) or the
//     leader lease (ReadOnlyLeaseBased) answered it;
//   - learners: only a voter of its own configuration campaigns or leads;
//
// and, once all faults heal, that a leader is elected and a fresh proposal
// is applied on every voter and learner within ten election timeouts.
//
// Each seed also draws its own fault rates and raft configuration. A failure
// prints its seed; -sim.seed replays it (add -sim.trace for every event and
// raft's log lines):
//
//	go test ./raft -run TestSimulation -sim.seed=N -sim.trace
//
// The default tier (900 runs of 5,000 steps: 3 nodes, 5 nodes, 3 nodes with
// membership changes) takes about 25 s of CPU, so well under a minute on
// two cores; -short runs a tenth of it. A long tier:
//
//	go test ./raft -run TestSimulation -sim.seeds=1000 -sim.steps=20000 -timeout=1h

var (
	simSeed  = flag.Int64("sim.seed", -1, "simulation: run only this seed (replays a failure)")
	simSeeds = flag.Int("sim.seeds", 0, "simulation: seeds per variant (0: default tier)")
	simSteps = flag.Int("sim.steps", 0, "simulation: steps per seed (0: default tier)")
	simTrace = flag.Bool("sim.trace", false, "simulation: log every event of each run")
)

// simVariant is one family of runs.
type simVariant struct {
	nodes      int
	confChange bool
	seeds      int // default tier
	steps      int // default tier
}

func TestSimulation(t *testing.T) {
	for _, v := range []simVariant{
		{nodes: 3, seeds: 400, steps: 5000},
		{nodes: 5, seeds: 250, steps: 5000},
	} {
		t.Run(fmt.Sprintf("nodes=%d", v.nodes), func(t *testing.T) {
			t.Parallel()
			runSimSeeds(t, v)
		})
	}
}

func TestSimulationConfChange(t *testing.T) {
	runSimSeeds(t, simVariant{nodes: 3, confChange: true, seeds: 250, steps: 5000})
}

// TestSimulationCoversLearners: runs with membership changes add learners
// and promote them (the invariants of TestSimulationConfChange then hold
// with learners in the configuration: a learner never campaigns or leads,
// and every learner receives the log by the liveness check).
func TestSimulationCoversLearners(t *testing.T) {
	var learners, promotions int
	for seed := uint64(1); seed <= 20; seed++ {
		c, err := runSim(seed, simVariant{nodes: 3, confChange: true}, 3000, false)
		if err != nil {
			t.Fatalf("seed=%d: %v", seed, err)
		}
		learners += c.stats.learners
		promotions += c.stats.promotions
	}
	if learners == 0 || promotions == 0 {
		t.Fatalf("20 runs added %d learners and promoted %d", learners, promotions)
	}
	t.Logf("20 runs added %d learners and promoted %d", learners, promotions)
}

func runSimSeeds(t *testing.T, v simVariant) {
	seeds, steps := v.seeds, v.steps
	if testing.Short() {
		seeds /= 10
	}
	if *simSeeds > 0 {
		seeds = *simSeeds
	}
	if *simSteps > 0 {
		steps = *simSteps
	}
	list := make([]uint64, 0, seeds)
	if *simSeed >= 0 {
		list = append(list, uint64(*simSeed))
	} else {
		for s := range seeds {
			list = append(list, uint64(s+1))
		}
	}
	for _, seed := range list {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			c, err := runSim(seed, v, steps, *simTrace)
			if *simTrace {
				t.Log("\n" + strings.Join(c.trace, "\n"))
			}
			if err != nil {
				t.Fatalf("seed=%d: %v\n%s", seed, err, explainSimFailure(t, seed, v, steps, err))
			}
			if testing.Verbose() {
				s := c.stats
				t.Logf("seed=%d %s: committed=%d terms=%d crashes=%d snapshots=%d reads=%d/%d confchanges=%d learners=%d promotions=%d liveness=%d ticks",
					seed, c.p, s.committed, s.terms, s.crashes, s.snapshots, s.readsAnswered, s.reads, s.confChanges,
					s.learners, s.promotions, s.livenessTicks)
			}
		})
	}
}

// runSim runs one seed: steps random steps, then the liveness check. A
// failed check, or a panic inside raft, ends the run with an error that
// names the step.
func runSim(seed uint64, v simVariant, steps int, tracing bool) (c *simCluster, err error) {
	c = newSimCluster(seed, v.nodes, v.confChange, tracing)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if f, ok := r.(simFailure); ok {
			err = fmt.Errorf("step=%d: %s", c.step, f.msg)
			return
		}
		err = fmt.Errorf("step=%d: panic: %v\n%s", c.step, r, debug.Stack())
	}()
	for _, n := range c.nodes {
		n.start()
	}
	w := c.weights()
	var total float64
	for _, x := range w {
		total += x
	}
	for c.step < steps {
		c.runStep(&w, total)
	}
	c.checkLiveness()
	c.stats.committed = c.hist.lastCommitted()
	c.stats.terms = c.hist.maxTerm
	return c, nil
}

// explainSimFailure replays a failed seed with tracing on, to check that it
// fails the same way (determinism) and to show the events before the
// failure.
func explainSimFailure(t *testing.T, seed uint64, v simVariant, steps int, err error) string {
	c, err2 := runSim(seed, v, steps, true)
	var b strings.Builder
	fmt.Fprintf(&b, "params: %s\n", c.p)
	firstLine := func(err error) string { s, _, _ := strings.Cut(err.Error(), "\n"); return s }
	if err2 == nil || firstLine(err2) != firstLine(err) {
		fmt.Fprintf(&b, "NOT DETERMINISTIC: the replay ended with %v\n", err2)
	}
	fmt.Fprintf(&b, "replay: go test ./raft -run '%s' -sim.seed=%d -sim.trace\n", t.Name()[:strings.LastIndex(t.Name(), "/")], seed)
	const tail = 60
	from := max(0, len(c.trace)-tail)
	fmt.Fprintf(&b, "last %d events:\n%s", len(c.trace)-from, strings.Join(c.trace[from:], "\n"))
	return b.String()
}
