package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/api"
	lin "github.com/regionkv/regionkv/tests/linearizability"
)

// TestSDKLinearizable: concurrent SDK clients run Get / Put /
// CompareAndSwap on a few hot keys per region while regions split and
// leaders move (by operator and by the balancer once a fourth store joins);
// porcupine checks the history. A call that fails is recorded as
// undetermined (it may have taken effect at any later time).
// LIN_SEED=n replays a seed.
func TestSDKLinearizable(t *testing.T) {
	seed := uint64(21)
	if s := os.Getenv("LIN_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	t.Logf("seed %d", seed)
	c := New(t, Options{Stores: 3, Seed: seed})
	presplit(c, 4) // k010, k020, k030
	rec := lin.NewRecorder()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 6
	// 12 keys spread over the regions: k000-x, k005-x, k010-x, ... k055-x.
	keyOf := func(i int) string { return fmt.Sprintf("%s-x", key(5*i)) }
	for ci := range clients {
		cl := c.NewClient(client.WithRequestTimeout(2 * time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				linStep(cl, rec, ci, rng, keyOf(rng.IntN(12)), fmt.Sprintf("c%d-%d", ci, n))
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	rng := rand.New(rand.NewPCG(seed, 99))
	moveLeaders := func(n int) {
		for range n {
			rs, err := c.SchedRegions()
			if err != nil {
				t.Fatal(err)
			}
			r := rs[rng.IntN(len(rs))]
			if r.Leader == nil {
				continue
			}
			var to []uint64
			for _, p := range r.Meta.Peers {
				if p.StoreId != r.Leader.StoreId && p.Role != metapb.PeerRole_Learner {
					to = append(to, p.StoreId)
				}
			}
			if len(to) == 0 {
				continue
			}
			req := api.OperatorRequest{Name: "transfer-leader", RegionID: r.Meta.Id, ToStore: to[rng.IntN(len(to))]}
			// The scheduler may refuse the operator while another one runs
			// on the region (a replica repair), and the store may refuse
			// the transfer while the target catches up: the request is
			// made again until the leader has moved.
			var asked time.Time
			c.WaitFor(20*time.Second, "the leader transfer", func() error {
				got, err := c.SchedClient().GetRegionByID(ctxFor(t, 5*time.Second), r.Meta.Id)
				if err != nil {
					return err
				}
				if got.Leader == nil || got.Leader.StoreId == r.Leader.StoreId {
					if time.Since(asked) < time.Second {
						return errors.New("not moved")
					}
					asked = time.Now()
					if err := c.Operator(req); err != nil {
						return fmt.Errorf("not moved: %w", err)
					}
					return errors.New("not moved")
				}
				return nil
			})
		}
	}
	waitOps := func(n int) {
		before := len(rec.History())
		c.WaitFor(30*time.Second, "client progress", func() error {
			if got := len(rec.History()); got < before+n {
				return fmt.Errorf("%d operations since", got-before)
			}
			return nil
		})
	}
	waitOps(100)
	c.Split(key(5), key(25))
	waitOps(100)
	moveLeaders(4)
	c.Split(key(15), key(35), key(45))
	waitOps(100)
	c.AddStore() // the balancers move replicas and leaders
	moveLeaders(4)
	waitOps(200)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})

	h := rec.History()
	res := lin.Check(h, 60*time.Second)
	t.Logf("%d operations, porcupine: %v", len(h), res)
	if res != porcupine.Ok {
		t.Fatalf("history not linearizable (%v); replay with LIN_SEED=%d", res, seed)
	}
}

func linStep(cl *client.RawClient, rec *lin.Recorder, ci int, rng *rand.Rand, k, v string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := rec.Now()
	switch rng.IntN(3) {
	case 0:
		got, err := cl.Get(ctx, []byte(k))
		rec.Record(ci, lin.Input{Kind: lin.Get, Key: k}, call, lin.Output{Value: string(got), Found: got != nil, Unknown: err != nil})
	case 1:
		err := cl.Put(ctx, []byte(k), []byte(v))
		rec.Record(ci, lin.Input{Kind: lin.Put, Key: k, Value: v}, call, lin.Output{Unknown: err != nil})
	default:
		// Expect what a read just saw (recorded too), so that most swaps
		// race only with other clients; one in four expects a wrong value.
		prev, err := cl.Get(ctx, []byte(k))
		rec.Record(ci, lin.Input{Kind: lin.Get, Key: k}, call, lin.Output{Value: string(prev), Found: prev != nil, Unknown: err != nil})
		if err != nil {
			return
		}
		call = rec.Now()
		in := lin.Input{Kind: lin.CAS, Key: k, Value: v, Prev: string(prev), PrevAbsent: prev == nil}
		if rng.IntN(4) == 0 {
			in.Prev, in.PrevAbsent = "nope", false
		}
		var p []byte
		if !in.PrevAbsent {
			p = []byte(in.Prev)
		}
		_, ok, err := cl.CompareAndSwap(ctx, []byte(k), p, []byte(v))
		rec.Record(ci, in, call, lin.Output{Swapped: ok, Unknown: err != nil})
	}
}
