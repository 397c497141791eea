package rafttest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// Handle runs one datadriven command and returns its output.
//
// Commands (ids are node IDs, 1-based, in the order nodes were added):
//
//	add-nodes <n> [voters=(1,2,3)] [index=<i>] [prevote=true] [checkquorum=true]
//	          [read-only=lease-based] [max-inflight=<n>] [max-size=<bytes>]
//	campaign <id>
//	propose <id> <data>
//	propose-conf-change <id> v<node>|r<node>
//	transfer-leadership from=<id> to=<id>
//	read-index <id> <ctx>
//	tick-election <id>... | tick-heartbeat <id>... | tick <id> <n>
//	process-ready [<id>...]
//	deliver-msgs [drop=(<id>...)] [<id>...]
//	stabilize [<id>...]
//	isolate <id> | heal
//	report-unreachable <from> <to>
//	compact <id> <index>
//	status <id> | raft-log <id> | raft-state
//	log-level debug|info|warn|error|none
func (env *InteractionEnv) Handle(t *testing.T, d *datadriven.TestData) string {
	env.Output.Reset()
	var err error
	switch d.Cmd {
	case "add-nodes":
		err = env.handleAddNodes(t, d)
	case "campaign":
		err = env.forEachNode(t, d, func(n *Node) error { return n.Campaign() })
	case "propose":
		err = env.handlePropose(t, d)
	case "propose-conf-change":
		err = env.handleProposeConfChange(t, d)
	case "transfer-leadership":
		var from, to uint64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		var n *Node
		if n, err = env.node(from); err == nil {
			n.TransferLeader(to)
		}
	case "read-index":
		err = env.handleReadIndex(t, d)
	case "tick-election":
		err = env.forEachNode(t, d, func(n *Node) error { return env.tick(n, n.Config.ElectionTick) })
	case "tick-heartbeat":
		err = env.forEachNode(t, d, func(n *Node) error { return env.tick(n, n.Config.HeartbeatTick) })
	case "tick":
		err = env.handleTick(t, d)
	case "process-ready":
		err = env.forEachNodeOrAll(t, d, env.processReady)
	case "deliver-msgs":
		env.handleDeliverMsgs(t, d)
	case "stabilize":
		env.stabilize(env.idsOrAll(t, d))
	case "isolate":
		err = env.forEachNode(t, d, func(n *Node) error { env.isolated[n.ID] = true; return nil })
	case "heal":
		env.isolated = map[uint64]bool{}
	case "report-unreachable":
		err = env.handleReportUnreachable(t, d)
	case "compact":
		err = env.handleCompact(t, d)
	case "status":
		err = env.forEachNode(t, d, func(n *Node) error {
			env.Output.WriteString(n.Status().String())
			return nil
		})
	case "raft-log":
		err = env.forEachNode(t, d, env.raftLog)
	case "raft-state":
		env.raftState()
	case "log-level":
		if len(d.CmdArgs) != 1 {
			t.Fatalf("%s: log-level takes one argument", d.Pos)
		}
		lv, ok := levelNames[d.CmdArgs[0].Key]
		if !ok {
			t.Fatalf("%s: unknown level %s", d.Pos, d.CmdArgs[0].Key)
		}
		env.logger.level = lv
	default:
		t.Fatalf("%s: unknown command %s", d.Pos, d.Cmd)
	}
	if err != nil {
		fmt.Fprintf(env.Output, "error: %v\n", err)
	}
	if env.Output.Len() == 0 {
		return "ok"
	}
	return env.Output.String()
}

// positionalIDs returns the arguments that are bare numbers.
func positionalIDs(t *testing.T, d *datadriven.TestData) []uint64 {
	var ids []uint64
	for _, arg := range d.CmdArgs {
		if len(arg.Vals) > 0 {
			continue
		}
		id, err := strconv.ParseUint(arg.Key, 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func (env *InteractionEnv) idsOrAll(t *testing.T, d *datadriven.TestData) []uint64 {
	ids := positionalIDs(t, d)
	if len(ids) == 0 {
		for _, n := range env.Nodes {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

func (env *InteractionEnv) forEachNode(t *testing.T, d *datadriven.TestData, f func(*Node) error) error {
	ids := positionalIDs(t, d)
	if len(ids) == 0 {
		t.Fatalf("%s: %s needs node ids", d.Pos, d.Cmd)
	}
	return env.forIDs(ids, f)
}

func (env *InteractionEnv) forEachNodeOrAll(t *testing.T, d *datadriven.TestData, f func(*Node) error) error {
	return env.forIDs(env.idsOrAll(t, d), f)
}

func (env *InteractionEnv) forIDs(ids []uint64, f func(*Node) error) error {
	for _, id := range ids {
		n, err := env.node(id)
		if err != nil {
			return err
		}
		if err := f(n); err != nil {
			return err
		}
	}
	return nil
}

func (env *InteractionEnv) handleAddNodes(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) == 0 {
		t.Fatalf("%s: add-nodes needs a count", d.Pos)
	}
	count, err := strconv.Atoi(d.CmdArgs[0].Key)
	if err != nil {
		t.Fatalf("%s: bad count: %v", d.Pos, err)
	}
	var voters []uint64
	index := uint64(1)
	cfgOpts := func(*raft.Config) {}
	for _, arg := range d.CmdArgs[1:] {
		for i := range arg.Vals {
			switch arg.Key {
			case "voters":
				var id uint64
				arg.Scan(t, i, &id)
				voters = append(voters, id)
			case "index":
				arg.Scan(t, i, &index)
			case "prevote":
				var v bool
				arg.Scan(t, i, &v)
				prev := cfgOpts
				cfgOpts = func(c *raft.Config) { prev(c); c.PreVote = v }
			case "checkquorum":
				var v bool
				arg.Scan(t, i, &v)
				prev := cfgOpts
				cfgOpts = func(c *raft.Config) { prev(c); c.CheckQuorum = v }
			case "read-only":
				var v string
				arg.Scan(t, i, &v)
				prev := cfgOpts
				switch v {
				case "lease-based":
					cfgOpts = func(c *raft.Config) { prev(c); c.ReadOnlyOption = raft.ReadOnlyLeaseBased }
				case "safe":
					cfgOpts = func(c *raft.Config) { prev(c); c.ReadOnlyOption = raft.ReadOnlySafe }
				default:
					t.Fatalf("%s: unknown read-only option %s", d.Pos, v)
				}
			case "max-inflight":
				var v int
				arg.Scan(t, i, &v)
				prev := cfgOpts
				cfgOpts = func(c *raft.Config) { prev(c); c.MaxInflightMsgs = v }
			case "max-size":
				var v uint64
				arg.Scan(t, i, &v)
				prev := cfgOpts
				cfgOpts = func(c *raft.Config) { prev(c); c.MaxSizePerMsg = v }
			default:
				t.Fatalf("%s: unknown argument %s", d.Pos, arg.Key)
			}
		}
	}
	for i := 0; i < count; i++ {
		id := uint64(len(env.Nodes) + 1)
		n := &Node{ID: id}
		ms := raft.NewMemoryStorage()
		if len(voters) > 0 {
			cs := eraftpb.ConfState{Voters: voters}
			snap := eraftpb.Snapshot{Metadata: &eraftpb.SnapshotMetadata{Index: index, Term: 1, ConfState: &cs}}
			if err := ms.ApplySnapshot(snap); err != nil {
				return err
			}
			n.confState = cs
		}
		n.Storage = &snapOverrideStorage{MemoryStorage: ms, n: n}
		cfg := defaultConfig(id, n.Storage)
		cfg.Logger = env.logger
		cfg.Rand = rand.New(zeroSource{})
		cfgOpts(cfg)
		rn, err := raft.NewRawNode(cfg)
		if err != nil {
			return err
		}
		n.RawNode, n.Config = rn, cfg
		env.Nodes = append(env.Nodes, n)
	}
	return nil
}

func (env *InteractionEnv) handlePropose(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: propose <id> <data>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	return n.Propose([]byte(d.CmdArgs[1].Key))
}

func (env *InteractionEnv) handleProposeConfChange(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: propose-conf-change <id> v<n>|r<n>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	tok := d.CmdArgs[1].Key
	if len(tok) < 2 {
		t.Fatalf("%s: bad conf change %q", d.Pos, tok)
	}
	target, perr := strconv.ParseUint(tok[1:], 10, 64)
	if perr != nil {
		t.Fatalf("%s: bad conf change %q", d.Pos, tok)
	}
	cc := eraftpb.ConfChange{NodeId: target}
	switch tok[0] {
	case 'v':
		cc.ChangeType = eraftpb.ConfChangeType_AddNode
	case 'r':
		cc.ChangeType = eraftpb.ConfChangeType_RemoveNode
	case 'l':
		cc.ChangeType = eraftpb.ConfChangeType_AddLearnerNode
	default:
		t.Fatalf("%s: bad conf change %q", d.Pos, tok)
	}
	return n.ProposeConfChange(cc)
}

func (env *InteractionEnv) handleReadIndex(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: read-index <id> <ctx>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	n.ReadIndex([]byte(d.CmdArgs[1].Key))
	return nil
}

func (env *InteractionEnv) handleTick(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: tick <id> <n>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	count, cerr := strconv.Atoi(d.CmdArgs[1].Key)
	if cerr != nil {
		t.Fatalf("%s: bad tick count", d.Pos)
	}
	return env.tick(n, count)
}

func (env *InteractionEnv) tick(n *Node, count int) error {
	for i := 0; i < count; i++ {
		n.Tick()
	}
	return nil
}

func (env *InteractionEnv) nodeArg(t *testing.T, d *datadriven.TestData, i int) (*Node, error) {
	id, err := strconv.ParseUint(d.CmdArgs[i].Key, 10, 64)
	if err != nil {
		t.Fatalf("%s: bad node id %q", d.Pos, d.CmdArgs[i].Key)
	}
	return env.node(id)
}

func (env *InteractionEnv) handleReportUnreachable(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: report-unreachable <from> <to>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	to, perr := strconv.ParseUint(d.CmdArgs[1].Key, 10, 64)
	if perr != nil {
		t.Fatalf("%s: bad node id", d.Pos)
	}
	n.ReportUnreachable(to)
	return nil
}

// handleCompact snapshots the node's state machine at an applied index and
// discards the log up to it.
func (env *InteractionEnv) handleCompact(t *testing.T, d *datadriven.TestData) error {
	if len(d.CmdArgs) != 2 {
		t.Fatalf("%s: compact <id> <index>", d.Pos)
	}
	n, err := env.nodeArg(t, d, 0)
	if err != nil {
		return err
	}
	index, perr := strconv.ParseUint(d.CmdArgs[1].Key, 10, 64)
	if perr != nil {
		t.Fatalf("%s: bad index", d.Pos)
	}
	if applied := n.Status().Applied; index > applied {
		return fmt.Errorf("cannot compact to %d beyond applied index %d", index, applied)
	}
	cs := n.confState
	if _, err := n.Storage.CreateSnapshot(index, &cs, encodeValues(n.values, index)); err != nil {
		return err
	}
	if err := n.Storage.Compact(index); err != nil {
		return err
	}
	return env.raftLog(n)
}

// processReady handles one Ready of n following the caller's contract in
// raft/doc.go, and prints it.
func (env *InteractionEnv) processReady(n *Node) error {
	if !n.HasReady() {
		return nil
	}
	rd := n.Ready()
	fmt.Fprintf(env.Output, "> %d handling Ready\n", n.ID)
	env.Output.WriteString(indent(raft.DescribeReady(rd, nil)))

	// 1. Persist.
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.Storage.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.Storage.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := n.Storage.Append(rd.Entries); err != nil {
		return err
	}
	// 2. Send.
	env.Messages = append(env.Messages, rd.Messages...)
	// 3. Apply the snapshot.
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.confState = *rd.Snapshot.Metadata.ConfState
		n.values = decodeValues(rd.Snapshot.Data)
	}
	// 4. Apply committed entries.
	for _, e := range rd.CommittedEntries {
		switch e.EntryType {
		case eraftpb.EntryType_EntryNormal:
			if len(e.Data) > 0 {
				n.values = append(n.values, appliedValue{index: e.Index, data: string(e.Data)})
			}
		case eraftpb.EntryType_EntryConfChange:
			var cc eraftpb.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				return err
			}
			n.confState = *n.ApplyConfChange(cc)
		}
	}
	// 6. Advance.
	n.Advance(rd)
	return nil
}

// handleDeliverMsgs delivers the messages in flight to the given nodes (all
// if none), or drops those to the nodes listed in drop=(...).
func (env *InteractionEnv) handleDeliverMsgs(t *testing.T, d *datadriven.TestData) {
	var drop []uint64
	for _, arg := range d.CmdArgs {
		if arg.Key == "drop" {
			for i := range arg.Vals {
				var id uint64
				arg.Scan(t, i, &id)
				drop = append(drop, id)
			}
		}
	}
	for _, id := range drop {
		var msgs []eraftpb.Message
		msgs, env.Messages = splitMsgs(env.Messages, id)
		for _, m := range msgs {
			fmt.Fprintf(env.Output, "dropped: %s\n", raft.DescribeMessage(m, nil))
		}
	}
	ids := positionalIDs(t, d)
	if len(ids) == 0 && len(drop) > 0 {
		return
	}
	if len(ids) == 0 {
		ids = env.idsOrAll(t, d)
	}
	for _, id := range ids {
		env.deliverTo(id)
	}
}

// deliverTo steps every message in flight to id, in send order. It reports
// whether there were any.
func (env *InteractionEnv) deliverTo(id uint64) bool {
	var msgs []eraftpb.Message
	msgs, env.Messages = splitMsgs(env.Messages, id)
	if len(msgs) == 0 {
		return false
	}
	n, err := env.node(id)
	if err != nil {
		fmt.Fprintf(env.Output, "error: %v\n", err)
		return true
	}
	fmt.Fprintf(env.Output, "> %d receiving messages\n", id)
	for _, m := range msgs {
		if env.isolated[m.From] || env.isolated[m.To] {
			fmt.Fprintf(env.Output, "  %s (dropped: isolated)\n", raft.DescribeMessage(m, nil))
			continue
		}
		fmt.Fprintf(env.Output, "  %s\n", raft.DescribeMessage(m, nil))
		if err := n.Step(m); err != nil {
			fmt.Fprintf(env.Output, "  error: %v\n", err)
		}
	}
	return true
}

func splitMsgs(msgs []eraftpb.Message, to uint64) (toID, rest []eraftpb.Message) {
	for _, m := range msgs {
		if m.To == to {
			toID = append(toID, m)
		} else {
			rest = append(rest, m)
		}
	}
	return toID, rest
}

// stabilize handles Readys and delivers messages among ids until nothing is
// left to do.
func (env *InteractionEnv) stabilize(ids []uint64) {
	for {
		done := true
		for _, id := range ids {
			n, err := env.node(id)
			if err != nil {
				fmt.Fprintf(env.Output, "error: %v\n", err)
				return
			}
			if n.HasReady() {
				done = false
				if err := env.processReady(n); err != nil {
					fmt.Fprintf(env.Output, "error: %v\n", err)
					return
				}
			}
		}
		for _, id := range ids {
			if env.deliverTo(id) {
				done = false
			}
		}
		if done {
			return
		}
	}
}

func (env *InteractionEnv) raftLog(n *Node) error {
	fi, _ := n.Storage.FirstIndex()
	li, _ := n.Storage.LastIndex()
	if li < fi {
		fmt.Fprintf(env.Output, "log is empty: first index=%d, last index=%d\n", fi, li)
		return nil
	}
	ents, err := n.Storage.Entries(fi, li+1, math.MaxUint64)
	if err != nil {
		return err
	}
	env.Output.WriteString(raft.DescribeEntries(ents, nil))
	return nil
}

func (env *InteractionEnv) raftState() {
	for _, n := range env.Nodes {
		st := n.Status()
		role := "Voter"
		if !slices.Contains(n.confState.Voters, n.ID) {
			role = "NonVoter"
		}
		iso := ""
		if env.isolated[n.ID] {
			iso = " (isolated)"
		}
		fmt.Fprintf(env.Output, "%d: %s (%s) Term:%d Lead:%d Commit:%d Applied:%d Values:[%s]%s\n",
			n.ID, st.SoftState.RaftState, role, st.HardState.Term, st.SoftState.Lead,
			st.HardState.Commit, st.Applied, strings.Join(n.valueStrings(), ","), iso)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
