package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// None is the placeholder node ID: no leader, no vote.
const None uint64 = 0

// noLimit disables a byte limit.
const noLimit = ^uint64(0)

// ReadOnlyOption selects how read-only queries (ReadIndex) are served.
type ReadOnlyOption int

const (
	// ReadOnlySafe confirms leadership for every read with a round of
	// heartbeats acknowledged by a quorum (Raft thesis §6.4).
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased serves reads from the leader's lease: a leader that
	// heard from a quorum within the election timeout assumes no other leader
	// exists (thesis §6.4.1). It relies on bounded clock drift and therefore
	// requires CheckQuorum, which keeps followers from voting while the lease
	// holds.
	ReadOnlyLeaseBased
)

func (o ReadOnlyOption) String() string {
	switch o {
	case ReadOnlySafe:
		return "ReadOnlySafe"
	case ReadOnlyLeaseBased:
		return "ReadOnlyLeaseBased"
	}
	return fmt.Sprintf("ReadOnlyOption(%d)", int(o))
}

// Config configures a raft node. Validate reports every problem up front so
// that a bad config fails at construction, not in the middle of an election.
type Config struct {
	// ID identifies this node. It must not be None (0).
	ID uint64

	// ElectionTick is the number of Ticks a follower waits without hearing
	// from a leader before campaigning. The actual timeout is randomized in
	// [ElectionTick, 2*ElectionTick) (Raft paper §5.2). It must exceed
	// HeartbeatTick; 10*HeartbeatTick is typical.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between leader heartbeats.
	HeartbeatTick int

	// Storage holds the stable log, HardState and snapshot. raft reads it;
	// the application writes it (see doc.go).
	Storage Storage

	// Applied is the last index the application applied before a restart.
	// Committed entries up to Applied are not returned again.
	Applied uint64

	// MaxSizePerMsg bounds the bytes of entries in one MsgApp (and of the
	// CommittedEntries of one Ready). At least one entry is always sent.
	// Zero means one entry per message.
	MaxSizePerMsg uint64

	// MaxInflightMsgs bounds the MsgApp messages in flight to a follower in
	// StateReplicate.
	MaxInflightMsgs int

	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers that heard
	// from a leader within the election timeout ignore vote requests.
	CheckQuorum bool

	// PreVote runs a pre-election round (thesis §9.6) so that a node that
	// was partitioned does not bump the term and disrupt a healthy leader
	// when it rejoins.
	PreVote bool

	// ReadOnlyOption selects how ReadIndex is served. ReadOnlyLeaseBased
	// requires CheckQuorum.
	ReadOnlyOption ReadOnlyOption

	// DisableProposalForwarding makes followers drop proposals instead of
	// forwarding them to the leader.
	DisableProposalForwarding bool

	// LazyCommit stops a leader from sending an empty MsgApp to every
	// follower each time its commit index moves. Followers then learn the
	// commit index from the next MsgApp or heartbeat, which a busy group
	// sends soon anyway: it halves the messages (and follower Readys) of a
	// lone proposal, at the cost of followers applying up to a heartbeat
	// later. The leader's own commit, apply and reads are unaffected.
	// Conf changes, and entries named with RawNode.AnnounceCommit, are
	// still announced at once.
	LazyCommit bool

	// StartInLease, with CheckQuorum, makes the node ignore vote requests
	// for its first election timeout, as if it had just heard from a
	// leader. Set it for a node restarted from disk: it may have
	// acknowledged a leader's heartbeat just before going down, and that
	// leader may still be serving lease reads that count on this node not
	// electing anyone else until an election timeout has passed. A brand
	// new node (a fresh cluster, a region created by a split) acknowledged
	// nobody and need not wait.
	StartInLease bool

	// Logger receives diagnostic output. Nil discards it.
	Logger Logger

	// Rand randomizes election timeouts. Nil means a generator seeded from
	// ID, which keeps runs reproducible; supply a seeded generator to
	// control it. raft does not share it: the caller must not use it
	// concurrently.
	Rand *rand.Rand
}

// Config errors. Validate wraps them with details; check with errors.Is.
var (
	ErrInvalidConfig = errors.New("raft: invalid config")
)

// Validate checks c and fills in defaults for the optional fields (Logger,
// Rand). It returns every problem found, joined, each wrapping
// ErrInvalidConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.ID == None {
		bad("ID must not be 0 (reserved for None)")
	}
	if c.HeartbeatTick <= 0 {
		bad("HeartbeatTick must be > 0, got %d", c.HeartbeatTick)
	}
	if c.ElectionTick <= c.HeartbeatTick {
		bad("ElectionTick (%d) must be greater than HeartbeatTick (%d)", c.ElectionTick, c.HeartbeatTick)
	}
	if c.Storage == nil {
		bad("Storage must not be nil")
	}
	if c.MaxInflightMsgs <= 0 {
		bad("MaxInflightMsgs must be > 0, got %d", c.MaxInflightMsgs)
	}
	switch c.ReadOnlyOption {
	case ReadOnlySafe:
	case ReadOnlyLeaseBased:
		if !c.CheckQuorum {
			bad("ReadOnlyLeaseBased requires CheckQuorum")
		}
	default:
		bad("unknown ReadOnlyOption %d", int(c.ReadOnlyOption))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Logger == nil {
		c.Logger = DiscardLogger{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(c.ID, 0x9e3779b97f4a7c15))
	}
	return nil
}
