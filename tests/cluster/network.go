package cluster

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/raftstore"
)

// Network is the in-process transport between the stores of a Cluster,
// with etcd's verbs for faults: Cut and Isolate (partitions), Drop
// (percentage), Delay (uniform up to a bound, which also reorders),
// Duplicate, and Recover. Randomness comes from one seeded source.
type Network struct {
	mu            sync.Mutex
	rnd           *rand.Rand
	handlers      map[uint64]raftstore.MessageHandler
	cut           map[[2]uint64]bool
	drop          float64
	dup           float64
	delay         time.Duration
	closed        bool
	wg            sync.WaitGroup
	sent, dropped int64
}

// Stats returns the messages sent and dropped so far.
func (n *Network) Stats() (sent, dropped int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.dropped
}

// NewNetwork returns a healthy network.
func NewNetwork(seed uint64) *Network {
	return &Network{rnd: rand.New(rand.NewPCG(seed, 0x5eed)), handlers: make(map[uint64]raftstore.MessageHandler),
		cut: make(map[[2]uint64]bool)}
}

// Attach makes store id reachable through h; nil detaches it (a crash).
func (n *Network) Attach(id uint64, h raftstore.MessageHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.handlers, id)
		return
	}
	n.handlers[id] = h
}

// Cut drops every message between a and b, both ways.
func (n *Network) Cut(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]uint64{a, b}], n.cut[[2]uint64{b, a}] = true, true
}

// Partition cuts every link between the two groups.
func (n *Network) Partition(g1, g2 []uint64) {
	for _, a := range g1 {
		for _, b := range g2 {
			n.Cut(a, b)
		}
	}
}

// Isolate cuts id from every other store in all.
func (n *Network) Isolate(id uint64, all []uint64) {
	for _, b := range all {
		if b != id {
			n.Cut(id, b)
		}
	}
}

// SetUnreliable sets the drop and duplicate probabilities and the delay
// bound (delays reorder messages).
func (n *Network) SetUnreliable(drop, dup float64, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop, n.dup, n.delay = drop, dup, delay
}

// Recover heals every partition and makes the network reliable.
func (n *Network) Recover() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = make(map[[2]uint64]bool)
	n.drop, n.dup, n.delay = 0, 0, 0
}

// Close stops delivering and waits for delayed deliveries.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
}

// Transport returns the transport of store from.
func (n *Network) Transport(from uint64) raftstore.Transport { return &transport{n: n, from: from} }

type transport struct {
	n    *Network
	from uint64
}

// route decides a message's fate: how many copies and after what delays.
func (n *Network) route(from, to uint64) (copies []time.Duration, h raftstore.MessageHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent++
	h = n.handlers[to]
	if n.closed || h == nil || n.handlers[from] == nil || n.cut[[2]uint64{from, to}] || (n.drop > 0 && n.rnd.Float64() < n.drop) {
		n.dropped++
		return nil, nil
	}
	k := 1
	if n.dup > 0 && n.rnd.Float64() < n.dup {
		k = 2
	}
	for i := 0; i < k; i++ {
		var d time.Duration
		if n.delay > 0 {
			d = time.Duration(n.rnd.Int64N(int64(n.delay)))
		}
		copies = append(copies, d)
	}
	return copies, h
}

func (n *Network) deliverLater(d time.Duration, f func()) {
	if d == 0 {
		f()
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	time.AfterFunc(d, func() {
		defer n.wg.Done()
		f()
	})
}

func (t *transport) Send(msg *rspb.RaftMessage) error {
	copies, h := t.n.route(t.from, msg.ToPeer.GetStoreId())
	for i, d := range copies {
		m := msg
		if i > 0 {
			m = cloneMsg(msg)
		}
		t.n.deliverLater(d, func() { _ = h.HandleRaftMessage(m) })
	}
	return nil
}

func cloneMsg(m *rspb.RaftMessage) *rspb.RaftMessage {
	b, _ := m.Marshal()
	var c rspb.RaftMessage
	_ = c.Unmarshal(b)
	return &c
}

func (t *transport) SendSnapshot(msg *rspb.RaftMessage, open func() (io.ReadCloser, error), done func(error)) {
	n := t.n
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		done(raftstore.ErrUnreachable)
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		copies, h := n.route(t.from, msg.ToPeer.GetStoreId())
		if len(copies) == 0 {
			done(raftstore.ErrUnreachable)
			return
		}
		rc, err := open()
		if err != nil {
			done(err)
			return
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			done(err)
			return
		}
		done(h.HandleSnapshot(msg, bytes.NewReader(data)))
	}()
}

var _ = eraftpb.MessageType_MsgSnapshot
