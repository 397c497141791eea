package raftstore

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func takeAll(t *testing.T, s *workScheduler) ([]uint64, []uint8) {
	t.Helper()
	ids, flags := s.next(100, nil, nil)
	if ids == nil {
		t.Fatal("next returned nothing")
	}
	return ids, flags
}

// TestWorkSchedulerMergesFlags: repeated wake-ups of a region merge into
// one queue entry; work arriving while a worker holds the region requeues
// it once, after done, with the new flags only.
func TestWorkSchedulerMergesFlags(t *testing.T) {
	s := newWorkScheduler()
	for i := 0; i < 100; i++ {
		s.signal(7, flagMsgs)
	}
	s.signal(7, flagTick)
	s.signalAll([]uint64{7, 8}, flagTick)
	ids, flags := takeAll(t, s)
	if !slices.Equal(ids, []uint64{7, 8}) || flags[0] != flagMsgs|flagTick || flags[1] != flagTick {
		t.Fatalf("took %v flags %v; want [7 8] with msgs|tick, tick", ids, flags)
	}
	if len(s.queue) != 0 {
		t.Fatalf("queue %v after taking everything", s.queue)
	}

	// While processing, signals only record flags.
	s.signal(7, flagMsgs)
	s.signal(7, flagMsgs)
	if len(s.queue) != 0 {
		t.Fatalf("a region being processed was queued: %v", s.queue)
	}
	s.done([]uint64{7, 8})
	ids, flags = takeAll(t, s)
	if !slices.Equal(ids, []uint64{7}) || flags[0] != flagMsgs {
		t.Fatalf("after done: took %v flags %v; want [7] msgs", ids, flags)
	}
	s.done(ids)
	if len(s.queue) != 0 || len(s.state) != 0 {
		t.Fatalf("idle scheduler keeps queue %v state %v", s.queue, s.state)
	}

	// max bounds one take; the rest stays queued in order.
	s.signalAll([]uint64{1, 2, 3}, flagTick)
	if ids, _ := s.next(2, nil, nil); !slices.Equal(ids, []uint64{1, 2}) {
		t.Fatalf("next(2) took %v", ids)
	}
	if ids, _ := s.next(2, nil, nil); !slices.Equal(ids, []uint64{3}) {
		t.Fatalf("next(2) then took %v", ids)
	}
}

// TestWorkSchedulerStopWakesWorkers: a worker blocked in next returns nil
// once the scheduler stops.
func TestWorkSchedulerStopWakesWorkers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := newWorkScheduler()
	got := make(chan []uint64)
	go func() {
		ids, _ := s.next(10, nil, nil)
		got <- ids
	}()
	s.signal(3, flagTick)
	select {
	case ids := <-got:
		if !slices.Equal(ids, []uint64{3}) {
			t.Fatalf("woken worker took %v", ids)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("signal did not wake the worker")
	}
	go func() {
		ids, _ := s.next(10, nil, nil)
		got <- ids
	}()
	s.stop()
	select {
	case ids := <-got:
		if ids != nil {
			t.Fatalf("stopped scheduler handed out %v", ids)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not wake the worker")
	}
}
