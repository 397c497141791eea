// Package rafttest drives raft nodes from datadriven scripts. An
// InteractionEnv holds a set of RawNodes with in-memory storage, the
// messages in flight between them and a log buffer; each script command
// (add-nodes, campaign, stabilize, deliver-msgs, ...) acts on it and returns
// what happened, so a test file reads as a transcript of the protocol.
//
// Nodes use ElectionTick 3 and HeartbeatTick 1, and their election timeout
// is not randomized (it is exactly ElectionTick), so tick-election on a
// follower always starts an election.
package rafttest

import (
	"fmt"
	"math"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/raft"
)

// Node is one raft node of the environment plus the application state the
// harness keeps for it.
type Node struct {
	*raft.RawNode
	ID      uint64
	Storage *snapOverrideStorage
	Config  *raft.Config
	// confState is the configuration as of the last applied entry.
	confState eraftpb.ConfState
	// values is the state machine: applied normal entries, in order.
	values []appliedValue
}

type appliedValue struct {
	index uint64
	data  string
}

// encodeValues is the snapshot format of the state machine up to index:
// "index=data" pairs separated by commas.
func encodeValues(vals []appliedValue, upTo uint64) []byte {
	var parts []string
	for _, v := range vals {
		if v.index <= upTo {
			parts = append(parts, fmt.Sprintf("%d=%s", v.index, v.data))
		}
	}
	return []byte(strings.Join(parts, ","))
}

func decodeValues(data []byte) []appliedValue {
	if len(data) == 0 {
		return nil
	}
	var vals []appliedValue
	for _, p := range strings.Split(string(data), ",") {
		var v appliedValue
		i := strings.IndexByte(p, '=')
		fmt.Sscanf(p[:i], "%d", &v.index)
		v.data = p[i+1:]
		vals = append(vals, v)
	}
	return vals
}

func (n *Node) valueStrings() []string {
	out := make([]string, len(n.values))
	for i, v := range n.values {
		out[i] = v.data
	}
	return out
}

// InteractionEnv is the state of one datadriven test file.
type InteractionEnv struct {
	Nodes    []*Node
	Messages []eraftpb.Message // in flight, in send order
	Output   *strings.Builder
	logger   *levelLogger
	isolated map[uint64]bool
}

// NewInteractionEnv returns an empty environment.
func NewInteractionEnv() *InteractionEnv {
	out := &strings.Builder{}
	return &InteractionEnv{
		Output:   out,
		logger:   &levelLogger{out: out, level: levelInfo},
		isolated: map[uint64]bool{},
	}
}

func (env *InteractionEnv) node(id uint64) (*Node, error) {
	if id == 0 || id > uint64(len(env.Nodes)) {
		return nil, fmt.Errorf("no node %d", id)
	}
	return env.Nodes[id-1], nil
}

// snapOverrideStorage serves, as the snapshot, the node's state at its
// applied index, as an application that snapshots on demand would. A plain
// MemoryStorage would keep serving the last stored snapshot, whose
// configuration may not include a node added since.
type snapOverrideStorage struct {
	*raft.MemoryStorage
	n *Node
}

func (s *snapOverrideStorage) Snapshot() (eraftpb.Snapshot, error) {
	snap, err := s.MemoryStorage.Snapshot()
	if err != nil {
		return snap, err
	}
	applied := s.n.Status().Applied
	if applied <= snap.GetMetadata().GetIndex() {
		return snap, nil
	}
	term, err := s.MemoryStorage.Term(applied)
	if err != nil {
		return eraftpb.Snapshot{}, err
	}
	cs := eraftpb.ConfState{Voters: append([]uint64(nil), s.n.confState.Voters...),
		Learners: append([]uint64(nil), s.n.confState.Learners...)}
	return eraftpb.Snapshot{
		Data:     encodeValues(s.n.values, applied),
		Metadata: &eraftpb.SnapshotMetadata{Index: applied, Term: term, ConfState: &cs},
	}, nil
}

// zeroSource makes election timeouts exactly ElectionTick: with it,
// rand.Rand.IntN always returns 0. (It returns 1, not 0: IntN's rejection
// sampling would loop forever on an all-zero source.)
type zeroSource struct{}

func (zeroSource) Uint64() uint64 { return 1 }

func defaultConfig(id uint64, s raft.Storage) *raft.Config {
	return &raft.Config{
		ID:              id,
		ElectionTick:    3,
		HeartbeatTick:   1,
		Storage:         s,
		MaxSizePerMsg:   math.MaxUint64,
		MaxInflightMsgs: 256,
	}
}

type level int

const (
	levelDebug level = iota
	levelInfo
	levelWarn
	levelError
	levelNone
)

var levelNames = map[string]level{"debug": levelDebug, "info": levelInfo, "warn": levelWarn, "error": levelError, "none": levelNone}

// levelLogger writes raft's log lines into the test output.
type levelLogger struct {
	out   *strings.Builder
	level level
}

func (l *levelLogger) printf(lv level, prefix, format string, args ...any) {
	if lv < l.level {
		return
	}
	fmt.Fprintf(l.out, "%s %s\n", prefix, fmt.Sprintf(format, args...))
}

func (l *levelLogger) Debugf(f string, a ...any) { l.printf(levelDebug, "DEBUG", f, a...) }
func (l *levelLogger) Infof(f string, a ...any)  { l.printf(levelInfo, "INFO", f, a...) }
func (l *levelLogger) Warnf(f string, a ...any)  { l.printf(levelWarn, "WARN", f, a...) }
func (l *levelLogger) Errorf(f string, a ...any) { l.printf(levelError, "ERROR", f, a...) }
