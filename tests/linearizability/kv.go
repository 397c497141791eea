// Package linearizability checks histories of key-value operations against
// a register-per-key model with porcupine. Clients record each operation's
// call and return with a Recorder; Check decides whether some order of the
// operations, each taking effect at one instant between its call and its
// return, explains every result.
//
// An operation whose outcome the client does not know (it returned an
// error) is recorded with Unknown: it may have taken effect at any time
// after its call, or never.
package linearizability

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation kind.
type Kind int

const (
	Get Kind = iota
	Put
	Delete
	// CAS sets Value if the key holds Prev, or, with PrevAbsent, if the key
	// does not exist.
	CAS
)

// Input is what an operation asked for.
type Input struct {
	Kind       Kind
	Key        string
	Value      string // Put, CAS: the new value
	Prev       string // CAS: the expected value
	PrevAbsent bool   // CAS: expect no value
}

// Output is what it got back.
type Output struct {
	Value   string // Get: the value read
	Found   bool   // Get: the key existed
	Swapped bool   // CAS
	// Unknown: the operation failed and may or may not have taken effect;
	// nothing it returned is checked.
	Unknown bool
}

// state is one key's register: its value and whether it exists.
type state struct {
	value  string
	exists bool
}

// Model is the porcupine model: one register per key, partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() interface{} { return state{} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		s, i, o := st.(state), in.(Input), out.(Output)
		switch i.Kind {
		case Get:
			return o.Unknown || (o.Found == s.exists && (!s.exists || o.Value == s.value)), s
		case Put:
			return true, state{value: i.Value, exists: true}
		case Delete:
			return true, state{}
		case CAS:
			match := (i.PrevAbsent && !s.exists) || (!i.PrevAbsent && s.exists && s.value == i.Prev)
			if o.Unknown {
				if match {
					return true, state{value: i.Value, exists: true}
				}
				return true, s
			}
			if o.Swapped != match {
				return false, s
			}
			if match {
				return true, state{value: i.Value, exists: true}
			}
			return true, s
		}
		return false, s
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(Input), out.(Output)
		res := ""
		switch {
		case o.Unknown:
			res = "?"
		case i.Kind == Get && !o.Found:
			res = "absent"
		case i.Kind == Get:
			res = o.Value
		case i.Kind == CAS:
			res = fmt.Sprint(o.Swapped)
		}
		switch i.Kind {
		case Get:
			return fmt.Sprintf("get(%s) -> %s", i.Key, res)
		case Put:
			return fmt.Sprintf("put(%s, %s)", i.Key, i.Value)
		case Delete:
			return fmt.Sprintf("delete(%s)", i.Key)
		default:
			prev := i.Prev
			if i.PrevAbsent {
				prev = "<absent>"
			}
			return fmt.Sprintf("cas(%s, %s -> %s) -> %s", i.Key, prev, i.Value, res)
		}
	},
}

// Recorder collects a history from concurrent clients. Times are
// nanoseconds on the monotonic clock since the Recorder was made.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewRecorder starts an empty history.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time to pass as an operation's call time.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Record adds an operation of client that was called at call (from Now)
// and has just returned with out. An operation with out.Unknown is given no
// return time: it may take effect at any later time.
func (r *Recorder) Record(client int, in Input, call int64, out Output) {
	ret := r.Now()
	if out.Unknown {
		if in.Kind == Get {
			return // a failed read changed nothing and showed nothing
		}
		ret = 1<<62 - 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// History returns the operations recorded so far.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Check checks history within timeout. It returns porcupine.Ok,
// porcupine.Illegal, or porcupine.Unknown when the timeout ran out.
func Check(history []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(Model, history, timeout)
}
