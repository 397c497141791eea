package raft_test

import (
	"fmt"
	"slices"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// simNetParams are the network faults of one run, drawn from its seed.
type simNetParams struct {
	drop      float64 // probability that a message is lost
	dup       float64 // probability that a message is delivered twice
	delayProb float64 // probability that a message is held back
	maxDelay  int     // ... for up to this many steps
	reorder   bool    // deliver any ready message, not the oldest
	// unreachable is the probability that the sender learns of a message
	// lost to a partition (ReportUnreachable), as a transport whose
	// connection failed would.
	unreachable float64
}

func (p simNetParams) String() string {
	return fmt.Sprintf("drop=%.2f dup=%.2f delay=%.2f/%d reorder=%t", p.drop, p.dup, p.delayProb, p.maxDelay, p.reorder)
}

// simMsg is a message in flight. It travels marshaled, as over a real
// transport, so sender and receiver never share memory.
type simMsg struct {
	data     []byte
	from, to uint64
	typ      eraftpb.MessageType
	// fromGen is the sender's incarnation: a snapshot's delivery is
	// reported only to the incarnation that sent it.
	fromGen int
	// at is the first step at which the message can be delivered.
	at int
}

// simNet is the simulated network: a bag of messages in flight, and a
// partition that splits the nodes into two sides.
type simNet struct {
	c      *simCluster
	params simNetParams
	queue  []simMsg
	// side[id] is the side of the partition node id is on; nil when the
	// network is whole.
	side map[uint64]int
}

func (n *simNet) blocked(from, to uint64) bool {
	return n.side != nil && n.side[from] != n.side[to]
}

// send hands m from a node's Ready to the network.
func (n *simNet) send(from *simNode, m eraftpb.Message) {
	c := n.c
	// Forwarded requests keep their origin as From (a proposal or read
	// request its client's node, a transfer its transferee); the transport
	// routes by To and knows the real sender.
	forwarded := m.MsgType == eraftpb.MessageType_MsgPropose || m.MsgType == eraftpb.MessageType_MsgReadIndex ||
		m.MsgType == eraftpb.MessageType_MsgTransferLeader
	if (m.From != from.id && !forwarded) || m.To == from.id || m.To == 0 {
		failf("node %d sent a malformed message: %s", from.id, describeMsg(m))
	}
	data, err := m.Marshal()
	if err != nil {
		failf("marshal %s: %v", describeMsg(m), err)
	}
	sm := simMsg{data: data, from: from.id, to: m.To, typ: m.MsgType, fromGen: from.gen}
	if n.blocked(from.id, m.To) {
		if c.tracing {
			c.tracef("partition drops %s", describeMsg(m))
		}
		n.lost(sm, c.rng.Float64() < n.params.unreachable)
		return
	}
	if c.rng.Float64() < n.params.drop {
		if c.tracing {
			c.tracef("network drops %s", describeMsg(m))
		}
		n.lost(sm, false)
		return
	}
	copies := 1
	if c.rng.Float64() < n.params.dup {
		copies = 2
	}
	for range copies {
		sm.at = c.step
		if c.rng.Float64() < n.params.delayProb {
			sm.at += 1 + c.rng.IntN(n.params.maxDelay)
		}
		n.queue = append(n.queue, sm)
	}
}

// lost tells the sender about a lost message the way a transport can: a
// snapshot that failed to stream is always reported; other messages only if
// the transport noticed (unreachable). Reports reach the node after the
// Ready it is handling, if any (see simNode.flushReports).
func (n *simNet) lost(m simMsg, unreachable bool) {
	from := n.c.node(m.from)
	if !from.up || from.gen != m.fromGen {
		return
	}
	switch {
	case m.typ == eraftpb.MessageType_MsgSnapshot:
		n.c.tracef("report snapshot failure %d->%d", m.from, m.to)
		from.reports = append(from.reports, simReport{to: m.to, status: raft.SnapshotFailure})
	case unreachable:
		from.reports = append(from.reports, simReport{to: m.to})
	}
}

// deliverable returns the positions of the messages that may be delivered
// now.
func (n *simNet) deliverable(buf []int) []int {
	buf = buf[:0]
	for i := range n.queue {
		if n.queue[i].at <= n.c.step {
			buf = append(buf, i)
		}
	}
	return buf
}

// deliverSome delivers up to k messages.
func (n *simNet) deliverSome(k int) {
	var buf []int
	for range k {
		buf = n.deliverable(buf)
		if len(buf) == 0 {
			return
		}
		pick := buf[0]
		if n.params.reorder {
			pick = buf[n.c.rng.IntN(len(buf))]
		}
		m := n.queue[pick]
		n.queue = append(n.queue[:pick], n.queue[pick+1:]...)
		n.deliver(m)
	}
}

// deliverAll delivers every deliverable message in order, including the
// ones sent in response, until none is left or limit messages went.
func (n *simNet) deliverAll(limit int) int {
	sent := 0
	for sent < limit {
		i := -1
		for j := range n.queue {
			if n.queue[j].at <= n.c.step {
				i = j
				break
			}
		}
		if i < 0 {
			break
		}
		m := n.queue[i]
		n.queue = append(n.queue[:i], n.queue[i+1:]...)
		n.deliver(m)
		sent++
	}
	return sent
}

func (n *simNet) deliver(m simMsg) {
	c := n.c
	from, to := c.node(m.from), c.node(m.to)
	defer from.flushReports()
	if to == nil || !to.up || n.blocked(m.from, m.to) {
		n.lost(m, false)
		return
	}
	var msg eraftpb.Message
	if err := msg.Unmarshal(m.data); err != nil {
		failf("unmarshal message %d->%d: %v", m.from, m.to, err)
	}
	if c.tracing {
		c.tracef("deliver %s", describeMsg(msg))
	}
	to.step(msg)
	if m.typ == eraftpb.MessageType_MsgSnapshot && from.up && from.gen == m.fromGen {
		from.reports = append(from.reports, simReport{to: m.to, status: raft.SnapshotFinish})
	}
}

// partition splits the nodes at random into two non-empty sides, or cuts
// off isolate if it is not nil.
func (n *simNet) partition(isolate *simNode) {
	c := n.c
	ids := c.liveIDs()
	if len(ids) < 2 {
		return
	}
	n.side = map[uint64]int{}
	cut := 1
	if isolate != nil {
		i := slices.Index(ids, isolate.id)
		ids[0], ids[i] = ids[i], ids[0]
	} else {
		// Shuffle deterministically, then cut.
		for i := len(ids) - 1; i > 0; i-- {
			j := c.rng.IntN(i + 1)
			ids[i], ids[j] = ids[j], ids[i]
		}
		cut = 1 + c.rng.IntN(len(ids)-1)
	}
	for i, id := range ids {
		if i < cut {
			n.side[id] = 1
		}
	}
	c.tracef("partition %v | %v", sortedIDs(ids[:cut]), sortedIDs(ids[cut:]))
}

func (n *simNet) heal() {
	if n.side != nil {
		n.c.tracef("heal partition")
	}
	n.side = nil
}

func describeMsg(m eraftpb.Message) string { return raft.DescribeMessage(m, shortData) }

// shortData renders entry data in traces: client payloads are long.
func shortData(data []byte) string {
	if len(data) > 12 {
		return fmt.Sprintf("%q..(%d bytes)", data[:12], len(data))
	}
	return fmt.Sprintf("%q", data)
}
