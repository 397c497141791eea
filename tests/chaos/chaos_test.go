package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/tests/linearizability"
)

// defaultTier is the default tier's fixed schedules, about a minute and a
// half of faults in all:
//   - the seed on which the long tier once caught the SDK re-sending a
//     write whose outcome was unknown (partitions, store kills, isolation);
//   - a seed chosen for the kinds the first lacks: it kills the scheduler
//     leader twice, delays and pauses a store and kills one;
//   - a seed drawn from every kind, chosen for the shrink fault (both of
//     its forms) and another kill.
//
// The second runs with mutual TLS on every connection (-chaos.tls), so
// that kills, restarts, partitions and scheduler failovers are crossed by
// TLS reconnects too.
//
// The first two are drawn from the original seven kinds (classicFaults),
// so that they stay the schedules they were chosen as.
// TestDefaultTierCoversEveryFault keeps every fault kind in the tier. New
// schedules come from -chaos.long.
var defaultTier = []struct {
	seed  int64
	dur   time.Duration
	kinds []fault
	tls   bool
}{
	{1795671241773394769, 40 * time.Second, classicFaults, false},
	{188, 20 * time.Second, classicFaults, true},
	{54, 20 * time.Second, faults, false},
}

// TestChaos runs the default tier's schedules, one -chaos.seed, or
// -chaos.seeds new seeds (-chaos.long) of faults against a three-member
// scheduler and five stores. -chaos.duration overrides every fault
// phase's length.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs real processes for about a minute")
	}
	type run struct {
		seed  int64
		dur   time.Duration
		kinds []fault
		tls   bool
	}
	kinds := faults
	if *flagClassic {
		kinds = classicFaults
	}
	var runs []run
	switch {
	case *flagSeed != 0:
		runs = []run{{*flagSeed, 40 * time.Second, kinds, *flagTLS}}
		if *flagLong {
			runs[0].dur = 60 * time.Second
		}
	case *flagLong:
		base := time.Now().UnixNano()
		for i := 0; i < *flagSeeds; i++ {
			runs = append(runs, run{base + int64(i), 60 * time.Second, kinds, *flagTLS})
		}
	default:
		for _, d := range defaultTier {
			runs = append(runs, run{d.seed, d.dur, d.kinds, d.tls})
		}
	}
	var total report
	for _, r := range runs {
		if *flagDuration != 0 {
			r.dur = *flagDuration
		}
		t.Run("", func(t *testing.T) {
			total.add(runSeed(t, r.seed, r.dur, r.kinds, r.tls))
		})
	}
	t.Logf("TOTAL over %d seeds: %s", len(runs), total.String())
}

// TestDefaultTierCoversEveryFault: the default tier's schedules inject
// every kind of fault at least once.
func TestDefaultTierCoversEveryFault(t *testing.T) {
	seen := map[fault]int{}
	for _, d := range defaultTier {
		for _, s := range plan(d.seed, 5, d.dur, d.kinds) {
			seen[s.f]++
		}
	}
	for _, f := range faults {
		if seen[f] == 0 {
			t.Errorf("the default tier never injects %s (schedules: %v)", f, seen)
		}
	}
}

func runSeed(t *testing.T, seed int64, dur time.Duration, kinds []fault, tls bool) report {
	replay := fmt.Sprintf("-chaos.seed=%d -chaos.duration=%v", seed, dur)
	if len(kinds) == len(classicFaults) {
		replay += " -chaos.classic"
	}
	if tls {
		replay += " -chaos.tls"
	}
	t.Logf("chaos seed %d (replay with %s), fault phase %v, TLS %v", seed, replay, dur, tls)
	c := startCluster(t, 5, 3, tls)
	if tls {
		c.checkPlaintextRefused()
	}
	c.waitReplicated(2, 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.preSplit(ctx)
	newClient := func() *client.RawClient {
		cli, err := client.NewRawClient(ctx, c.schedAddrs, client.WithCredentials(c.sec.TransportCredentials()),
			client.WithRequestTimeout(time.Second), client.WithBackoff(20*time.Millisecond, 500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	reg := &registerWorkload{rec: linearizability.NewRecorder(), keys: 6}
	set := &setWorkload{attempted: map[string]bool{}, acked: map[string]bool{}}
	app := &appendWorkload{attempted: map[int]map[int]bool{}, acked: map[int]map[int]bool{}}

	// The workloads run until the nemesis has run its schedule.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	start := func(id int, run func(context.Context, *client.RawClient, int, *rand.Rand)) {
		cli, rng := newClient(), rand.New(rand.NewSource(seed+int64(id)))
		wg.Add(1)
		go func() { defer wg.Done(); run(runCtx, cli, id, rng) }()
	}
	for id := 0; id < 4; id++ {
		start(id, reg.run)
	}
	for id := 0; id < 2; id++ {
		start(id, set.run)
		start(id, app.run)
	}
	nem := newNemesis(c, seed, dur, kinds)
	sleepCtx(runCtx, 2*time.Second) // some healthy history first
	nem.run(runCtx)
	stop()
	wg.Wait()
	c.healAll()
	for _, l := range nem.log {
		t.Log("nemesis: " + l)
	}

	// Read back once the cluster has recovered; retry while it elects.
	var r report
	r.seeds, r.faults = 1, nem.counts
	cli := newClient()
	deadline := time.Now().Add(90 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		lost, phantom, present, err1 := set.check(cctx, cli)
		problems, appLost, err2 := app.check(cctx, cli)
		ccancel()
		if err1 == nil && err2 == nil {
			r.setLost, r.appendLost = len(lost), appLost
			for _, k := range lost {
				t.Errorf("set: acknowledged insert %s lost", k)
			}
			for _, k := range phantom {
				t.Errorf("set: %s present but never written", k)
			}
			for _, p := range problems {
				t.Errorf("append: %s", p)
			}
			t.Logf("set: %d acknowledged, %d present, %d attempted", len(set.acked), present, len(set.attempted))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not serve the final reads within 90s after healing: %v / %v", err1, err2)
		}
		time.Sleep(500 * time.Millisecond) // waiting for elections after healing
	}

	// The scheduler's regions at the end: every region has a quorum of its
	// peers on Up stores (once the healed stores have all reported).
	if !c.waitAllUp(60 * time.Second) {
		t.Errorf("seed %d: not every store is Up 60s after healing", seed)
	}
	r.belowQuorum = len(nem.belowQuorum)
	for _, p := range c.belowQuorum() {
		r.belowQuorum++
		t.Errorf("seed %d: at the end, %s", seed, p)
	}

	// Every replica of every region holds the same data (this stops the
	// stores).
	r.replicaViolations = c.checkReplicas(seed)

	hist := reg.rec.History()
	res := linearizability.Check(hist, 60*time.Second)
	r.histories, r.ops = 3, reg.st.ops.Load()+set.st.ops.Load()+app.st.ops.Load()
	r.unknown = reg.st.unknown.Load() + set.st.unknown.Load() + app.st.unknown.Load()
	switch res {
	case porcupine.Illegal:
		r.violations = 1
		t.Errorf("seed %d: register history of %d operations is not linearizable", seed, len(hist))
		// Keep the history for a look at the conflicting operations.
		_, info := porcupine.CheckOperationsVerbose(linearizability.Model, hist, 60*time.Second)
		path := filepath.Join(os.TempDir(), fmt.Sprintf("chaos-%d-register.html", seed))
		if err := porcupine.VisualizePath(linearizability.Model, info, path); err != nil {
			t.Logf("visualize: %v", err)
		} else {
			t.Logf("seed %d: porcupine visualization in %s", seed, path)
		}
	case porcupine.Unknown:
		r.inconclusive = 1
		t.Logf("seed %d: linearizability check timed out (inconclusive)", seed)
	}
	t.Logf("seed %d: faults: %s", seed, nem.summary())
	t.Logf("seed %d: register %s (history %d ops, %v); set %s; append %s",
		seed, reg.st.String(), len(hist), res, set.st.String(), app.st.String())
	return r
}
