/*
Package raft implements the Raft consensus algorithm (Ongaro and Ousterhout,
"In Search of an Understandable Consensus Algorithm", and Ongaro's thesis) as
a pure state machine in the shape of etcd's raft: it does no I/O, starts no
goroutines and keeps no global state. The application drives it with ticks
and messages and carries out its decisions.

# API summary

	cfg := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1,
		Storage: storage, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		PreVote: true, CheckQuorum: true,
		LazyCommit: true, StartInLease: true}  // both optional, see Config
	rn, err := raft.NewRawNode(cfg)          // errors wrap ErrInvalidConfig

	rn.Tick()                                 // logical clock
	rn.Step(msg)                              // a message from a peer
	rn.Campaign()                             // start an election now
	rn.Propose(data)                          // ErrProposalDropped if impossible
	rn.ProposeConfChange(cc)                  // add/remove/promote one member
	rn.ApplyConfChange(cc) *eraftpb.ConfState // when the entry is committed
	rn.TransferLeader(id)
	rn.ReadIndex(ctx)                         // answer: Ready.ReadStates
	rn.ReportUnreachable(id); rn.ReportSnapshot(id, raft.SnapshotFinish)
	rn.Status()                               // ID, HardState, SoftState, Applied, Progress
	rn.BasicStatus()                          // the same without Progress (no allocation)
	rn.AnnounceCommit(index)                  // with LazyCommit: broadcast this entry's commit
	rn.HasPendingSnapshot()                   // a snapshot is waiting to be persisted
	if rn.HasReady() { rd := rn.Ready(); ...; rn.Advance(rd) }

LazyCommit saves the empty MsgApp a leader would send to every follower
after each commit (idle regions send nothing); StartInLease makes a node
that restarts ignore vote requests for its first election timeout, as if it
had just heard from a leader. Both are described on Config.

Types: Config (Validate), Storage and MemoryStorage (Append, SetHardState,
ApplySnapshot, CreateSnapshot, Compact), Ready, SoftState, ReadState, Status,
StateType, ReadOnlyOption (ReadOnlySafe, ReadOnlyLeaseBased), Logger.
Progress tracking lives in the tracker sub-package. Errors are sentinels:
ErrProposalDropped, ErrStepLocalMsg, ErrStepPeerNotFound,
ErrInvalidConfChange, ErrInvalidConfig, and the storage errors ErrCompacted,
ErrUnavailable, ErrSnapOutOfDate, ErrSnapshotTemporarilyUnavailable.
DescribeMessage, DescribeReady and friends render protocol state on one line
for logs and tests.

# The caller's contract

A node starts from Storage: for a new cluster, seed it with a snapshot whose
ConfState lists the initial voters (MemoryStorage.ApplySnapshot). A node
joining an existing cluster starts with empty Storage and learns the
configuration from the leader's snapshot.

Membership changes are single-step (one ConfChange at a time). A new member
should join as a learner (AddLearnerNode): it receives the log like a voter
but is counted in no quorum (commit, election, check-quorum, ReadIndex), never
campaigns, and cannot be the target of a leadership transfer. Once it has
caught up (its Progress.Match in the leader's Status), AddNode of the
learner promotes it to voter, keeping its progress. A voter cannot be demoted
to learner; RemoveNode removes either. A learner answers vote requests like
any node (a learner promoted by a change it has not applied yet must be able
to help elect a leader), but only voters' answers are tallied.

Then, in a loop: call Tick at a regular interval, Step every received
message, and whenever HasReady is true, take rd := Ready() and handle it in
this order:

 1. Persist rd.HardState (if not empty), rd.Entries (appended, replacing any
    conflicting suffix) and rd.Snapshot (if not empty) to stable storage, so
    that Storage reflects them. If rd.MustSync is set, the write must be
    durable (fsync) before step 2; otherwise an unsynced write is enough.
 2. Send rd.Messages. Messages to followers may only leave after step 1,
    because they may promise a vote or acknowledge entries. Exception: a
    leader may send its MsgApp messages before or while persisting its own
    entries (Raft thesis §10.2.1): the leader counts its own log towards a
    quorum at once, but any commit index built on that count leaves in a
    later Ready, after this one's step 1 completed. It must still finish
    step 1 before applying anything and before calling Advance. If a
    snapshot message fails to send, call ReportSnapshot(id,
    SnapshotFailure); on delivery, ReportSnapshot(id, SnapshotFinish). If a
    peer is unreachable, call ReportUnreachable(id).
 3. If rd.Snapshot is not empty, apply it to the state machine.
 4. Apply rd.CommittedEntries in order. For each EntryConfChange entry,
    unmarshal the eraftpb.ConfChange and call ApplyConfChange; persist the
    returned ConfState with the next snapshot.
 5. Serve rd.ReadStates: a read with RequestCtx may be answered once the
    state machine has applied up to ReadState.Index.
 6. Call Advance(rd).

Do not call Ready again before Advance. The node is not safe for concurrent
use; the application serializes calls (Storage may be read concurrently).

# Leases and clocks

Two features count on every node's ticks keeping pace with real time:
CheckQuorum's leader lease (a voter that heard from the leader ignores vote
requests for ElectionTick of its ticks) and ReadOnlyLeaseBased (the leader
answers reads without a heartbeat round while a quorum answered one of its
heartbeats within the last ElectionTick-2 of its own ticks). Both are safe
only if no node's ticks run faster than another's: Tick at one fixed
interval on every node, and never deliver ticks in a burst that makes up for
ones the node was late with (drop late ticks instead: a slow clock only
delays elections and ends leases early). A leader stops serving lease reads
while a leadership transfer is pending, and for the rest of its term once
it sent MsgTimeoutNow, because the transferee's election ignores the voters'
lease. An application that keeps its own lease in wall-clock time (as
regionkv's raftstore does) must derive it from the same rule with its own
margins.

Log compaction (Raft paper §7) is the application's job: snapshot the state
machine at an applied index (MemoryStorage.CreateSnapshot) and discard the
log before it (MemoryStorage.Compact). raft sends that snapshot to followers
that need compacted entries.

# Design notes

Membership changes are single-step: one member added, promoted or removed
per change, at most one in flight; a second conf change proposed while one
is pending is rejected with ErrProposalDropped (not silently replaced). A
leader that removes itself hands leadership to the most caught-up voter and
steps down. Joint consensus is not supported.

raft panics only when an invariant is broken (a committed entry would be
truncated, applied would exceed committed, Storage returned an error other
than the documented sentinels); every condition the network or the
application can produce is reported by an error or handled.
*/
package raft
