package linearizability

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func TestLinearizableHistoryAccepted(t *testing.T) {
	h := []porcupine.Operation{
		op(0, 0, 10, Input{Kind: Put, Key: "x", Value: "1"}, Output{}),
		// Concurrent with the put: either answer is fine.
		op(1, 5, 8, Input{Kind: Get, Key: "x"}, Output{}),
		op(1, 11, 12, Input{Kind: Get, Key: "x"}, Output{Value: "1", Found: true}),
		op(2, 13, 14, Input{Kind: CAS, Key: "x", Prev: "1", Value: "2"}, Output{Swapped: true}),
		op(0, 15, 16, Input{Kind: CAS, Key: "x", Prev: "1", Value: "3"}, Output{Swapped: false}),
		op(0, 17, 18, Input{Kind: CAS, Key: "y", PrevAbsent: true, Value: "a"}, Output{Swapped: true}),
		op(1, 19, 20, Input{Kind: Delete, Key: "x"}, Output{}),
		op(2, 21, 22, Input{Kind: Get, Key: "x"}, Output{}),
	}
	if res := Check(h, 5*time.Second); res != porcupine.Ok {
		t.Fatalf("linearizable history judged %s", res)
	}
}

func TestStaleReadRejected(t *testing.T) {
	h := []porcupine.Operation{
		op(0, 0, 1, Input{Kind: Put, Key: "x", Value: "1"}, Output{}),
		op(0, 2, 3, Input{Kind: Put, Key: "x", Value: "2"}, Output{}),
		// Starts after the second put returned, yet reads the first value.
		op(1, 4, 5, Input{Kind: Get, Key: "x"}, Output{Value: "1", Found: true}),
	}
	if res := Check(h, 5*time.Second); res != porcupine.Illegal {
		t.Fatalf("stale read judged %s", res)
	}
}

func TestDoubleSwapRejected(t *testing.T) {
	// Two CAS from the same old value cannot both succeed.
	h := []porcupine.Operation{
		op(0, 0, 1, Input{Kind: Put, Key: "x", Value: "0"}, Output{}),
		op(1, 2, 10, Input{Kind: CAS, Key: "x", Prev: "0", Value: "a"}, Output{Swapped: true}),
		op(2, 3, 11, Input{Kind: CAS, Key: "x", Prev: "0", Value: "b"}, Output{Swapped: true}),
	}
	if res := Check(h, 5*time.Second); res != porcupine.Illegal {
		t.Fatalf("double swap judged %s", res)
	}
}

func TestUnknownOutcomeMayOrMayNotApply(t *testing.T) {
	for _, seen := range []Output{{}, {Value: "1", Found: true}} {
		r := NewRecorder()
		r.ops = []porcupine.Operation{
			op(0, 0, 1<<62-1, Input{Kind: Put, Key: "x", Value: "1"}, Output{Unknown: true}),
			op(1, 5, 6, Input{Kind: Get, Key: "x"}, seen),
		}
		if res := Check(r.History(), 5*time.Second); res != porcupine.Ok {
			t.Fatalf("get -> %+v after a put of unknown outcome judged %s", seen, res)
		}
	}
	// But once seen, it cannot be undone.
	h := []porcupine.Operation{
		op(0, 0, 1<<62-1, Input{Kind: Put, Key: "x", Value: "1"}, Output{Unknown: true}),
		op(1, 5, 6, Input{Kind: Get, Key: "x"}, Output{Value: "1", Found: true}),
		op(1, 7, 8, Input{Kind: Get, Key: "x"}, Output{}),
	}
	if res := Check(h, 5*time.Second); res != porcupine.Illegal {
		t.Fatalf("a write that vanished judged %s", res)
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	c := r.Now()
	r.Record(0, Input{Kind: Put, Key: "k", Value: "v"}, c, Output{})
	r.Record(0, Input{Kind: Get, Key: "k"}, r.Now(), Output{Unknown: true})
	h := r.History()
	if len(h) != 1 || h[0].Return < h[0].Call {
		t.Fatalf("history %+v", h)
	}
}
